"""Converts the released ChatNT weights (JAX/haiku parameters) into a ChatNT checkpoint of this package.

The published ChatNT (InstaDeepAI/ChatNT on the Hub: NT v2 500M encoder, English-aware Perceiver, a
Vicuna-7B-shaped LLaMA decoder) ships its weights as ``jax_params/params.joblib``, a pickle of haiku
parameters. This module maps them, tensor by tensor, onto :class:`ChatNTForConditionalGeneration` with the
published behaviours switched on in the config (``keep_dna_token``, ``dna_token_clamped``,
``text_final_norm_eps``) and writes a standard checkpoint: sharded safetensors, config, generation config,
processor (6-mer tokenizer, the released English tokenizer when given, the published prompt format) and a
model card. The result loads with ``from_pretrained`` / ``pipeline(..., trust_remote_code=True)``.

Command line::

    python -m chatnt.convert_published_chatnt --params params.npz --english-tokenizer english_tokenizer/ --out chatnt-8b

Inputs: an ``.npz`` or ``.safetensors`` file of arrays named ``<haiku module>::<parameter>`` (optionally
prefixed ``param::``), or the released ``params.joblib`` with ``--unpickle-joblib``, which says that the file
will be unpickled (unpickling runs any code a file holds: only for a file you trust).

The conversion is strict: every source parameter is mapped or explicitly ignored (the encoder's masked-LM
head), every target weight is produced, every shape is checked, and anything else stops it naming the
parameter. Weights are read one at a time and written in shards, so an npz or safetensors source never sits
in memory whole: the peak is about two shards (``--max-shard-size``; one being serialised) plus the largest
tensor twice (read and converted); ``benchmarks/convert_published.py`` measures 0.39 GB for a 0.64 GB source with
100 MB shards. A joblib source is unpickled whole first (pickle has no lazy reading), so it costs its own size on
top.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import safetensors
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import AutoTokenizer, LlamaConfig
from transformers.dynamic_module_utils import custom_object_save

from .configuration_chatnt import ChatNTConfig
from .configuration_nucleotide_transformer import NucleotideTransformerConfig
from .decoder_sources import file_sha256
from .modeling_chatnt import ChatNTForConditionalGeneration, copy_pipeline_code
from .processing_chatnt import DNA_TOKEN, VICUNA_CHAT_TEMPLATE, ChatNTProcessor
from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizer

# The released parameters name the encoder and decoder `bio_brain_*`; the published loader renames them.
PREFIX_ALIASES = {"bio_brain_encoder/": "chat_nt_encoder/", "bio_brain_decoder/": "chat_nt_decoder/"}
ENCODER = "chat_nt_encoder/dcnuc_v2_500M_multi_species"
DECODER = "chat_nt_decoder/llama_decoder"
PROJECTION = "multi_modal_perceiver_resampler_projection"
RESAMPLER = f"{PROJECTION}/multi_modal_perceiver_resampler"
# The encoder's masked-LM head: the projection reads the states before it (after emb_layer_norm_after).
IGNORED = re.compile(rf"^{re.escape(ENCODER)}/~/roberta_lm_head/~/(lm_final_fc|lm_head_fc_1|lm_head_layer_norm)::")

SOURCE_LICENSE = "cc-by-nc-sa-4.0"
SOURCE_REPO = "InstaDeepAI/ChatNT"


@dataclass
class PublishedChatNTSizes:
    """What the parameter shapes do not tell: head counts, epsilons, context lengths, special ids.

    The defaults are the released ChatNT's (published ``get_chatNT`` configuration: decoder 32 heads, rotary
    theta 1e4 over 2048 positions, RMSNorm eps 1e-6 in the layers; encoder 16 heads; Perceiver 32 heads;
    LLaMA tokenizer ids bos 1, eos 2, padding 2), and the published pipeline's 512 DNA tokens.
    """

    decoder_heads: int = 32
    decoder_kv_heads: int | None = None
    encoder_heads: int = 16
    perceiver_heads: int = 32
    rope_theta: float = 10000.0
    decoder_max_positions: int = 2048
    decoder_rms_norm_eps: float = 1e-6
    decoder_final_norm_eps: float = 1e-5  # haiku's RMSNorm default: the published decoder's final norm
    layer_norm_eps: float = 1e-5  # haiku's LayerNorm default, encoder and Perceiver alike
    encoder_max_positions: int = 2048
    max_dna_tokens: int = 512
    bos_token_id: int = 1
    eos_token_id: int = 2
    pad_token_id: int = 2


class ConversionError(ValueError):
    """The source parameters do not fit the published ChatNT layout (names the parameter)."""


class PublishedParameters:
    """Haiku parameters by canonical name (``<module>::<parameter>``, ``bio_brain_*`` renamed), read lazily.

    Tracks which were taken, so that :meth:`unused` lists what the conversion did not map.
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]], read: Callable[[str], torch.Tensor], skipped: list[str]):
        self.shapes = shapes
        self.read = read
        self.skipped = skipped  # arrays in the file that are not parameters (no `::` in the name)
        self.taken: set[str] = set()

    def shape(self, name: str) -> tuple[int, ...]:
        if name not in self.shapes:
            raise ConversionError(f"the source has no parameter {name!r}, which the published ChatNT has")
        return self.shapes[name]

    def take(self, name: str) -> torch.Tensor:
        self.shape(name)
        self.taken.add(name)
        return self.read(name)

    def unused(self) -> list[str]:
        return sorted(name for name in self.shapes if name not in self.taken and not IGNORED.match(name))

    def count(self, pattern: str) -> int:
        """How many numbered modules match ``pattern`` (with ``{}`` for the number), e.g. decoder layers."""
        regex = re.compile("^" + re.escape(pattern).replace(r"\{\}", r"(\d+)") + "/")
        return len({match.group(1) for name in self.shapes if (match := regex.match(name))})


