"""``chatnt scan`` throughput on one process and on two (accelerate launch), and memory against genome length.

    .venv/bin/python benchmarks/scan.py [--model checkpoints/chatnt-mini] [--windows 64] [--window 600]

1. The same scan of the E. coli 536 genome (``../shared/data/ecoli``), ``--windows`` windows of ``--window`` bp side
   by side, answered by one process (torch's threads on every core) and by two processes under
   ``accelerate launch --config_file training/accelerate/cpu.yaml`` (one thread each). windows/s is what ``chatnt
   scan`` reports: answering only, from the first window to the merged output, model loading excluded. The two runs'
   answers are compared, and their probabilities: with other thread counts bf16 sums round differently, so these
   may differ in the last digits (with equal thread counts the files are identical: tests/test_genome_scan.py).
2. Extrapolation to human chromosome 1 (GRCh38, 248,956,422 bp) at the same window length and the faster of the two.
3. Peak resident memory of reading the windows (the part of a scan that grows with the input) over 10% of the
   genome and over all of it, gzip streamed: it should not grow with the length read.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ECOLI = REPO_ROOT.parent / "shared" / "data" / "ecoli" / "NC_008253.fna.gz"
CHROM = "gi|110640213|ref|NC_008253.1|"
ECOLI_LENGTH = 4_938_920
HUMAN_CHR1 = 248_956_422
QUESTION = "Is @seq a promoter? Answer yes or no."

MEMORY_PROBE = """
import resource, sys
from chatnt.genome.regions import Region
from chatnt.genome.windows import GenomeWindows
plan = GenomeWindows(sys.argv[1], 600, 600, [Region(sys.argv[2], 0, int(sys.argv[3]))], "both")
bases = sum(len(window.sequence) for window in plan)
print(bases, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def run_scan(arguments: list[str], launcher: list[str], threads: int) -> tuple[float, str]:
    environment = os.environ | {"OMP_NUM_THREADS": str(threads)}
    result = subprocess.run([*launcher, "-m", "chatnt.cli", *arguments], env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"scan failed: {result.stderr[-2000:]}")
    speed = re.search(r"speed: ([\d.]+) windows/s", result.stdout)
    return float(speed.group(1)), result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO_ROOT / "checkpoints" / "chatnt-mini"))
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--window", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        region = f"{CHROM}:100000-{100000 + args.windows * args.window}"
        common = ["scan", "--fasta", str(ECOLI), "--question", QUESTION, "--region", region, "--window", str(args.window),
                  "--batch-size", str(args.batch_size), "--model", args.model, "--no-progress"]
        print(f"scanning {args.windows} windows of {args.window} bp with {args.model} ({cores} cores)", file=sys.stderr)
        one, _ = run_scan([*common, "--out", f"{folder}/one"], [sys.executable], cores)
        accelerate = [str(Path(sys.executable).parent / "accelerate"), "launch", "--config_file",
                      str(REPO_ROOT / "training" / "accelerate" / "cpu.yaml"), "--num_processes", "2"]
        two, report = run_scan([*common, "--out", f"{folder}/two"], accelerate, max(cores // 2, 1))
        assert "by 2 processes" in report, report
        rows = [[line.split("\t") for line in Path(f"{folder}/{name}.tsv").read_text().splitlines()[1:]]
                for name in ("one", "two")]
        same_answers = [a[:6] for a in rows[0]] == [b[:6] for b in rows[1]]
        largest_difference = max(abs(float(a[6]) - float(b[6])) for a, b in zip(*rows))
        memory = {}
        for fraction in (0.1, 1.0):
            length = int(ECOLI_LENGTH * fraction)
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(ECOLI), CHROM, str(length)],
                                    capture_output=True, text=True, check=True)
            bases, peak = map(int, result.stdout.split())
            memory[fraction] = (length, peak, time.perf_counter() - started, bases)
    best = max(one, two)
    windows_chr1 = -(-HUMAN_CHR1 // args.window)
    print("| processes | threads each | windows/s |")
    print("|---|---|---|")
    print(f"| 1 | {cores} | {one:.2f} |")
    print(f"| 2 | {max(cores // 2, 1)} | {two:.2f} |")
    print()
    print("| genome read | peak RSS (MB) | seconds | bases in windows (both strands) |")
    print("|---|---|---|---|")
    for length, peak, seconds, bases in memory.values():
        print(f"| {length:,} bp | {peak} | {seconds:.1f} | {bases:,} |")
    print(f"windows_per_second_1_process: {one:.2f}")
    print(f"windows_per_second_2_processes: {two:.2f}")
    print(f"speedup_2_processes: {two / one:.2f}")
    print(f"same_answers_1_vs_2_processes: {str(same_answers).lower()}")
    print(f"max_probability_difference: {largest_difference:.4f}")
    print(f"human_chr1_windows: {windows_chr1}")
    print(f"human_chr1_hours: {windows_chr1 / best / 3600:.1f}")
    print(f"peak_rss_mb_10pct_genome: {memory[0.1][1]}")
    print(f"peak_rss_mb_whole_genome: {memory[1.0][1]}")


if __name__ == "__main__":
    main()
