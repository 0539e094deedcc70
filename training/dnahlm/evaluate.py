"""Evaluate DNAHLM on every registry task, beside the baselines and the published DNAHLM.

Our model is asked exactly what ChatNT is asked (:func:`chatnt.training.evaluate_chatnt.held_out_questions`):
one question per TEST record, in a held-out phrasing never trained on, as an Alpaca prompt (the sequence in
the Input block). Its greedy answer is read by the same parser (:func:`chatnt.tasks.instruction_data.
normalize_answer`) and scored with the task's metric (MCC, micro F1, Pearson r), exact match and the count of
unreadable answers, beside the majority-class and k-mer baselines fitted on TRAIN and scored on the same
records (:mod:`chatnt.evaluation.baselines`).

The published DNAHLM's stored answers (``model_response`` in ``../shared/data/dnahl/``, to the published
instruction) on the same DNAHL TEST records are read three ways: by the first label they state (its answers
often echo the options after it: "Non-promoter, promoter" counts as Non-promoter), strictly as our model's
answers are read (an echoed option list is no answer), and by the first line being exactly a label. It was
tuned on the full GUE training sets.

    python -m chatnt.training.dnahlm.evaluate --model checkpoints/dnahlm-mini --output_dir runs/eval-dnahlm-mini

writes ``predictions.jsonl``, ``metrics.json``, ``table.md``, ``table.csv``, ``plots/`` and ``published.json``
into ``--output_dir`` and ends with one ``key: value`` line per headline figure.
"""

from __future__ import annotations

import argparse
import json
import string
from pathlib import Path

import torch
from datasets import Dataset
from sklearn.metrics import matthews_corrcoef
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from chatnt.tasks.answer_parsing import first_stated_label, parse_label
from chatnt.tasks.dnahl import alpaca_prompt, load_published_records, published_files
from chatnt.training.evaluate_chatnt import (
    DNAHL_GUE_TASKS,
    EVALUATED_PER_TASK,
    PHRASING_POOLS,
    held_out_questions,
    markdown_table,
    task_baselines,
    write_results,
)
from chatnt.tasks.registry import TASKS, get_task
from chatnt.tasks.instruction_data import normalize_answer, to_alpaca

DNAHL_TASKS = (*DNAHL_GUE_TASKS, "promoter_terminator")
UNREADABLE = "<unreadable>"


@torch.no_grad()
def generate_answers(model, tokenizer, prompts: list[str], batch_size: int = 16, max_new_tokens: int = 16) -> list[str]:
    """Greedy answers to ``prompts``, batched by similar length with left padding; generation stops at EOS."""
    tokenizer.padding_side = "left"
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers = [""] * len(prompts)
    model.eval()
    for start in tqdm(range(0, len(order), batch_size), desc="answering", unit="batch"):
        batch = order[start : start + batch_size]
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


def alpaca_questions(rows: list[dict]) -> list[dict]:
    """The single-turn, single-sequence evaluation rows as Alpaca records (``instruction``, ``input``,
    ``output`` = the gold answer, ``task``), in the rows' order."""
    records = to_alpaca(Dataset.from_list(rows)).to_list()
    if len(records) != len(rows):
        raise ValueError(f"every evaluation row must hold exactly one question: {len(rows)} rows gave {len(records)}")
    for record, row in zip(records, rows):
        record["output"] = row["answers"][0]  # the canonical gold answer, not a phrased one
    return records


def answer_questions(model, tokenizer, records: list[dict], batch_size: int = 16, max_new_tokens: int = 16) -> list[dict]:
    """Our model's answers to the Alpaca ``records``, read as ChatNT's are (``task, question, answer, parsed,
    gold``)."""
    prompts = [alpaca_prompt(record["instruction"], record["input"]) for record in records]
    answers = generate_answers(model, tokenizer, prompts, batch_size, max_new_tokens)
    return [
        {
            "task": record["task"],
            "question": record["instruction"],
            "answer": answer,
            "parsed": normalize_answer(record["task"], answer, record["output"]),
            "gold": record["output"],
        }
        for record, answer in zip(records, answers)
    ]


