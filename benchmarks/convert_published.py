"""Memory of the published-ChatNT converter, and what the released model needs.

1. Conversion peak memory. A synthetic source in the published layout (the parity fixture's parameter names,
   each dimension scaled up: widths 1024, vocabulary 32 000, 64 latents; random fp32 values) is written as an
   uncompressed npz, then converted in a fresh process whose peak resident memory is measured (VmHWM, reset
   after imports). The converter reads one source tensor at a time and writes shards of ``--max-shard-size``,
   so its peak should stay near one shard plus one tensor, well under the source's size.
2. The released ChatNT's size: the configuration the converter writes for it (NT v2 500M: 29 layers x 1024;
   Perceiver: 3 layers, 64 latents, width 4096; Vicuna-7B-shaped decoder: 32 layers x 4096, 2048 tokens),
   built on the meta device and counted, with the memory its weights and KV cache take.

    python benchmarks/convert_published.py [--max-shard-size 100MB]

Ends with ``source_gb``, ``peak_rss_gb``, ``released_parameters_billion``, ``released_bf16_weights_gb`` and
``released_kv_cache_mb_per_token`` lines.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "published_chatnt" / "tiny_random.npz"
# Each dimension of the tiny fixture and its value in the synthetic source (2 x 1024 = 2048 and 2 x 2752 = 5504
# keep the GLU and MLP widths consistent).
SCALE = {32: 512, 64: 1024, 96: 2752, 192: 5504, 128: 2048, 40: 32_000, 4: 64}
SYNTHETIC_SIZES = {"decoder_heads": 4, "encoder_heads": 4, "perceiver_heads": 4}


def write_synthetic_source(path: Path) -> int:
    """The fixture's parameters at the scaled shapes, random; returns the bytes of parameters written."""
    rng = np.random.default_rng(0)
    arrays = {}
    with np.load(FIXTURE, allow_pickle=False) as fixture:
        for key in fixture.files:
            if key.startswith("param::"):
                shape = tuple(SCALE.get(size, size) for size in fixture[key].shape)
                arrays[key] = rng.standard_normal(shape, dtype=np.float32) * 0.02
    np.savez(path, **arrays)
    return sum(array.nbytes for array in arrays.values())


CHILD = """
import json, sys, time
from pathlib import Path
from chatnt.convert_published_chatnt import PublishedChatNTSizes, convert

def status_kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])

Path("/proc/self/clear_refs").write_text("5")  # peak of the conversion alone, not of the imports
baseline = status_kb("VmRSS")
start = time.perf_counter()
convert(sys.argv[1], sys.argv[2], sizes=PublishedChatNTSizes(**json.loads(sys.argv[3])), max_shard_size=sys.argv[4])
print(json.dumps({"seconds": time.perf_counter() - start, "baseline_kb": baseline, "peak_kb": status_kb("VmHWM")}))
"""


def released_size() -> dict:
    """Parameters of the released ChatNT as converted, counted on the meta device."""
    import torch
    from chatnt import ChatNTConfig, ChatNTForConditionalGeneration, NucleotideTransformerConfig
    from transformers import LlamaConfig

    text = LlamaConfig(vocab_size=32_000, hidden_size=4096, intermediate_size=11_008, num_hidden_layers=32,
                       num_attention_heads=32, max_position_embeddings=2048, rms_norm_eps=1e-6, tie_word_embeddings=False)
    dna = NucleotideTransformerConfig(vocab_size=4107, hidden_size=1024, num_hidden_layers=29, num_attention_heads=16,
                                      intermediate_size=4096, add_bias_fnn=False)
    config = ChatNTConfig(dna_config=dna, text_config=text, num_latents=64, projector_num_layers=3,
                          projector_num_heads=32, projector_intermediate_size=11_008, english_vocab_size=32_000,
                          dna_token_clamped=True, keep_dna_token=True, text_final_norm_eps=1e-5, max_dna_tokens=512)
    with torch.device("meta"):
        model = ChatNTForConditionalGeneration(config)
    parts = {
        "encoder": model.model.dna_encoder,
        "projection": model.model.projector,
        "decoder": model.model.language_model,
        "lm_head": model.lm_head,
    }
    counts = {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}
    kv_bytes_per_token = 2 * text.num_hidden_layers * text.num_key_value_heads * (text.hidden_size // text.num_attention_heads) * 2
    return {"counts": counts, "total": sum(counts.values()), "kv_bytes_per_token": kv_bytes_per_token}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-shard-size", default="100MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chatnt-convert-benchmark-") as scratch:
        source = Path(scratch) / "params.npz"
        print("writing the synthetic source ...", file=sys.stderr, flush=True)
        source_bytes = write_synthetic_source(source)
        print("converting ...", file=sys.stderr, flush=True)
        output = subprocess.run(
            [sys.executable, "-c", CHILD, str(source), str(Path(scratch) / "out"), json.dumps(SYNTHETIC_SIZES), args.max_shard_size],
            check=True, capture_output=True, text=True,
        ).stdout
        child = json.loads(output.strip().splitlines()[-1])
        shards = sorted(path.name for path in (Path(scratch) / "out").glob("*.safetensors"))
    peak = (child["peak_kb"] - child["baseline_kb"]) * 1024
    released = released_size()
    print(f"synthetic source: {source_bytes / 1e9:.2f} GB of fp32 parameters; converted in {child['seconds']:.1f} s "
          f"into {len(shards)} shards of at most {args.max_shard_size}")
    print("released ChatNT as converted: " + ", ".join(
        f"{name} {count / 1e9:.3f} B" for name, count in released["counts"].items()))
    print(f"source_gb: {source_bytes / 1e9:.2f}")
    print(f"peak_rss_gb: {peak / 1e9:.2f}")
    print(f"released_parameters_billion: {released['total'] / 1e9:.2f}")
    print(f"released_bf16_weights_gb: {released['total'] * 2 / 1e9:.1f}")
    print(f"released_kv_cache_mb_per_token: {released['kv_bytes_per_token'] / 1e6:.2f}")


if __name__ == "__main__":
    main()
