"""Checkpoints that reference their frozen decoder instead of carrying it.

ChatNT trains the DNA encoder and the projection; the decoder (a 7B LLM in the paper, SmolLM2 here) stays
as published. Such a checkpoint stores only the trained parts, the embedding rows of tokens added to the
decoder vocabulary (``<DNA>``), and a reference to the decoder: where to load it from and a sha256 of its
weights. Loading fetches the decoder, refuses one whose weights differ, and reassembles the model.

Hashing every decoder tensor costs about a second per load for a 135M decoder (more for larger ones), so
the verdict is kept: once a local decoder folder's weights matched a reference, :func:`is_verified_decoder`
answers from the identity of its weight files (device, inode, size, modification and change times) until a
file changes. A rewrite always changes a file's change time (ctime), which no user can set back, so a
decoder whose weights differ is hashed again and refused. The identity is taken before the decoder is read
and must still hold after it was loaded (and hashed): a file written to meanwhile gets no verdict.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers.utils import cached_file

TRAINED_PARTS_FILE = "model.safetensors"
NEW_TOKEN_ROWS_FILE = "new_token_embeddings.safetensors"
DECODER_PREFIXES = ("model.language_model.", "lm_head.")


def text_model_checksum(base_model: torch.nn.Module, lm_head: torch.nn.Module, vocab_size: int) -> str:
    """sha256 of a decoder's weights: every tensor of the base model and the LM head, by name.

    Embedding matrices count only their first ``vocab_size`` rows, so the checksum of a decoder is the
    same before and after rows for new tokens are appended. Values are hashed as stored (dtype included):
    load the decoder in the dtype it was referenced with.
    """
    digest = hashlib.sha256()
    tensors = {f"model.{name}": tensor for name, tensor in base_model.state_dict().items()}
    tensors["lm_head.weight"] = lm_head.weight
    vocabulary_matrices = {base_model.get_input_embeddings().weight.data_ptr(), lm_head.weight.data_ptr()}
    for name in sorted(tensors):
        tensor = tensors[name].detach()
        if tensor.data_ptr() in vocabulary_matrices:
            tensor = tensor[:vocab_size]
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """The root of chatnt's cache (the offline decoder builds, the verified decoders).

    ``$CHATNT_CACHE`` if set, else ``$XDG_CACHE_HOME/chatnt``, else ``~/.cache/chatnt``.

    Example::

        >>> os.environ["CHATNT_CACHE"] = "/data/chatnt-cache"
        >>> default_cache_dir()
        PosixPath('/data/chatnt-cache')
    """
    if os.environ.get("CHATNT_CACHE"):
        return Path(os.environ["CHATNT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "chatnt"


VERIFIED_DECODERS_FILE = "verified_decoders.json"


def weight_files_identity(decoder: str | os.PathLike) -> list | None:
    """Name, device, inode, size, mtime and ctime (ns) of each safetensors file of a local decoder folder;
    ``None`` for anything else (a Hub id), which is hashed on every load."""
    folder = Path(decoder)
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files:
        return None
    identity = []
    for path in files:
        stat = path.stat()
        identity.append([path.name, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns])
    return identity


def _verdict_key(decoder, dtype: torch.dtype, sha256: str, vocab_size: int) -> str:
    # The dtype is part of the verdict: the checksum covers values as loaded, and a decoder loaded in
    # another dtype than the referenced one must be refused as before.
    return json.dumps([os.path.realpath(decoder), str(dtype), sha256, vocab_size])


def _read_verdicts() -> dict:
    try:
        return json.loads((default_cache_dir() / VERIFIED_DECODERS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def is_verified_decoder(decoder, identity: list | None, dtype: torch.dtype, sha256: str, vocab_size: int) -> bool:
    """Whether the local decoder folder ``decoder``, loaded in ``dtype``, already matched the reference
    ``sha256`` and its weight files have not changed since. ``identity``: :func:`weight_files_identity` of
    ``decoder`` taken before it was loaded (see the module docstring)."""
    return (
        identity is not None
        and identity == weight_files_identity(decoder)
        and _read_verdicts().get(_verdict_key(decoder, dtype, sha256, vocab_size)) == identity
    )


def remember_verified_decoder(decoder, identity: list | None, dtype: torch.dtype, sha256: str, vocab_size: int) -> None:
    """Records that ``decoder`` (a local folder) loaded in ``dtype`` matched ``sha256``, for the weight files
    ``identity`` (taken before it was loaded); nothing when a file changed since, or for a Hub id.

    A cache: when it cannot be written (a read-only home), the next load hashes again, nothing else.
    """
    if identity is None or identity != weight_files_identity(decoder):
        return
    # Verdicts of folders that are gone (temporary copies, deleted builds) are dropped as the record is written.
    verdicts = {key: value for key, value in _read_verdicts().items() if os.path.isdir(json.loads(key)[0])}
    verdicts[_verdict_key(decoder, dtype, sha256, vocab_size)] = identity
    target = default_cache_dir() / VERIFIED_DECODERS_FILE
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: a reader never sees half a file, and concurrent writers lose no more
        # than each other's latest verdict.
        handle, temporary = tempfile.mkstemp(prefix=f".{VERIFIED_DECODERS_FILE}.", dir=target.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(verdicts, file, indent=1)
        os.replace(temporary, target)
    except OSError:
        pass


def trained_parts_state_dict(model) -> dict[str, torch.Tensor]:
    """The model's weights without the decoder (encoder, projection, anything else trained)."""
    return {name: tensor for name, tensor in model.state_dict().items() if not name.startswith(DECODER_PREFIXES)}


def save_new_token_rows(model, directory: str | os.PathLike, vocab_size: int) -> None:
    """Embedding rows of tokens appended to the decoder vocabulary (input, and output if untied)."""
    rows = {"input_embeddings": model.get_input_embeddings().weight[vocab_size:].detach().contiguous()}
    output = model.get_output_embeddings().weight
    if output.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        rows["output_embeddings"] = output[vocab_size:].detach().contiguous()
    save_file(rows, os.path.join(directory, NEW_TOKEN_ROWS_FILE))


def load_new_token_rows(model, source: str | os.PathLike, vocab_size: int, **hub_kwargs) -> None:
    rows = load_file(cached_file(source, NEW_TOKEN_ROWS_FILE, **hub_kwargs))
    with torch.no_grad():
        model.get_input_embeddings().weight[vocab_size:] = rows["input_embeddings"]
        if "output_embeddings" in rows:
            model.get_output_embeddings().weight[vocab_size:] = rows["output_embeddings"]


def load_trained_parts(source: str | os.PathLike, **hub_kwargs) -> dict[str, torch.Tensor]:
    return load_file(cached_file(source, TRAINED_PARTS_FILE, **hub_kwargs))


__all__ = [
    "NEW_TOKEN_ROWS_FILE",
    "VERIFIED_DECODERS_FILE",
    "default_cache_dir",
    "is_verified_decoder",
    "load_new_token_rows",
    "load_trained_parts",
    "remember_verified_decoder",
    "save_new_token_rows",
    "text_model_checksum",
    "trained_parts_state_dict",
    "weight_files_identity",
]
