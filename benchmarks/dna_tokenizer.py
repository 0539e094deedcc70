"""Throughput of the NT 6-mer tokenizer against transformers' EsmTokenizer on the same 10 Mbp.

The DNA is real: the E. coli 536 genome (../shared/data/ecoli), cut into records of --record-bp, with
a run of N planted every 50 kb so that the N rules are exercised too. Both tokenizers get the same
call (a list of sequences in, Python lists of ids out) and the ids are compared record by record.
The padded-tensor path (what the model consumes) is timed for this tokenizer too.

    python benchmarks/dna_tokenizer.py [--megabases 10] [--record-bp 10000]

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


def best_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genome", type=Path, default=DEFAULT_GENOME)
    parser.add_argument("--megabases", type=float, default=10.0)
    parser.add_argument("--record-bp", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the fast tokenizer; the best is kept")
    args = parser.parse_args()

    records = load_records(args.genome, args.megabases, args.record_bp)
    megabases = sum(map(len, records)) / 1e6
    ours = NucleotideTransformerTokenizer()
    with tempfile.TemporaryDirectory() as directory:
        ours.save_pretrained(directory)
        esm = EsmTokenizer(os.path.join(directory, "vocab.txt"), eos_token=None)

    ours(records[:10])  # warm-up
    ours_lists = best_time(lambda: ours(records), args.repeats)
    ours_tensors = best_time(lambda: ours(records, padding=True, return_tensors="pt"), args.repeats)
    start = time.perf_counter()
    esm_ids = esm(records)["input_ids"]  # one pass: it takes minutes
    esm_lists = time.perf_counter() - start
    identical = ours(records)["input_ids"] == esm_ids

    print(f"{len(records)} records, {megabases:.1f} Mbp, {sum(map(len, esm_ids)) / 1e6:.2f} M tokens")
    print("| tokenizer | output | seconds | Mbp/s |")
    print("|---|---|---|---|")
    print(f"| EsmTokenizer | lists | {esm_lists:.2f} | {megabases / esm_lists:.2f} |")
    print(f"| NucleotideTransformerTokenizer | lists | {ours_lists:.3f} | {megabases / ours_lists:.1f} |")
    print(f"| NucleotideTransformerTokenizer | padded tensors | {ours_tensors:.3f} | {megabases / ours_tensors:.1f} |")
    print(f"esmtokenizer_mbp_per_s: {megabases / esm_lists:.3f}")
    print(f"ours_mbp_per_s: {megabases / ours_lists:.2f}")
    print(f"speedup_vs_esmtokenizer: {esm_lists / ours_lists:.1f}")
    print(f"identical_ids: {str(identical).lower()}")


if __name__ == "__main__":
    main()
