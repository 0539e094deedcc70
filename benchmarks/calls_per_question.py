"""How many times one question runs the processor, the DNA encoder and the decoder: ``chatnt ask`` on a yes/no
question, ``chatnt predict --confidence always`` over four records (batch 4), and the pipeline with confidence.

    .venv/bin/python benchmarks/calls_per_question.py [--model checkpoints/chatnt-mini]

Counts come from wrappers around ``ChatNTProcessor.__call__``, the DNA encoder's ``forward`` and the decoder's
``forward`` (the language model without its head); answers are greedy, so the counts are exact. Each answer path
also gets its wall time (one run, after a warm-up).
"""

import argparse
import functools
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RECORDS = REPO_ROOT.parent / "shared" / "data" / "janggu" / "sample_test.fa"
QUESTION = "Is @seq bound by Oct4? Answer yes or no."


def count_calls(counts: Counter, name: str, owner, attribute: str) -> None:
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def counted(*args, **kwargs):
        counts[name] += 1
        return original(*args, **kwargs)

    setattr(owner, attribute, counted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO_ROOT / "checkpoints" / "chatnt-mini"))
    args = parser.parse_args()
    from chatnt import ChatNTProcessor
    from chatnt.commands import ask, predict
    from chatnt.commands.loading import load_chatnt
    from transformers import pipeline

    lines = RECORDS.read_text().splitlines()
    folder = Path(tempfile.mkdtemp())
    (folder / "one.fa").write_text("\n".join(lines[:2]) + "\n")
    (folder / "four.fa").write_text("\n".join(lines[:8]) + "\n")
    loaded = load_chatnt(args.model)
    counts: Counter = Counter()
    count_calls(counts, "processor", ChatNTProcessor, "__call__")
    count_calls(counts, "dna_encoder", type(loaded.model.model.dna_encoder), "forward")
    count_calls(counts, "decoder", type(loaded.model.model.language_model), "forward")
    record = lines[0][1:].split()[0]
    question = QUESTION.replace("@seq", f"@{record}")

    def measure(name, run):
        run()  # warm-up
        counts.clear()
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        print(f"{name}: processor {counts['processor']}, dna_encoder {counts['dna_encoder']}, decoder {counts['decoder']}, "
              f"{seconds:.2f} s", file=sys.stderr)
        return dict(counts), seconds

    results = {
        "ask": measure("ask", lambda: ask(question, fasta=str(folder / "one.fa"), model=args.model)),
        "predict": measure("predict", lambda: predict(str(folder / "four.fa"), QUESTION, folder / "p.tsv", model=args.model,
                                                     batch_size=4, confidence="always", overwrite=True, progress=False)),
    }
    pipe = pipeline("text-generation", model=args.model, trust_remote_code=True)
    sequence = lines[1]
    results["pipeline"] = measure("pipeline", lambda: pipe("Is <DNA> bound by Oct4? Answer yes or no.",
                                                           dna_sequences=[sequence], return_confidence=True))
    for name, (calls, seconds) in results.items():
        for part in ("processor", "dna_encoder", "decoder"):
            print(f"{name}_{part}_calls: {calls.get(part, 0)}")
        print(f"{name}_seconds: {seconds:.2f}")


if __name__ == "__main__":
    main()