def _first_line_label(answer: str, labels: tuple[str, ...]) -> str:
    """The label the answer's first line is, punctuation and spaces trimmed; else unreadable (the strictest
    reading: "promoter, promoter." is no answer)."""
    first = answer.strip().split("\n", 1)[0].strip(string.whitespace + string.punctuation)
    return first if first in labels else UNREADABLE


def published_scores(data_dir: str | Path | None = None) -> dict:
    """The published DNAHLM's stored answers on the DNAHL TEST records, per task: ``n``; MCC read three ways,
    an unreadable answer being a class of its own: by the first label stated (``mcc_first_label``), strictly
    as our model's answers are read (``mcc_strict``, :func:`~chatnt.tasks.answer_parsing.parse_label`: an
    echo of several labels is no answer) and by the first line being exactly a label (``mcc_first_line``);
    the share unreadable strictly; the published lenient accuracy (the label occurs anywhere in the answer).
    ``dnahl_gue_mean`` holds the MCC means over the four GUE tasks."""
    scores = {}
    for path in published_files(data_dir):
        records = load_published_records(path, split="test")
        for task in dict.fromkeys(record["task"] for record in records):
            task_records = [record for record in records if record["task"] == task]
            labels = get_task(task).labels
            truth = [record["output"] for record in task_records]
            answers = [record["model_response"] for record in task_records]
            first = [first_stated_label(answer, labels) or UNREADABLE for answer in answers]
            strict = [parse_label(answer, labels) or UNREADABLE for answer in answers]
            first_line = [_first_line_label(answer, labels) for answer in answers]
            scores[task] = {
                "n": len(task_records),
                "mcc_first_label": float(matthews_corrcoef(truth, first)),
                "mcc_strict": float(matthews_corrcoef(truth, strict)),
                "mcc_first_line": float(matthews_corrcoef(truth, first_line)),
                "unreadable_strict": sum(label == UNREADABLE for label in strict) / len(strict),
                "lenient_accuracy": sum(t in answer for t, answer in zip(truth, answers)) / len(truth),
            }
    if set(DNAHL_GUE_TASKS) <= set(scores):
        scores["dnahl_gue_mean"] = {
            key: sum(scores[task][key] for task in DNAHL_GUE_TASKS) / len(DNAHL_GUE_TASKS)
            for key in ("mcc_first_label", "mcc_strict", "mcc_first_line")
        }
    return scores