def canonical_name(key: str) -> str | None:
    """``<module>::<parameter>`` for a parameter key, ``None`` for another array (e.g. a test case's inputs)."""
    if key.startswith("param::"):
        key = key[len("param::") :]
    if "::" not in key:
        return None
    for old, new in PREFIX_ALIASES.items():
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def read_published_parameters(path: str | os.PathLike, unpickle_joblib: bool = False) -> PublishedParameters:
    """Opens a source of haiku parameters: ``.npz``, ``.safetensors``, or ``.joblib`` (with ``unpickle_joblib``).

    Raises:
        ConversionError: a joblib file without ``unpickle_joblib`` (refused before the file is opened), another
            suffix, a file that cannot be read as its suffix says, or a file holding no parameter.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pass the downloaded parameters file with --params.")
    suffix = path.suffix.lower()
    if suffix == ".joblib":
        if not unpickle_joblib:
            raise ConversionError(
                f"{path} is a joblib file, i.e. a pickle: loading it runs any code it holds. Convert it only if you "
                "trust its source: pass --unpickle-joblib (unpickle_joblib=True), or give an .npz/.safetensors export."
            )
        source = _joblib_source(path)
    elif suffix in (".npz", ".safetensors"):
        try:
            source = _npz_source(path) if suffix == ".npz" else _safetensors_source(path)
        except (OSError, ValueError, zipfile.BadZipFile, safetensors.SafetensorError) as error:
            raise ConversionError(f"{path} cannot be read as {suffix[1:]} ({error}): is the download complete?") from None
    else:
        raise ConversionError(f"{path}: expected an .npz, .safetensors or (with --unpickle-joblib) .joblib file.")
    if not source.shapes:
        raise ConversionError(f"{path} holds no haiku parameter (names like '<module>::<parameter>').")
    return source


def _index(keys) -> tuple[dict[str, str], list[str]]:
    names, skipped = {}, []
    for key in keys:
        name = canonical_name(key)
        if name is None:
            skipped.append(key)
        elif name in names:
            raise ConversionError(f"the source holds {name!r} twice (as {names[name]!r} and {key!r})")
        else:
            names[name] = key
    return names, skipped


def _npz_source(path: Path) -> PublishedParameters:
    archive = np.load(path, allow_pickle=False)  # lazy: each array is read when asked for
    names, skipped = _index(archive.files)
    shapes = {}
    with zipfile.ZipFile(path) as members:  # shapes from the .npy headers, without reading the data
        for name, key in names.items():
            with members.open(key + ".npy") as member:
                major, _ = np.lib.format.read_magic(member)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shapes[name] = tuple(read_header(member)[0])
    return PublishedParameters(shapes, lambda name: torch.from_numpy(archive[names[name]]), skipped)


def _safetensors_source(path: Path) -> PublishedParameters:
    handle = safe_open(str(path), framework="pt")
    names, skipped = _index(handle.keys())
    shapes = {name: tuple(handle.get_slice(key).get_shape()) for name, key in names.items()}
    return PublishedParameters(shapes, lambda name: handle.get_tensor(names[name]), skipped)


def _joblib_source(path: Path) -> PublishedParameters:
    try:
        import joblib
    except ImportError:
        raise ConversionError("reading params.joblib needs joblib: pip install joblib") from None
    tree = joblib.load(path)  # the unpickling the caller opted into
    flat = {f"{module}::{name}": value for module, params in tree.items() for name, value in params.items()}
    names, skipped = _index(flat)
    shapes = {name: tuple(np.shape(flat[key])) for name, key in names.items()}
    return PublishedParameters(shapes, lambda name: torch.from_numpy(np.asarray(flat[names[name]])), skipped)


def published_config(params: PublishedParameters, sizes: PublishedChatNTSizes):
    """The :class:`ChatNTConfig` of the published model whose parameters these are."""
    shape = params.shape
    vocab, hidden = shape(f"{DECODER}/~/token_embed::embeddings")
    if hidden % sizes.decoder_heads:
        raise ConversionError(f"decoder width {hidden} is not divisible by --decoder-heads {sizes.decoder_heads}")
    head_dim = hidden // sizes.decoder_heads
    kv_heads = shape(f"{DECODER}/gpt_decoder_layer_0/~/self_attn/~/key_linear::w")[1] // head_dim
    text_config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=shape(f"{DECODER}/gpt_decoder_layer_0/~/fc2_linear::w")[0],
        num_hidden_layers=params.count(f"{DECODER}/gpt_decoder_layer_{{}}"),
        num_attention_heads=sizes.decoder_heads,
        num_key_value_heads=sizes.decoder_kv_heads or kv_heads,
        max_position_embeddings=sizes.decoder_max_positions,
        rms_norm_eps=sizes.decoder_rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": sizes.rope_theta},
        bos_token_id=sizes.bos_token_id,
        eos_token_id=sizes.eos_token_id,
        pad_token_id=sizes.pad_token_id,
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
    )
    dna_vocab, dna_hidden = shape(f"{ENCODER}/~/embed::embeddings")
    dna_config = NucleotideTransformerConfig(
        vocab_size=dna_vocab,
        hidden_size=dna_hidden,
        num_hidden_layers=params.count(f"{ENCODER}/attention_layer_{{}}"),
        num_attention_heads=sizes.encoder_heads,
        intermediate_size=shape(f"{ENCODER}/attention_layer_0/~/fc2::w")[0],
        layer_norm_eps=sizes.layer_norm_eps,
        max_position_embeddings=sizes.encoder_max_positions,
        add_bias_fnn=False,
    )
    num_latents, width = shape(f"{RESAMPLER}::latent_queries")
    if width != hidden:
        raise ConversionError(f"the Perceiver's latents are {width} wide but the decoder is {hidden} wide")
    return ChatNTConfig(
        dna_config=dna_config,
        text_config=text_config,
        projector_type="english_aware_perceiver",
        num_latents=num_latents,
        projector_num_layers=params.count(f"{RESAMPLER}/multi_modal_perceiver_layer_{{}}"),
        projector_num_heads=sizes.perceiver_heads,
        projector_intermediate_size=shape(f"{RESAMPLER}/multi_modal_perceiver_layer_0/~/fc1::w")[1],
        projector_layer_norm_eps=sizes.layer_norm_eps,
        english_vocab_size=shape(f"{PROJECTION}/token_embed::embeddings")[0],
        dna_token_clamped=True,
        keep_dna_token=True,
        text_final_norm_eps=sizes.decoder_final_norm_eps,
        max_dna_tokens=sizes.max_dna_tokens,
    )


def _linear(weight: torch.Tensor) -> torch.Tensor:
    return weight.T  # haiku Linear stores (in, out); torch (out, in)


def _rotate_pairs_to_halves(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """Query/key rows of each head reordered from interleaved pairs (GPT-J rotary, published) to halves
    (transformers' LLaMA rotary): rows 0,2,4,.. then 1,3,5,.. within each head."""
    out_features, in_features = weight.shape
    head_dim = out_features // heads
    return weight.reshape(heads, head_dim // 2, 2, in_features).transpose(1, 2).reshape(out_features, in_features)


Plan = dict[str, Callable[[PublishedParameters], torch.Tensor]]


def weight_plan(config) -> Plan:
    """For each weight of :class:`ChatNTForConditionalGeneration`, how to make it from the source parameters."""
    plan: Plan = {}
    _plan_encoder(plan, config.dna_config.num_hidden_layers)
    _plan_projector(plan, config.projector_num_layers)
    _plan_decoder(plan, config.text_config)
    return plan


def _plan_linear(plan: Plan, target: str, source: str, bias: bool = True) -> None:
    plan[f"{target}.weight"] = lambda p: _linear(p.take(f"{source}::w"))
    if bias:
        plan[f"{target}.bias"] = lambda p: p.take(f"{source}::b")


def _plan_layer_norm(plan: Plan, target: str, source: str) -> None:
    plan[f"{target}.weight"] = lambda p: p.take(f"{source}::scale")
    plan[f"{target}.bias"] = lambda p: p.take(f"{source}::offset")


def _plan_encoder(plan: Plan, layers: int) -> None:
    encoder = "model.dna_encoder"
    plan[f"{encoder}.embeddings.word_embeddings.weight"] = lambda p: p.take(f"{ENCODER}/~/embed::embeddings")
    for i in range(layers):
        source, target = f"{ENCODER}/attention_layer_{i}/~", f"{encoder}.encoder.layer.{i}"
        for name in ("query", "key", "value"):
            _plan_linear(plan, f"{target}.attention.self.{name}", f"{source}/self_attention/{name}")
        _plan_linear(plan, f"{target}.attention.output.dense", f"{source}/self_attention/mha_output")
        _plan_layer_norm(plan, f"{target}.attention.LayerNorm", f"{source}/self_attention_layer_norm")
        _plan_layer_norm(plan, f"{target}.LayerNorm", f"{source}/final_layer_norm")
        # GLU: SiLU(first half) * second
        _plan_linear(plan, f"{target}.intermediate.dense", f"{source}/fc1", bias=False)
        _plan_linear(plan, f"{target}.output.dense", f"{source}/fc2", bias=False)
    _plan_layer_norm(
        plan, f"{encoder}.encoder.emb_layer_norm_after", f"{ENCODER}/~/roberta_lm_head/~/emb_layer_norm_after"
    )


def _plan_projector(plan: Plan, layers: int) -> None:
    projector = "model.projector"
    _plan_linear(plan, f"{projector}.dna_projection", f"{PROJECTION}/bio_to_english_projection")
    plan[f"{projector}.latents"] = lambda p: p.take(f"{RESAMPLER}::latent_queries")
    plan[f"{projector}.english_embeddings.weight"] = lambda p: p.take(f"{PROJECTION}/token_embed::embeddings")
    for i in range(layers):
        source, target = f"{RESAMPLER}/multi_modal_perceiver_layer_{i}/~", f"{projector}.layers.{i}"
        for ours, theirs in (("dna_attention", "1"), ("english_attention", "2")):
            _plan_layer_norm(plan, f"{target}.{ours}.latents_norm", f"{source}/cross_attention_layer_norm_{theirs}")
            for projection, name in (("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value"), ("o_proj", "mha_output")):
                _plan_linear(plan, f"{target}.{ours}.{projection}", f"{source}/cross_attention_{theirs}/{name}")
        _plan_layer_norm(plan, f"{target}.mlp.norm", f"{source}/final_layer_norm")
        _plan_linear(plan, f"{target}.mlp.fc1", f"{source}/fc1")
        _plan_linear(plan, f"{target}.mlp.fc2", f"{source}/fc2")


def _plan_decoder(plan: Plan, text) -> None:
    decoder = "model.language_model"
    plan[f"{decoder}.embed_tokens.weight"] = lambda p: p.take(f"{DECODER}/~/token_embed::embeddings")
    for i in range(text.num_hidden_layers):
        source, target = f"{DECODER}/gpt_decoder_layer_{i}/~", f"{decoder}.layers.{i}"
        attention = f"{source}/self_attn/~"
        plan[f"{target}.self_attn.q_proj.weight"] = lambda p, a=attention: _rotate_pairs_to_halves(
            _linear(p.take(f"{a}/query_linear::w")), text.num_attention_heads
        )
        plan[f"{target}.self_attn.k_proj.weight"] = lambda p, a=attention: _rotate_pairs_to_halves(
            _linear(p.take(f"{a}/key_linear::w")), text.num_key_value_heads
        )
        _plan_linear(plan, f"{target}.self_attn.v_proj", f"{attention}/value_linear", bias=False)
        _plan_linear(plan, f"{target}.self_attn.o_proj", f"{attention}/out_linear", bias=False)
        # One fused GLU weight (in, 2 x ffn): its first half is the SiLU-gated one (LLaMA's gate_proj).
        plan[f"{target}.mlp.gate_proj.weight"] = lambda p, s=source: _linear(
            p.take(f"{s}/fc1_linear_glu::w")[:, : text.intermediate_size]
        )
        plan[f"{target}.mlp.up_proj.weight"] = lambda p, s=source: _linear(
            p.take(f"{s}/fc1_linear_glu::w")[:, text.intermediate_size :]
        )
        _plan_linear(plan, f"{target}.mlp.down_proj", f"{source}/fc2_linear", bias=False)
        plan[f"{target}.input_layernorm.weight"] = lambda p, s=source: p.take(f"{s}/attn_RMS_norm::scale")
        plan[f"{target}.post_attention_layernorm.weight"] = lambda p, s=source: p.take(f"{s}/ffn_RMS_norm::scale")
    plan[f"{decoder}.norm.weight"] = lambda p: p.take(f"{DECODER}/~/final_RMS_norm::scale")
    plan["lm_head.weight"] = lambda p: _linear(p.take(f"{DECODER}/~/simple_lm_head/~/lm_final_fc::w"))


def _parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]?B)", text.strip().upper())
    if not match:
        raise ConversionError(f"--max-shard-size {text!r}: expected a size such as 2GB or 500MB")
    return int(float(match.group(1)) * {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}[match.group(2)])


