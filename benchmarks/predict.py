"""Throughput and peak memory of ``chatnt predict`` on real sequences, at two file sizes.

Data: consecutive 200 bp windows of the E. coli 536 genome (``../shared/data/ecoli/NC_008253.fna.gz``,
4.9 Mb, so up to 24,694 windows), written to a FASTA file per size in a temporary folder (never into
the repository). Model: the shipped ``checkpoints/chatnt-mini`` (SmolLM2-135M decoder), bf16 autocast,
greedy answers of at most 32 new tokens, one CPU thread.

Question: "Is @seq a promoter? Answer yes or no." By default without the calibrated probability
(``--confidence never``): the perplexity classifier scores 8 answer phrasings per record and costs
several times the generation (3.4 records/s with it against 16.8 without, chatnt-mini, 2 threads);
pass ``--confidence auto`` to time it too.

Each size runs :func:`chatnt.commands.predict` in a fresh process, so its peak RSS
(``resource.getrusage``) is its own: with streaming, peak memory must not grow with the file. The
prompt's length and its shared start (computed once per run by the prefix cache) are reported too.

    python benchmarks/predict.py --threads 2 --batch-size 32   # 1,000 and 10,000 records (11 minutes on 2 cores)
    python benchmarks/predict.py --sizes 100 1000      # a quicker check

Ends with ``records_per_s_<small>``, ``records_per_s_<large>``, ``scaling_<large>_vs_<small>`` (throughput
ratio; 1.0 = linear) and ``peak_rss_ratio_<large>_vs_<small>`` lines, e.g. ``scaling_10k_vs_1k: 0.98``.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ECOLI = REPO_ROOT.parent / "shared" / "data" / "ecoli" / "NC_008253.fna.gz"
WINDOW = 200
QUESTION = "Is @seq a promoter? Answer yes or no."


def size_label(size: int) -> str:
    """1000 -> "1k", 10000 -> "10k", 250 -> "250"."""
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def write_windows(path: Path, count: int) -> None:
    """The first ``count`` non-overlapping 200 bp windows of the E. coli genome, as FASTA."""
    from chatnt.fasta import read_fasta

    genome = next(iter(read_fasta(ECOLI).values()))
    if count * WINDOW > len(genome):
        raise SystemExit(f"The E. coli genome holds {len(genome) // WINDOW} windows of {WINDOW} bp; asked for {count}.")
    with open(path, "w") as out:
        for index in range(count):
            start = index * WINDOW
            out.write(f">ecoli_{start + 1}_{start + WINDOW}\n{genome[start:start + WINDOW]}\n")


def child(arguments) -> None:
    """One predict run in this process; prints its figures as one JSON line."""
    import resource

    import torch

    torch.set_num_threads(arguments.threads)
    from chatnt.commands import predict

    started = time.perf_counter()
    summary = predict(arguments.fasta, QUESTION, arguments.out, model=arguments.model, batch_size=arguments.batch_size,
                      confidence=arguments.confidence, overwrite=True, progress=True)
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "records": summary.records, "records_per_s": summary.records_per_second, "answer_seconds": summary.seconds,
        "wall_seconds": wall, "peak_rss_mib": peak_kib / 1024, "parsed": summary.parsed_counts,
        "unparsed": summary.unparsed, **prompt_lengths(arguments.model, arguments.fasta),
    }))


def prompt_lengths(model: str, fasta: str) -> dict:
    """Tokens of the first record's prompt, and how many of them predict's prefix cache computes once."""
    from chatnt.commands.loading import load_chatnt
    from chatnt.commands.questions import record_question_template
    from chatnt.fasta import iter_fasta
    from chatnt.prefix_cache import SharedPromptPrefix

    chatnt = load_chatnt(model)  # the model predict loaded (cached per process)
    template, placeholders = record_question_template(QUESTION)
    record = next(iter_fasta(fasta))
    inputs = chatnt.processor([template], [[record.sequence] * placeholders], return_tensors="pt")
    prefix = SharedPromptPrefix()
    prefix.cache_for(chatnt.model, inputs)
    return {"prompt_tokens": inputs["input_ids"].shape[1], "shared_prefix_tokens": len(prefix.tokens)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 10000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--confidence", choices=("auto", "always", "never"), default="never")
    parser.add_argument("--model", default=str(REPO_ROOT / "checkpoints" / "chatnt-mini"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fasta", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments)
        return

    small, large = sorted(arguments.sizes)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="chatnt-predict-bench-") as folder:
        for size in (small, large):
            fasta, out = Path(folder) / f"ecoli_{size}.fa", Path(folder) / f"results_{size}.tsv"
            write_windows(fasta, size)
            command = [sys.executable, __file__, "--child", "--fasta", str(fasta), "--out", str(out),
                       "--model", arguments.model, "--batch-size", str(arguments.batch_size),
                       "--confidence", arguments.confidence, "--threads", str(arguments.threads)]
            print(f"predict on {size} records ...", file=sys.stderr, flush=True)
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
            figures[size] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{size}: {json.dumps(figures[size])}", flush=True)
            first_rows = out.read_text().splitlines()[1:4]
            print("  first rows: " + " | ".join(first_rows), flush=True)
    a, b = size_label(small), size_label(large)
    print(f"batch_size: {arguments.batch_size}")
    print(f"confidence: {arguments.confidence}")
    print(f"threads: {arguments.threads}")
    print(f"prompt_tokens: {figures[large]['prompt_tokens']}")
    print(f"shared_prefix_tokens: {figures[large]['shared_prefix_tokens']}")
    for size in (small, large):
        label = size_label(size)
        print(f"wall_seconds_{label}: {figures[size]['wall_seconds']:.1f}")
        print(f"peak_rss_mib_{label}: {figures[size]['peak_rss_mib']:.0f}")
    print(f"records_per_s_{a}: {figures[small]['records_per_s']:.3f}")
    print(f"records_per_s_{b}: {figures[large]['records_per_s']:.3f}")
    print(f"scaling_{b}_vs_{a}: {figures[large]['records_per_s'] / figures[small]['records_per_s']:.3f}")
    print(f"peak_rss_ratio_{b}_vs_{a}: {figures[large]['peak_rss_mib'] / figures[small]['peak_rss_mib']:.3f}")


if __name__ == "__main__":
    main()
