"""Tiny models and tokenizers (hidden 32, 2 layers) so that every ChatNT test runs in seconds on a CPU."""

import importlib.metadata
import os
import random
import shutil
from pathlib import Path

from chatnt import ChatNTConfig, NucleotideTransformerConfig
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, PreTrainedTokenizerFast

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

_ENGLISH = [
    "Is this sequence a promoter?",
    "Does the sequence contain a splice donor site or an acceptor site?",
    "Which of the two sequences binds the transcription factor?",
    "Yes, it is a promoter.",
    "No, this is not a promoter.",
    "The first sequence binds, the second does not.",
    "What type of ribosomal RNA is this?",
    "It is a 16S ribosomal RNA from a bacterium.",
]


def build_text_tokenizer() -> PreTrainedTokenizerFast:
    """A small byte-level BPE with <s>, </s>, <pad> and <DNA>, and no chat template (Vicuna fallback)."""
    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "<s>", "</s>", "<DNA>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(_ENGLISH * 5, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["<DNA>"],
    )


def tiny_dna_config(**overrides) -> NucleotideTransformerConfig:
    settings = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    return NucleotideTransformerConfig(**(settings | overrides))


def tiny_chatnt_config(
    text_tokenizer, projector_type="english_aware_perceiver", decoder_init_range=0.02, **overrides
) -> ChatNTConfig:
    text_config = LlamaConfig(
        initializer_range=decoder_init_range,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        vocab_size=len(text_tokenizer),
        bos_token_id=text_tokenizer.bos_token_id,
        eos_token_id=text_tokenizer.eos_token_id,
        pad_token_id=text_tokenizer.pad_token_id,
    )
    settings = dict(
        dna_config=tiny_dna_config(),
        text_config=text_config,
        projector_type=projector_type,
        num_latents=4,
        projector_num_heads=4,
        projector_intermediate_size=64,
        dna_token_id=text_tokenizer.convert_tokens_to_ids("<DNA>"),
    )
    return ChatNTConfig(**(settings | overrides))


def random_dna(length: int, seed: int = 0, alphabet: str = "ACGT") -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(length))


def publish_to_hub_cache(folder, repo_id: str, revision: str = "0123456789abcdef0123456789abcdef01234567") -> str:
    """Places a saved model folder on the Hub cache (``$HF_HUB_CACHE``, the test run's own) as ``repo_id`` at
    ``revision`` (also its ``main``), so that ``from_pretrained(repo_id)`` loads it offline; returns ``repo_id``."""
    owner, name = repo_id.split("/")
    repository = Path(os.environ["HF_HUB_CACHE"]) / f"models--{owner}--{name}"
    shutil.copytree(folder, repository / "snapshots" / revision)
    (repository / "refs").mkdir(parents=True, exist_ok=True)
    (repository / "refs" / "main").write_text(revision)
    return repo_id


def fresh_process_env(home) -> dict[str, str]:
    """The environment of a fresh, offline Python process with its own home: only PATH comes along, plus the test
    run's chatnt cache (the SmolLM2 build, made once per run) and transformers' USE_HUB_KERNELS switch (set where
    the kernels package that transformers 5.25 asks for cannot be installed)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "HF_MODULES_CACHE": str(Path(home) / "modules"),
        "OMP_NUM_THREADS": "1",
        **{key: os.environ[key] for key in ("CHATNT_CACHE", "USE_HUB_KERNELS") if key in os.environ},
    }


def hide_distribution(monkeypatch, name: str) -> None:
    """Make the installed distribution ``name`` look uninstalled to importlib.metadata."""
    real = importlib.metadata.distribution

    def distribution(wanted):
        if wanted == name:
            raise importlib.metadata.PackageNotFoundError(wanted)
        return real(wanted)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)


REMOTE_ENCODER_CODE = Path(__file__).resolve().parent / "remote_encoder"

# The start of a script run in a fresh interpreter where `import chatnt` fails: everything it loads must come from a
# saved folder through trust_remote_code.
WITHOUT_CHATNT = """import importlib.abc, sys
class BlockChatNT(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "chatnt" or name.startswith("chatnt."):
            raise ImportError("chatnt is not importable in this test")
sys.meta_path.insert(0, BlockChatNT())
"""


def save_remote_code_encoder(folder, seed: int = 0, alphabet: str = "ACGTN", **config) -> str:
    """A saved remote-code DNA encoder (the tiny long convolution of ``tests/remote_encoder``) with its character
    tokenizer, as a Hub repository of such a model holds them: code, config with ``auto_map``, safetensors
    weights, tokenizer files. Returns the folder."""
    import json

    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for code in REMOTE_ENCODER_CODE.glob("*.py"):
        shutil.copyfile(code, folder / code.name)
    settings = {
        "model_type": "tiny_conv_dna",
        "auto_map": {"AutoConfig": "configuration_tiny_conv.TinyConvConfig", "AutoModel": "modeling_tiny_conv.TinyConvModel"},
    } | config
    (folder / "config.json").write_text(json.dumps(settings))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "TinyCharTokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_tiny_char.TinyCharTokenizer", None]},
        "model_max_length": settings.get("max_seq_len", 66),
        "alphabet": alphabet,
    }))
    torch.manual_seed(seed)
    AutoModel.from_config(AutoConfig.from_pretrained(folder, trust_remote_code=True), trust_remote_code=True).save_pretrained(folder)
    AutoTokenizer.from_pretrained(folder, trust_remote_code=True).save_pretrained(folder)
    return str(folder)


class LocalHub:
    """A stand-in for the Hub's upload API: each commit's files land in ``root/<repo_id>``."""

    def __init__(self, root: Path):
        self.root = root

    def create_repo(self, repo_id, **kwargs):
        (self.root / repo_id).mkdir(parents=True, exist_ok=True)
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def create_commit(self, repo_id, operations, **kwargs):
        for operation in operations:
            target = self.root / repo_id / operation.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(operation.path_or_fileobj, target)
