"""Evaluate DNAHLM on the TEST half of the published DNAHL records, next to the published model.

Each record of ``../shared/data/dnahl/`` holds the true label (``output``) and the published model's
answer (``model_response``). Our model answers the same Alpaca prompt by greedy decoding. Metrics,
per task and overall, on the TEST half (:func:`~chatnt.training.dnahlm.instructions.is_test_record`):

* ``exact``: the whole answer, whitespace and punctuation trimmed at both ends, equals the label;
* ``first_line``: the same test on the answer's first line only;
* ``lenient``: the published rule, the label occurs anywhere in the answer (so echoing every option
  scores), and ``lenient_prefix``: the answer starts with the label;
* ``mcc``: Matthews correlation of the first-line prediction (an answer that is no label counts as a
  class of its own, ``<invalid>``); overall, the mean of the tasks' MCCs.

Beside both, the k-mer baseline (:mod:`chatnt.evaluation.baselines`, fitted per task on the TRAIN half) answers
the same TEST records, and the TRAIN majority label's exact match is reported.

    python -m chatnt.training.dnahlm.evaluate --model checkpoints/dnahlm-mini
"""

from __future__ import annotations

import string
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch
from sklearn.metrics import matthews_corrcoef
from transformers import AutoModelForCausalLM, AutoTokenizer, HfArgumentParser

from chatnt.evaluation.baselines import KmerBaseline
from chatnt.training.dnahlm.instructions import (
    FOUR_TASK_FILE,
    PROMOTER_TERMINATOR_FILE,
    TASKS,
    alpaca_prompt,
    load_published_records,
)

INVALID = "<invalid>"
_TRIM = string.whitespace + string.punctuation


def normalize(text: str) -> str:
    """Trim whitespace and punctuation at both ends."""
    return text.strip(_TRIM)


def is_exact(answer: str, label: str) -> bool:
    """The whole answer, trimmed, is the label."""
    return normalize(answer) == normalize(label)


def is_first_line_exact(answer: str, label: str) -> bool:
    """The answer's first line, trimmed, is the label."""
    return normalize(answer.strip().split("\n", 1)[0]) == normalize(label)


def is_lenient(answer: str, label: str) -> bool:
    """The published rule: the label string occurs in the answer."""
    return label in answer


def is_lenient_prefix(answer: str, label: str) -> bool:
    """The answer starts with the label (leading whitespace ignored)."""
    return answer.lstrip().startswith(label)


def predicted_label(answer: str, labels: tuple[str, ...]) -> str:
    """The label the answer's first line names, or ``<invalid>``."""
    first = normalize(answer.strip().split("\n", 1)[0])
    return next((label for label in labels if normalize(label) == first), INVALID)


METRICS = {
    "exact": is_exact,
    "first_line": is_first_line_exact,
    "lenient": is_lenient,
    "lenient_prefix": is_lenient_prefix,
}


def score(answers: list[str], records: list[dict]) -> dict[str, dict[str, float]]:
    """Per-task and ``overall`` metrics of ``answers`` against the records' labels."""
    if len(answers) != len(records):
        raise ValueError(f"Got {len(answers)} answers for {len(records)} records")
    if not records:
        raise ValueError("No records to score")
    groups = defaultdict(list)
    for answer, record in zip(answers, records):
        groups[record["task"]].append((answer, record))
    groups["overall"] = list(zip(answers, records))
    results = {}
    for name, pairs in groups.items():
        row = {"n": len(pairs)}
        for metric, rule in METRICS.items():
            row[metric] = sum(rule(a, r["output"]) for a, r in pairs) / len(pairs)
        if name != "overall":
            truth = [r["output"] for _, r in pairs]
            predictions = [predicted_label(a, TASKS[r["task"]].labels) for a, r in pairs]
            row["mcc"] = float(matthews_corrcoef(truth, predictions))
        results[name] = row
    # Pooling the tasks' labels into one MCC would reward merely knowing the task (a per-task majority
    # guess scores 0.44 on the 4-task file), so the overall MCC is the mean of the per-task MCCs.
    results["overall"]["mcc"] = sum(results[t]["mcc"] for t in results if t != "overall") / (len(results) - 1)
    return results


