"""Per-task test scores of a ChatNT model: one plain question per test record, answered by generation.

Every test record of a task gets the task's own question (a held-out TEST phrasing, never seen in
training), the model answers greedily, :func:`~chatnt.tasks.instruction_data.normalize_answer` reads
the label or number from the answer, and the task's metric (the registry's: MCC, micro F1 or Pearson r)
is computed with exact-match accuracy beside it. An unreadable answer is never dropped: it counts as a
wrong label (its own class in MCC) or, for regression, as a failure reported in ``n_unparsed``.

    python -m chatnt.training.evaluate_chatnt --model checkpoints/chatnt-mini --output_dir runs/eval-chatnt-mini

writes ``predictions.jsonl`` (task, record_ids, question, answer, parsed, gold), ``metrics.json``, ``table.md``, ``table.csv`` and
``plots/<task>.png`` (confusion matrices; predicted vs observed for regression), and ends
with one ``key: value`` line per headline figure. Every score stands beside the majority-class and k-mer
baselines (:mod:`chatnt.evaluation.baselines`, fitted on TRAIN) on the same TEST records; ``--baselines_only``
computes those alone, without a model. The DNAHL comparison pools the four GUE-derived tasks
(the published DNAHLM reports 0.846 lenient accuracy on them, 0.728 on promoter vs terminator).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import torch
from chatnt.evaluation.baselines import baseline_scores
from chatnt.evaluation.metrics import score_task
from chatnt.evaluation.plots import plot_predictions
from chatnt.training.chatnt_collator import row_sequences
from chatnt.training.chatnt_generation_eval import generate_answers
from chatnt.tasks.registry import TASKS, get_task, load_task
from chatnt.tasks.instruction_data import (
    NO_LABELS,
    PHRASINGS,
    InstructionConfig,
    TaskPhrasing,
    build_task_rows,
    normalize_answer,
)
from tqdm.auto import tqdm

DNAHL_GUE_TASKS = ("core_promoter", "promoter_300", "tf_binding", "splice_site")
# Test records per task in the shipped models' evaluations (all of them for the DNAHL tasks): enough that a score
# is not read off a small sample.
EVALUATED_PER_TASK = 500
PHRASING_POOLS = ("held_out", "training")


def held_out_questions(
    tasks: list[str],
    data_dir: str | None = None,
    max_per_task: int | None = None,
    seed: int = 0,
    uncapped: tuple[str, ...] = (),
    phrasings: str = "held_out",
) -> list[dict]:
    """One single-turn row per test record (at most ``max_per_task`` per task, seeded, except for the
    ``uncapped`` tasks), without a system message: the model's processor adds the one it was trained with.

    ``phrasings="training"`` asks the same records in the TRAINING question templates instead of the held-out
    ones: a diagnostic of how much of a model's score depends on the wording it was tuned with."""
    if phrasings not in PHRASING_POOLS:
        raise ValueError(f"phrasings must be one of {PHRASING_POOLS}, got {phrasings!r}")
    config = InstructionConfig(seed=seed, plain_test=True, system_message=None)
    rows = []
    for task in tasks:
        data = load_task(task, data_dir=data_dir, seed=seed, split="test")
        if max_per_task is not None and data.num_rows > max_per_task and task not in uncapped:
            data = data.shuffle(seed=seed).select(range(max_per_task))
        wording = PHRASINGS[task]
        if phrasings == "training":
            wording = TaskPhrasing({"train": wording.questions["train"], "test": wording.questions["train"]},
                                   wording.predicates)
        rows += build_task_rows(task, data, config, phrasing=wording).to_list()
    return rows


@torch.no_grad()
def answer_rows(
    model, processor, rows: list[dict], batch_size: int = 16, max_new_tokens: int = 16, bf16: bool = False
) -> list[dict]:
    """Greedy answers to the single question of each row, with the parsed answer and the gold one
    (``bf16``: see :func:`~chatnt.training.chatnt_generation_eval.generate_answers`)."""
    model.eval()
    predictions = []
    for start in tqdm(range(0, len(rows), batch_size), desc="answering", unit="batch"):
        chunk = rows[start : start + batch_size]
        questions = [[message for message in row["messages"] if message["role"] != "assistant"] for row in chunk]
        answers = generate_answers(model, processor, questions, [row_sequences(row) for row in chunk], max_new_tokens, bf16)
        for row, question, answer in zip(chunk, questions, answers):
            gold = row["answers"][0]
            predictions.append(
                {
                    "task": row["task"],
                    "record_ids": list(row.get("record_ids") or []),  # which TEST records were asked about
                    "question": question[-1]["content"],
                    "answer": answer,
                    "parsed": normalize_answer(row["task"], answer, gold),
                    "gold": gold,
                }
            )
    return predictions