def convert(
    params_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    sizes: PublishedChatNTSizes | None = None,
    english_tokenizer: str | os.PathLike | None = None,
    dtype: torch.dtype | None = None,
    max_shard_size: str = "2GB",
    unpickle_joblib: bool = False,
    source_revision: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Converts released ChatNT parameters into a checkpoint folder ``out_dir`` (see the module docstring).

    Args:
        params_path: ``.npz`` / ``.safetensors`` of haiku-named arrays, or ``params.joblib`` (``unpickle_joblib``).
        sizes: what shapes do not tell; default: the released model's.
        english_tokenizer: the released English tokenizer folder (``english_tokenizer/`` of the Hub repo); the
            processor is written only when it is given.
        dtype: weights' dtype in the checkpoint; default: the source's.
        source_revision: the Hub commit the parameters were downloaded at, for the model card.

    Returns:
        ``out_dir``, written atomically: a folder that exists holds a finished conversion.
    """
    sizes = sizes or PublishedChatNTSizes()
    say = progress or (lambda message: None)
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists: pass a new --out folder (nothing was written).")
    params = read_published_parameters(params_path, unpickle_joblib)
    if params.skipped:
        say(f"not parameters (no '::' in the name), left out: {', '.join(params.skipped[:5])}"
            + (f" and {len(params.skipped) - 5} more" if len(params.skipped) > 5 else ""))
    config = published_config(params, sizes)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed at the end: an interrupted conversion never leaves a folder at out_dir.
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)  # mkdtemp's folder is private; a checkpoint is as readable as any folder
    try:
        tensors = converted_tensors(params, config, dtype)
        total_bytes, config.dtype = _write_shards(tensors, len(weight_plan(config)), work, _parse_size(max_shard_size), say)
        config.architectures = ["ChatNTForConditionalGeneration"]
        config.save_pretrained(work)
        _save_generation_config_and_code(config, work)
        if english_tokenizer is not None:
            _save_processor(english_tokenizer, config, work)
        (work / "README.md").write_text(
            _model_card(config, Path(params_path), source_revision, total_bytes, english_tokenizer is not None),
            encoding="utf-8",
        )
        for path in work.iterdir():
            path.chmod(0o666 & ~umask)
        work.rename(out_dir)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    say(f"wrote {out_dir} ({total_bytes / 1e9:.2f} GB of weights)")
    return out_dir


def converted_tensors(params: PublishedParameters, config, dtype: torch.dtype | None = None):
    """Yields ``(name, tensor)`` for every weight of the model ``config`` describes, made from ``params`` one at a
    time, shapes checked; then checks that every source parameter was used (or is the ignored masked-LM head)."""
    with torch.device("meta"):  # names and shapes only: no memory for the 8B weights
        targets = {name: tuple(tensor.shape) for name, tensor in ChatNTForConditionalGeneration(config).state_dict().items()}
    plan = weight_plan(config)
    if set(plan) != set(targets):
        missing, extra = sorted(set(targets) - set(plan)), sorted(set(plan) - set(targets))
        raise ConversionError(f"the conversion plan does not cover the model: unmapped {missing[:5]}, unknown {extra[:5]}")
    for name, make in plan.items():
        tensor = make(params)
        if tuple(tensor.shape) != targets[name]:
            raise ConversionError(
                f"{name}: the source gives shape {tuple(tensor.shape)}, the model needs {targets[name]} "
                "(check --decoder-heads/--encoder-heads/--perceiver-heads)"
            )
        tensor = (tensor.to(dtype) if dtype is not None else tensor).contiguous()
        if tensor.untyped_storage().nbytes() > tensor.numel() * tensor.element_size():
            tensor = tensor.clone()  # a view of a larger array (half of a fused weight) would keep all of it alive
        yield name, tensor
    unused = params.unused()
    if unused:
        raise ConversionError(
            f"{len(unused)} source parameter(s) have no place in the published ChatNT layout, e.g. {unused[0]!r}: "
            "is this a ChatNT parameter file? (Only the encoder's masked-LM head is ignored.)"
        )


def _write_shards(tensors, count: int, work: Path, max_bytes: int, say) -> tuple[int, torch.dtype]:
    """Writes the tensors into safetensors shards of at most ``max_bytes`` (plus the index when there are
    several); returns the bytes written and the weights' dtype."""
    shard_names: list[list[str]] = []
    shard: dict[str, torch.Tensor] = {}
    shard_bytes = total = 0
    dtype = None

    def flush():
        nonlocal shard, shard_bytes
        if shard:
            save_file(shard, str(work / f"shard-{len(shard_names):05d}.safetensors"), metadata={"format": "pt"})
            shard_names.append(list(shard))
            shard, shard_bytes = {}, 0

    for index, (name, tensor) in enumerate(tensors):
        dtype = dtype or tensor.dtype
        size = tensor.numel() * tensor.element_size()
        if shard and shard_bytes + size > max_bytes:
            flush()
        shard[name] = tensor
        shard_bytes += size
        total += size
        if (index + 1) % 50 == 0:
            say(f"converted {index + 1}/{count} tensors")
    flush()
    weight_map = {}
    for number, names in enumerate(shard_names, start=1):
        final = "model.safetensors" if len(shard_names) == 1 else f"model-{number:05d}-of-{len(shard_names):05d}.safetensors"
        (work / f"shard-{number - 1:05d}.safetensors").rename(work / final)
        weight_map.update({name: final for name in names})
    if len(shard_names) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        (work / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return total, dtype


def _save_generation_config_and_code(config, folder: Path) -> None:
    """The generation config and the remote-code files, as ``save_pretrained`` would write them."""
    with torch.device("meta"):
        model = ChatNTForConditionalGeneration(config)
    model.generation_config.save_pretrained(folder)
    custom_object_save(model, folder)
    copy_pipeline_code(config, folder)


def _save_processor(english_tokenizer, config, folder: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(english_tokenizer)
    if DNA_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([DNA_TOKEN], special_tokens=True)
    if tokenizer.convert_tokens_to_ids(DNA_TOKEN) != config.dna_token_id:
        raise ConversionError(
            f"the English tokenizer gives {DNA_TOKEN} the id {tokenizer.convert_tokens_to_ids(DNA_TOKEN)}, the "
            f"published model uses {config.dna_token_id} (its vocabulary size): is it the released English tokenizer?"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(config.text_config.pad_token_id)
    processor = ChatNTProcessor(
        tokenizer,
        NucleotideTransformerTokenizer(),
        chat_template=VICUNA_CHAT_TEMPLATE,
        dna_tokens_per_sequence=config.num_latents,
        keep_dna_token=True,
        max_dna_tokens=config.max_dna_tokens,
    )
    processor.save_pretrained(folder)


def _model_card(config, params_path: Path, revision: str | None, total_bytes: int, has_processor: bool) -> str:
    text = config.text_config
    return f"""---
license: {SOURCE_LICENSE}
library_name: transformers
pipeline_tag: text-generation
tags: [chatnt, genomics, dna, converted]
---

# ChatNT converted from the released JAX weights

Converted with `python -m chatnt.convert_published_chatnt` from `{params_path.name}`
(sha256 `{file_sha256(params_path)}`) of the Hub repository [{SOURCE_REPO}](https://huggingface.co/{SOURCE_REPO}),
revision `{revision or "not given (pass --source-revision)"}`.

**Licence.** The released ChatNT weights are licensed {SOURCE_LICENSE.upper()} (non-commercial, share-alike);
this conversion is a derivative of them and carries the same licence. The conversion code is this project's.

## What it is
- DNA encoder: Nucleotide Transformer v2, {config.dna_config.num_hidden_layers} layers, width {config.dna_config.hidden_size}.
- Projection: the published English-aware Perceiver resampler, {config.num_latents} vectors per sequence,
  {config.projector_num_layers} layers.
- Decoder: LLaMA, {text.num_hidden_layers} layers, width {text.hidden_size}, {text.max_position_embeddings}-token
  context; final RMSNorm eps {config.text_final_norm_eps}, layers {text.rms_norm_eps}.
- Published behaviours reproduced (`keep_dna_token`, `dna_token_clamped`): each sequence's {config.num_latents}
  vectors are followed by the `<DNA>` token's own embedding, which reads the last embedding row.
- DNA input: at most {config.max_dna_tokens} 6-mer tokens (about {6 * (config.max_dna_tokens - 1) // 1000} kb), as
  the published pipeline. Weights: {total_bytes / 1e9:.2f} GB{"" if has_processor else "; no processor (convert with --english-tokenizer to add one)"}.

## Use
```python
from transformers import pipeline
pipe = pipeline("text-generation", model="<this folder>", trust_remote_code=True)
pipe("Is this sequence <DNA> a promoter?", dna_sequences=["ACGT..."], max_new_tokens=20)
```
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chatnt.convert_published_chatnt",
        description="Convert the released ChatNT parameters (haiku) into a ChatNT checkpoint (safetensors).",
    )
    parser.add_argument("--params", required=True, help=".npz / .safetensors of haiku-named arrays, or params.joblib")
    parser.add_argument("--out", required=True, help="new folder for the checkpoint")
    parser.add_argument("--english-tokenizer", help="the released english_tokenizer/ folder (adds the processor)")
    parser.add_argument("--unpickle-joblib", action="store_true",
                        help="allow reading a .joblib file, which unpickles it (runs code it holds): trusted files only")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), help="default: the source's dtype")
    parser.add_argument("--max-shard-size", default="2GB")
    parser.add_argument("--source-revision", help="Hub commit of InstaDeepAI/ChatNT the parameters come from")
    defaults = PublishedChatNTSizes()
    for field in ("decoder_heads", "encoder_heads", "perceiver_heads", "max_dna_tokens"):
        parser.add_argument(f"--{field.replace('_', '-')}", type=int, default=getattr(defaults, field))
    args = parser.parse_args(argv)
    sizes = PublishedChatNTSizes(
        decoder_heads=args.decoder_heads,
        encoder_heads=args.encoder_heads,
        perceiver_heads=args.perceiver_heads,
        max_dna_tokens=args.max_dna_tokens,
    )
    try:
        convert(
            args.params,
            args.out,
            sizes=sizes,
            english_tokenizer=args.english_tokenizer,
            dtype=getattr(torch, args.dtype) if args.dtype else None,
            max_shard_size=args.max_shard_size,
            unpickle_joblib=args.unpickle_joblib,
            source_revision=args.source_revision,
            progress=lambda message: print(message, file=sys.stderr),
        )
    except (ConversionError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
