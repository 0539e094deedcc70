"""Cost of ``pipeline(..., return_confidence=True)`` with and without reusing generation's prompt cache.

With ``return_confidence=True`` the ChatNT pipeline generates an answer, then scores held-out yes/no
phrasings with the perplexity classifier. Since the classifier continues from the prompt cache that
generation left (``PromptState``), each prompt (DNA encoding included) runs once. The comparison switches
that reuse off by making every prompt state mismatch, so the classifier runs the prompts again (the
behaviour before the reuse).

Setup: the shipped ``checkpoints/chatnt-mini``, bf16 autocast, "Is @seq a promoter? Answer yes or no." over
``--batch`` consecutive 200 bp windows of the E. coli 536 genome (``../shared/data/ecoli``), one pipeline
call per repeat, greedy answers of at most 8 tokens. Reports the median of ``--repeats`` calls after one
warm-up call.

    python benchmarks/pipeline_confidence.py [--batch 4] [--repeats 5] [--threads 2]

Ends with ``seconds_with_reuse``, ``seconds_without_reuse``, ``speedup`` and ``max_probability_difference``.
"""

import argparse
import statistics
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ECOLI = REPO_ROOT.parent / "shared" / "data" / "ecoli" / "NC_008253.fna.gz"
QUESTION = "Is @seq a promoter? Answer yes or no."
WINDOW = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=4, help="Questions per pipeline call (reuse needs <= 4).")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=str(REPO_ROOT / "checkpoints" / "chatnt-mini"))
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    from chatnt.commands.loading import load_chatnt
    from chatnt.fasta import read_fasta
    from chatnt.perplexity_classifier import PromptState
    from chatnt.pipeline_chatnt import ChatNTPipeline

    torch.set_num_threads(args.threads)
    chatnt = load_chatnt(args.model)
    pipe = pipeline("text-generation", model=chatnt.model, processor=chatnt.processor,
                    tokenizer=chatnt.processor.tokenizer, pipeline_class=ChatNTPipeline)
    genome = next(iter(read_fasta(ECOLI).values()))
    sequences = [{"seq": genome[index * WINDOW : (index + 1) * WINDOW]} for index in range(args.batch)]

    def timed_calls() -> tuple[float, list[float]]:
        seconds, probabilities = [], []
        for repeat in range(args.repeats + 1):  # the first call warms up
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                outputs = pipe([QUESTION] * args.batch, dna_sequences=sequences, max_new_tokens=8, do_sample=False,
                               return_confidence=True, batch_size=args.batch)
            if repeat:
                seconds.append(time.perf_counter() - started)
            probabilities = [output[0]["probability"] for output in outputs]
        return statistics.median(seconds), probabilities

    with_reuse, reused_probabilities = timed_calls()
    matches = PromptState.matches
    PromptState.matches = lambda self, prompts: False  # every state mismatches: the prompts run again
    try:
        without_reuse, recomputed_probabilities = timed_calls()
    finally:
        PromptState.matches = matches
    difference = max(abs(a - b) for a, b in zip(reused_probabilities, recomputed_probabilities))
    print(f"batch: {args.batch}")
    print(f"threads: {args.threads}")
    print(f"seconds_with_reuse: {with_reuse:.3f}")
    print(f"seconds_without_reuse: {without_reuse:.3f}")
    print(f"speedup: {without_reuse / with_reuse:.2f}")
    print(f"max_probability_difference: {difference:.2e}")


if __name__ == "__main__":
    main()