def published_table(published: dict, summary: dict) -> str:
    """The DNAHL tasks: the published model under the three readings beside our MCC and the k-mer baseline's."""
    lines = [
        "| task | n | published, first stated label | published, strict | published, first line | ours | k-mer baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in DNAHL_TASKS:
        if task not in published or task not in summary["tasks"]:
            continue
        kmer = summary.get("baselines", {}).get(task, {}).get("kmer", {}).get("value", float("nan"))
        lines.append(
            f"| {task} | {published[task]['n']} | {published[task]['mcc_first_label']:.3f} | "
            f"{published[task]['mcc_strict']:.3f} | {published[task]['mcc_first_line']:.3f} | "
            f"{summary['tasks'][task]['value']:.3f} | {kmer:.3f} |"
        )
    return "\n".join(lines) + "\n"


def unreadable_answers(tasks: dict) -> tuple[int, int]:
    """(unreadable answers, answers) over the per-task results of a summary (``summary["tasks"]``)."""
    return sum(result["n_unparsed"] for result in tasks.values()), sum(result["n"] for result in tasks.values())


def gue_mean(summary: dict, who: str = "ours") -> float | None:
    """Mean MCC over the four DNAHL GUE tasks (ours, or a baseline's: ``"kmer"``), ``None`` if one is missing."""
    if not set(DNAHL_GUE_TASKS) <= set(summary["tasks"]):
        return None
    if who == "ours":
        values = [summary["tasks"][task]["value"] for task in DNAHL_GUE_TASKS]
    else:
        values = [summary["baselines"][task][who]["value"] for task in DNAHL_GUE_TASKS]
    return sum(values) / len(values)


def evaluate(
    model,
    tokenizer,
    output_dir: str | Path,
    tasks: list[str] | None = None,
    max_per_task: int | None = EVALUATED_PER_TASK,
    uncapped: tuple[str, ...] = DNAHL_TASKS,
    phrasings: str = "held_out",
    batch_size: int = 16,
    data_dir: str | None = None,
    seed: int = 0,
) -> dict:
    """Answer every task's TEST questions, write the results (as ``evaluate_chatnt`` does) and the published
    model's scores; return the summary with ``published`` added."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = held_out_questions(list(tasks or TASKS), data_dir, max_per_task, seed, uncapped, phrasings)
    predictions = answer_questions(model, tokenizer, alpaca_questions(rows), batch_size)
    summary = write_results(output_dir, predictions, task_baselines(rows, data_dir, seed))
    summary["published"] = published_scores(data_dir)
    (output_dir / "published.json").write_text(json.dumps(summary["published"], indent=2) + "\n", encoding="utf-8")
    return summary


def headline(summary: dict) -> list[str]:
    """The ``key: value`` lines that end the evaluation."""
    lines = [f"{task}_{result['metric']}: {result['value']:.3f}" for task, result in summary["tasks"].items()]
    lines += [f"{task}_kmer_baseline: {result['kmer']['value']:.3f}" for task, result in summary["baselines"].items()]
    lines += [f"{task}_exact_match: {result['exact_match']:.3f}" for task, result in summary["tasks"].items()]
    unreadable, total = unreadable_answers(summary["tasks"])
    lines.append(f"unreadable_answers: {unreadable} of {total}")
    ours, kmer = gue_mean(summary), gue_mean(summary, "kmer")
    if ours is not None:
        lines.append(f"dnahl_gue_mean_mcc: {ours:.3f}")
        lines.append(f"dnahl_gue_mean_mcc_kmer_baseline: {kmer:.3f}")
    published = summary.get("published", {}).get("dnahl_gue_mean")
    if published:
        lines.append(f"dnahl_gue_mean_mcc_published_first_label: {published['mcc_first_label']:.3f}")
        lines.append(f"dnahl_gue_mean_mcc_published_strict: {published['mcc_strict']:.3f}")
        lines.append(f"dnahl_gue_mean_mcc_published_first_line: {published['mcc_first_line']:.3f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="A DNAHLM folder (sft.py or export.py output).")
    parser.add_argument("--output_dir", required=True, help="Where predictions, metrics.json and table.md go.")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), help="Registry task names (default: all ten).")
    parser.add_argument("--max_per_task", type=int, default=EVALUATED_PER_TASK,
                        help="Cap on TEST records per task (seeded), except the --uncapped tasks.")
    parser.add_argument("--uncapped", nargs="*", default=list(DNAHL_TASKS),
                        help="Tasks evaluated on every TEST record despite --max_per_task (default: the five DNAHL "
                        "tasks; give the flag alone to cap every task).")
    parser.add_argument("--phrasings", choices=PHRASING_POOLS, default="held_out",
                        help="held_out (the evaluation) or training (a diagnostic: the same records in tuned wording).")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--data_dir", default=None, help="The shared data folder (default ../shared/data).")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown task(s) {unknown}; registered: {sorted(TASKS)}")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model)
    summary = evaluate(model, tokenizer, args.output_dir, args.tasks, args.max_per_task, tuple(args.uncapped), args.phrasings,
                       args.batch_size, args.data_dir, args.seed)
    print(markdown_table(summary))
    print(published_table(summary["published"], summary))
    print("\n".join(headline(summary)))


if __name__ == "__main__":
    main()