def task_baselines(rows: list[dict], data_dir: str | None = None, seed: int = 0) -> dict:
    """The baselines of :mod:`chatnt.evaluation.baselines` per task, fitted on the task's TRAIN split and scored
    on exactly the records of ``rows`` (the evaluated TEST questions), as ``{task: {"majority": .., "kmer": ..,
    "n_train": TRAIN records fitted on}}``."""
    results = {}
    for task in sorted({row["task"] for row in rows}, key=list(TASKS).index):
        task_rows = [row for row in rows if row["task"] == task]
        train = load_task(task, data_dir=data_dir, seed=seed, split="train")
        test = {
            "sequence": [row["sequences"][0]["sequence"] for row in task_rows],  # one record per question
            "label": [_canonical_to_parsed(task, row["answers"][0]) for row in task_rows],
        }
        results[task] = {**baseline_scores(get_task(task), train, test), "n_train": train.num_rows}
    return results


def _canonical_to_parsed(task: str, value: str):
    """A canonical answer string (gold or :func:`normalize_answer` output) as ``parse_answer`` values:
    a label, a label tuple, a float, or ``None`` for ``""`` (unreadable)."""
    if value == "":
        return None
    spec = get_task(task)
    if spec.type == "regression":
        return float(value)
    if spec.type == "multilabel":
        return () if value == NO_LABELS else tuple(value.split(", "))
    return value


def task_metrics(task: str, predictions: list[dict]) -> dict:
    """The task's metrics (:func:`chatnt.evaluation.metrics.score_task`: ``value`` is the registry metric),
    exact-match accuracy, ``n`` and ``n_unparsed``."""
    spec = get_task(task)
    gold = [_canonical_to_parsed(task, prediction["gold"]) for prediction in predictions]
    parsed = [_canonical_to_parsed(task, prediction["parsed"]) for prediction in predictions]
    scores = score_task(spec, gold, parsed)
    exact = sum(p["parsed"].casefold() == p["gold"].casefold() for p in predictions) / len(predictions)
    return {"task": task, "metric": spec.metric, **scores, "exact_match": exact}


def summarize(predictions: list[dict]) -> dict:
    """Per-task metrics, and exact-match accuracy pooled over the DNAHL GUE tasks."""
    tasks = sorted({prediction["task"] for prediction in predictions}, key=list(TASKS).index)
    per_task = {task: task_metrics(task, [p for p in predictions if p["task"] == task]) for task in tasks}
    summary = {"tasks": per_task}
    gue = [p for p in predictions if p["task"] in DNAHL_GUE_TASKS]
    if {p["task"] for p in gue} == set(DNAHL_GUE_TASKS):
        summary["dnahl_gue_exact_match"] = sum(p["parsed"] == p["gold"] for p in gue) / len(gue)
        summary["dnahl_gue_n"] = len(gue)
    return summary