@torch.no_grad()
def generate_answers(model, tokenizer, prompts: list[str], batch_size: int = 16, max_new_tokens: int = 16) -> list[str]:
    """Greedy answers to ``prompts``, batched by similar length with left padding."""
    tokenizer.padding_side = "left"
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers = [""] * len(prompts)
    model.eval()
    for start in range(0, len(order), batch_size):
        batch = [order[i] for i in range(start, min(start + batch_size, len(order)))]
        encoded = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True)
        output = model.generate(
            **encoded,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        for i, text in zip(batch, tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
            answers[i] = text
    return answers


TABLE_METRICS = ("exact", "lenient", "lenient_prefix", "mcc")


def majority_answers(path: str, records: list[dict]) -> list[str]:
    """For each record, the most frequent label of its task in the TRAIN half: the no-skill baseline."""
    counts = defaultdict(Counter)
    for record in load_published_records(path, split="train"):
        counts[record["task"]][record["output"]] += 1
    return [counts[r["task"]].most_common(1)[0][0] for r in records]


def kmer_answers(path: str, records: list[dict]) -> list[str]:
    """For each record, the label the k-mer baseline (:mod:`chatnt.evaluation.baselines`) gives its DNA, fitted
    per task on the TRAIN half of the same file."""
    train = defaultdict(list)
    for record in load_published_records(path, split="train"):
        train[record["task"]].append(record)
    models = {
        task: KmerBaseline().fit(SimpleNamespace(type="multiclass"), [r["input"] for r in rows], [r["output"] for r in rows])
        for task, rows in train.items()
    }
    answers = [""] * len(records)
    for task, model in models.items():
        indices = [i for i, record in enumerate(records) if record["task"] == task]
        for i, label in zip(indices, model.predict([records[i]["input"] for i in indices])):
            answers[i] = label
    return answers


def format_table(title: str, tables: dict[str, dict]) -> str:
    """A Markdown table, one row per task then overall, a group of columns per system (``{name: scores}``)."""
    first = next(iter(tables.values()))
    header = "| task | n | " + " | ".join(f"{who} {m}" for who in tables for m in TABLE_METRICS) + " |"
    lines = [f"**{title}**", "", header, "|---|---|" + "---|" * len(tables) * len(TABLE_METRICS)]
    for task, row in first.items():
        cells = [f"{table[task][m]:.3f}" for table in tables.values() for m in TABLE_METRICS]
        lines.append(f"| {task} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class EvaluationArguments:
    model: str | None = field(
        default=None, metadata={"help": "Our model folder; omit to score the published one only."}
    )
    files: list[str] = field(default_factory=lambda: [FOUR_TASK_FILE, PROMOTER_TERMINATOR_FILE])
    phrasing: str = field(
        default="published",
        metadata={"help": "'published': each record's own instruction; 'heldout': our never-trained phrasing."},
    )
    batch_size: int = field(default=16)
    max_new_tokens: int = field(default=16)
    limit: int | None = field(default=None, metadata={"help": "Score only the first N TEST records of each file."})


def evaluate_file(
    path: str,
    model=None,
    tokenizer=None,
    phrasing: str = "published",
    batch_size: int = 16,
    max_new_tokens: int = 16,
    limit: int | None = None,
) -> tuple[dict, dict | None, list[str] | None]:
    """Published and (when a model is given) our metrics on the TEST half of one record file."""
    if phrasing not in ("published", "heldout"):
        raise ValueError(f"phrasing must be 'published' or 'heldout', got {phrasing!r}")
    records = load_published_records(path, split="test")[:limit]
    published = score([r["model_response"] for r in records], records)
    published["overall"]["majority_exact"] = score(majority_answers(path, records), records)["overall"]["exact"]
    if model is None:
        return published, None, None
    prompts = [
        alpaca_prompt(r["instruction"] if phrasing == "published" else TASKS[r["task"]].heldout_phrasing, r["input"])
        for r in records
    ]
    answers = generate_answers(model, tokenizer, prompts, batch_size, max_new_tokens)
    return published, score(answers, records), answers


def main(argv: list[str] | None = None) -> None:
    (args,) = HfArgumentParser(EvaluationArguments).parse_args_into_dataclasses(args=argv)
    model = tokenizer = None
    if args.model is not None:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForCausalLM.from_pretrained(args.model)
    headline = []
    for path in args.files:
        name = path.rsplit("/", 1)[-1].removesuffix(".json")
        published, ours, _ = evaluate_file(
            path, model, tokenizer, args.phrasing, args.batch_size, args.max_new_tokens, args.limit
        )
        records = load_published_records(path, split="test")[: args.limit]
        kmer = score(kmer_answers(path, records), records)
        tables = {"published": published, **({"ours": ours} if ours is not None else {}), "k-mer baseline": kmer}
        print(format_table(f"{name} (TEST half, {args.phrasing} phrasing)", tables))
        print()
        headline.append(f"{name}_train_majority_label_exact: {published['overall']['majority_exact']:.4f}")
        headline.append(f"{name}_kmer_baseline_mcc: {kmer['overall']['mcc']:.4f}")
        headline.append(f"{name}_kmer_baseline_exact: {kmer['overall']['exact']:.4f}")
        for who, table in (("published", published), ("ours", ours)):
            if table is not None:
                for metric in ("exact", "first_line", "lenient", "lenient_prefix", "mcc"):
                    headline.append(f"{name}_{who}_{metric}: {table['overall'][metric]:.4f}")
    print("\n".join(headline))


if __name__ == "__main__":
    main()
