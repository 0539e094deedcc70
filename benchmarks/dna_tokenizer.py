"""Throughput of the NT 6-mer tokenizer against transformers' EsmTokenizer on the same 10 Mbp.

The DNA is real: the E. coli 536 genome (../shared/data/ecoli), cut into records of --record-bp, with
a run of N planted every 50 kb so that the N rules are exercised too. Both tokenizers get the same
call (a list of sequences in, Python lists of ids out) and the ids are compared record by record.
The padded-tensor path (what the model consumes) is timed for this tokenizer too.

Both tokenizers run on one thread, so the headline compares process CPU time, which measures their
own work even when other processes share the machine; wall-clock figures are printed as well. The
headline call is the one that feeds a model (``padding=True, return_tensors="pt"``); the plain-list call
is reported beside it (``speedup_vs_esmtokenizer_lists``): its floor is building 1.7 M Python ints.

    python benchmarks/dna_tokenizer.py [--megabases 10] [--record-bp 10000] [--repeats 3] [--esm-repeats 2]

Ends with ``speedup_vs_esmtokenizer: <x>`` and ``identical_ids: <true|false>``.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from chatnt import NucleotideTransformerTokenizer, read_fasta
from transformers import EsmTokenizer

DEFAULT_GENOME = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecoli" / "NC_008253.fna.gz"


def load_records(genome: Path, megabases: float, record_bp: int) -> list[str]:
    sequence = "".join(read_fasta(genome).values())
    total = int(megabases * 1_000_000)
    while len(sequence) < total:  # the genome is 4.9 Mbp: reuse it, shifted, to reach the target
        sequence += sequence[len(sequence) // 3 :]
    sequence = sequence[:total]
    records = [sequence[start : start + record_bp] for start in range(0, total, record_bp)]
    # A few N runs per record set, as in real assemblies.
    return [record[:1000] + "NNNNN" + record[1005:] if i % 5 == 0 else record for i, record in enumerate(records)]


def best_times(function, repeats: int) -> tuple[float, float]:
    """Fastest wall-clock and fastest CPU time over ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - wall_start)
        cpu.append(time.process_time() - cpu_start)
    return min(wall), min(cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genome", type=Path, default=DEFAULT_GENOME)
    parser.add_argument("--megabases", type=float, default=10.0)
    parser.add_argument("--record-bp", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the fast tokenizer; the best is kept")
    parser.add_argument("--esm-repeats", type=int, default=2, help="repeats of EsmTokenizer (seconds each)")
    args = parser.parse_args()

    records = load_records(args.genome, args.megabases, args.record_bp)
    megabases = sum(map(len, records)) / 1e6
    ours = NucleotideTransformerTokenizer()
    with tempfile.TemporaryDirectory() as directory:
        ours.save_pretrained(directory)
        esm = EsmTokenizer(os.path.join(directory, "vocab.txt"), eos_token=None)

    ours(records[:10])  # warm-up
    timings = {
        ("EsmTokenizer", "lists"): best_times(lambda: esm(records), args.esm_repeats),
        ("EsmTokenizer", "padded tensors"): best_times(
            lambda: esm(records, padding=True, return_tensors="pt"), args.esm_repeats
        ),
        ("NucleotideTransformerTokenizer", "lists"): best_times(lambda: ours(records), args.repeats),
        ("NucleotideTransformerTokenizer", "padded tensors"): best_times(
            lambda: ours(records, padding=True, return_tensors="pt"), args.repeats
        ),
    }
    esm_ids = esm(records)["input_ids"]
    identical = ours(records)["input_ids"] == esm_ids

    print(f"{len(records)} records, {megabases:.1f} Mbp, {sum(map(len, esm_ids)) / 1e6:.2f} M tokens")
    print("| tokenizer | output | CPU s | Mbp/s (CPU) | wall s | Mbp/s (wall) |")
    print("|---|---|---|---|---|---|")
    for (name, output), (wall, cpu) in timings.items():
        print(f"| {name} | {output} | {cpu:.3f} | {megabases / cpu:.2f} | {wall:.3f} | {megabases / wall:.2f} |")
    def speedup(output, clock):
        return timings["EsmTokenizer", output][clock] / timings["NucleotideTransformerTokenizer", output][clock]

    wall, cpu = 0, 1
    print(f"esmtokenizer_mbp_per_s: {megabases / timings['EsmTokenizer', 'padded tensors'][cpu]:.3f}")
    print(f"ours_mbp_per_s: {megabases / timings['NucleotideTransformerTokenizer', 'padded tensors'][cpu]:.2f}")
    print(f"speedup_vs_esmtokenizer_lists: {speedup('lists', cpu):.1f}")
    print(f"speedup_vs_esmtokenizer_wall: {speedup('padded tensors', wall):.1f}")
    # Headline: the call that feeds a model (padding=True, return_tensors="pt"), CPU time.
    print(f"speedup_vs_esmtokenizer: {speedup('padded tensors', cpu):.1f}")
    print(f"identical_ids: {str(identical).lower()}")


if __name__ == "__main__":
    main()