def _number(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _json_ready(value):
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def markdown_table(summary: dict) -> str:
    """The per-task table; with baselines (``summary["baselines"]``), their scores on the same records beside."""
    baselines = summary.get("baselines", {})
    lines = ["| task | metric | value | k-mer baseline | majority class | exact match | n | unparsed |",
             "|---|---|---|---|---|---|---|---|"]
    for task, result in summary["tasks"].items():
        kmer = _number(baselines[task]["kmer"]["value"]) if task in baselines else "-"
        majority = _number(baselines[task]["majority"]["value"]) if task in baselines else "-"
        lines.append(
            f"| {task} | {result['metric']} | {_number(result['value'])} | {kmer} | {majority} | "
            f"{result['exact_match']:.3f} | {result['n']} | {result['n_unparsed']} |"
        )
    return "\n".join(lines) + "\n"


def write_csv_table(summary: dict, path: Path) -> None:
    """The per-task table as CSV (same columns as the Markdown one, full precision)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        baselines = summary.get("baselines", {})
        writer.writerow(["task", "metric", "value", "kmer_baseline", "majority_baseline", "exact_match", "n", "n_unparsed"])
        for task, result in summary["tasks"].items():
            writer.writerow([task, result["metric"], result["value"],
                             baselines.get(task, {}).get("kmer", {}).get("value"),
                             baselines.get(task, {}).get("majority", {}).get("value"),
                             result["exact_match"], result["n"], result["n_unparsed"]])


def evaluate_model(
    model,
    processor,
    tasks: list[str],
    output_dir: str | Path,
    data_dir: str | None = None,
    max_per_task: int | None = None,
    batch_size: int = 16,
    seed: int = 0,
    uncapped: tuple[str, ...] = (),
    bf16: bool = False,
    phrasings: str = "held_out",
) -> dict:
    """Answer every task's test questions, write predictions, metrics and a Markdown table; return the summary."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = held_out_questions(tasks, data_dir, max_per_task, seed, uncapped, phrasings)
    predictions = answer_rows(model, processor, rows, batch_size, bf16=bf16)
    return write_results(output_dir, predictions, task_baselines(rows, data_dir, seed))


def rescore(output_dir: str | Path) -> dict:
    """Re-read the answers of an earlier run's ``predictions.jsonl`` with the current parser and rewrite
    its metrics and table (no generation)."""
    output_dir = Path(output_dir)
    lines = (output_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    predictions = [json.loads(line) for line in lines]
    for prediction in predictions:
        prediction["parsed"] = normalize_answer(prediction["task"], prediction["answer"], prediction["gold"])
    earlier = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8")) if (output_dir / "metrics.json").is_file() else {}
    return write_results(output_dir, predictions, earlier.get("baselines"))


def write_results(output_dir: Path, predictions: list[dict], baselines: dict | None) -> dict:
    """Write ``predictions.jsonl``, ``metrics.json`` (the summary, with ``baselines`` when given), ``table.md``,
    ``table.csv`` and ``plots/`` into ``output_dir``; return the summary."""
    with open(output_dir / "predictions.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(prediction) + "\n" for prediction in predictions)
    summary = summarize(predictions)
    if baselines:
        summary["baselines"] = baselines
    # Valid JSON: a metric that cannot be computed (one class only, say) is null, not NaN.
    (output_dir / "metrics.json").write_text(json.dumps(_json_ready(summary), indent=2, allow_nan=False) + "\n",
                                             encoding="utf-8")
    (output_dir / "table.md").write_text(markdown_table(summary), encoding="utf-8")
    write_csv_table(summary, output_dir / "table.csv")
    plot_predictions(predictions, output_dir / "plots")
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Through `chatnt evaluate` the options may also be written with hyphens (--output-dir, --max-per-task).",
    )
    parser.add_argument("--model", help="A ChatNT directory (or Hub id).")
    parser.add_argument("--trust_remote_code", action="store_true",
                        help="Run code saved with the model: needed for a remote-code DNA encoder or tokenizer.")
    parser.add_argument(
        "--rescore", action="store_true", help="Only re-read the answers already in --output_dir with the current parser."
    )
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), help="Registry task names (default: all).")
    parser.add_argument("--output_dir", required=True, help="Where predictions, metrics.json and table.md go.")
    parser.add_argument("--data_dir", default=None, help="The shared data folder (default ../shared/data).")
    parser.add_argument("--max_per_task", type=int, default=None, help="Cap on test records per task (seeded).")
    parser.add_argument(
        "--uncapped", nargs="*", default=[], help="Tasks evaluated on every test record despite --max_per_task."
    )
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--bf16", action="store_true", help="Generate under bfloat16 autocast.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--phrasings", choices=PHRASING_POOLS, default="held_out",
        help="held_out (the evaluation): question templates never trained on; training: the same records asked in "
        "the training templates (a diagnostic of how much a score depends on the tuned wording).",
    )
    parser.add_argument(
        "--baselines_only", action="store_true",
        help="No model: score the majority-class and k-mer baselines on the records an evaluation with the same "
        "--tasks/--max_per_task/--uncapped/--seed would ask about, into --output_dir/baselines.json.",
    )
    return parser


def write_baselines_only(args: argparse.Namespace) -> None:
    """``--baselines_only``: the baselines on the records an evaluation with these options would ask about."""
    rows = held_out_questions(args.tasks, args.data_dir, args.max_per_task, args.seed, tuple(args.uncapped))
    baselines = task_baselines(rows, args.data_dir, args.seed)
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.output_dir) / "baselines.json").write_text(json.dumps(baselines, indent=2) + "\n", encoding="utf-8")
    print("| task | metric | k-mer baseline | majority class | n |\n|---|---|---|---|---|")
    for task, result in baselines.items():
        print(f"| {task} | {get_task(task).metric} | {_number(result['kmer']['value'])} | "
              f"{_number(result['majority']['value'])} | {result['kmer']['n']} |")
    for task, result in baselines.items():
        print(f"{task}_kmer_baseline: {result['kmer']['value']:.3f}")


def print_summary(summary: dict) -> None:
    """The table, then the headline figures one per line as ``key: value``."""
    print(markdown_table(summary))
    for task, result in summary["tasks"].items():
        print(f"{task}_{result['metric']}: {result['value']:.3f}")
    for task, result in summary["tasks"].items():
        print(f"{task}_exact_match: {result['exact_match']:.3f}")
    for task, result in summary.get("baselines", {}).items():
        print(f"{task}_kmer_baseline: {result['kmer']['value']:.3f}")
    if "dnahl_gue_exact_match" in summary:
        print(f"dnahl_gue_exact_match: {summary['dnahl_gue_exact_match']:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = sorted(set(args.tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown task(s) {unknown}; registered: {sorted(TASKS)}")

    if args.baselines_only:
        write_baselines_only(args)
        return
    if args.rescore:
        summary = rescore(args.output_dir)
    elif args.model is None:
        parser.error("--model is required (unless --rescore).")
    else:
        from chatnt.modeling_chatnt import ChatNTForConditionalGeneration
        from chatnt.processing_chatnt import ChatNTProcessor

        model = ChatNTForConditionalGeneration.from_pretrained(args.model, trust_remote_code=args.trust_remote_code)
        processor = ChatNTProcessor.from_pretrained(args.model, trust_remote_code=args.trust_remote_code)
        summary = evaluate_model(
            model, processor, args.tasks, args.output_dir, args.data_dir, args.max_per_task, args.batch_size, args.seed,
            tuple(args.uncapped), args.bf16, args.phrasings,
        )
    print_summary(summary)


if __name__ == "__main__":
    main()
