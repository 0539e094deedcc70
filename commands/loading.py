"""Finding and loading the ChatNT model behind every command, with errors that say what to pass instead."""

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = REPO_ROOT / "checkpoints" / "chatnt-mini"


def default_model() -> str:
    """The shipped ChatNT checkpoint, or, until one is trained, an untrained starter built offline.

    The starter is the real SmolLM2-135M-Instruct decoder with a freshly initialised NT v2 encoder and
    English-aware Perceiver: it answers in English, but its answers are not informed by the DNA.

    Returns:
        The checkpoint directory as a string.
    """
    if SHIPPED_MODEL.is_dir():
        return str(SHIPPED_MODEL)
    from ..configuration_nucleotide_transformer import NucleotideTransformerConfig
    from ..modeling_chatnt import ChatNTForConditionalGeneration
    from ..modeling_nucleotide_transformer import NucleotideTransformerModel
    from ..offline_models import default_cache_dir, smollm2_instruct

    starter = default_cache_dir() / "chatnt-untrained-starter"
    if not (starter / "config.json").is_file():
        print(f"No trained ChatNT checkpoint in {SHIPPED_MODEL}; building an UNTRAINED starter in {starter} "
              "(SmolLM2 decoder + random NT encoder).", file=sys.stderr)
        encoder_dir = starter / "encoder"
        NucleotideTransformerModel(
            NucleotideTransformerConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, intermediate_size=1024)
        ).save_pretrained(encoder_dir)
        model, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(encoder_dir, smollm2_instruct())
        model.save_pretrained(starter, include_text_model=False)
        processor.save_pretrained(starter)
    return str(starter)


@dataclass(frozen=True)
class LoadedChatNT:
    """A ChatNT model in eval mode, its processor, and where both came from."""

    model: object
    processor: object
    path: str


def check_model_path(model: str) -> None:
    """Raises a one-line error when ``model`` can be neither a local checkpoint nor a Hub id.

    Raises:
        FileNotFoundError: the path does not exist and is not shaped like a Hub id.
        ValueError: the path exists but is not a checkpoint folder (a file, or no ``config.json``).
    """
    from ..model_folders import is_hub_id  # here, not at the top: `chatnt --help` must not wait for transformers

    path = Path(model)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"--model {model!r} is a file; pass the checkpoint folder that holds config.json.")
        if not (path / "config.json").is_file():
            raise ValueError(
                f"--model {model!r} is not a ChatNT checkpoint: it has no config.json. Pass the folder written by "
                "save_pretrained (e.g. checkpoints/chatnt-mini), or leave --model out for the shipped model."
            )
        return
    # "models/mine" is shaped like a Hub id too; when "models" is a local folder it is a local path that is missing,
    # not a Hub id to spend half a minute of retries on.
    if not is_hub_id(model) or path.parent.is_dir():
        raise FileNotFoundError(
            f"model directory not found: {model!r}. Pass --model DIR (a ChatNT checkpoint folder) or leave it out "
            "for the shipped checkpoints/chatnt-mini."
        )


def load_chatnt(model: str | None = None, trust_remote_code: bool = False) -> LoadedChatNT:
    """The model and processor of a ChatNT checkpoint, loaded once per process (later calls reuse them).

    Args:
        model: a checkpoint folder or Hub id; default: :func:`default_model`.
        trust_remote_code: run code saved with the model (a remote-code DNA encoder or tokenizer).

    Returns:
        A :class:`LoadedChatNT` with the model in eval mode.

    Raises:
        FileNotFoundError, ValueError: the checkpoint is missing or cannot be loaded (one-line message).
    """
    model = str(model or default_model())
    check_model_path(model)
    return _load(model, trust_remote_code)


@lru_cache(maxsize=2)
def _load(model: str, trust_remote_code: bool) -> LoadedChatNT:
    from safetensors import SafetensorError

    from ..modeling_chatnt import ChatNTForConditionalGeneration
    from ..processing_chatnt import ChatNTProcessor, first_line

    try:
        chatnt = ChatNTForConditionalGeneration.from_pretrained(model, trust_remote_code=trust_remote_code)
        processor = ChatNTProcessor.from_pretrained(model, trust_remote_code=trust_remote_code)
    except SafetensorError as error:
        damaged = ", ".join(_damaged_weight_files(Path(model))) or "a weights file"
        raise ValueError(
            f"cannot load the ChatNT model from {model!r}: {damaged} is damaged ({first_line(error)}). Copy or "
            "download the checkpoint again."
        ) from None
    except (OSError, ValueError, KeyError) as error:
        # Loaders raise long multi-line messages; the first line names the missing piece.
        raise ValueError(f"cannot load the ChatNT model from {model!r}: {first_line(error)}") from None
    return LoadedChatNT(chatnt.eval(), processor, model)


def _damaged_weight_files(folder: Path) -> list[str]:
    """The ``*.safetensors`` files of a local folder whose header cannot be read (truncated, overwritten)."""
    from safetensors import SafetensorError, safe_open

    damaged = []
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as weights:
                weights.keys()
        except SafetensorError:
            damaged.append(path.name)
    return damaged


__all__ = ["LoadedChatNT", "SHIPPED_MODEL", "check_model_path", "default_model", "load_chatnt"]
