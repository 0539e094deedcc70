"""Fit and judge the Platt calibration of a ChatNT model's yes/no probabilities.

The perplexity-based classifier (:mod:`chatnt.perplexity_classifier`) turns a yes/no question into
P(yes) by comparing held-out "yes" and "no" answer phrasings. This script

1. builds balanced yes/no questions from the TRAINING split of every classification task (train question
   phrasings) and fits Platt scaling (logistic regression, ``C=0.1``, lbfgs) on their logit differences;
2. builds yes/no questions from the TEST split (held-out question phrasings, never trained on) and
   reports AUROC, MCC at 0.5 and the expected calibration error (10 bins) before and after calibration,
   pooled and per task, with a reliability diagram;
3. saves ``calibration.json`` in ``--output_dir`` and, with ``--save_to_model``, beside the model's
   weights, where ``chatnt.perplexity_classifier.classify`` and ``pipeline(..., return_confidence=True)`` pick it up.

    python -m chatnt.training.calibrate_chatnt --model checkpoints/chatnt-mini --output_dir runs/calibrate-chatnt-mini \\
        --train_per_task 30 --test_per_task 40 --bf16 --save_to_model

writes ``metrics.json``, ``table.md``, ``table.csv``, ``predictions.jsonl`` (task, question, label, raw and
calibrated P(yes)), ``reliability.png``, and ends with one ``key: value`` line per headline figure.

A yes/no question names one of the task's labels ("Is it true that @seq is a promoter?"); the label asked
about is drawn at random per record, and each task's questions are balanced between yes and no answers,
so a model that always says "yes" scores MCC 0 and its ECE shows the bias.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import random
from pathlib import Path

import numpy as np
import torch
from chatnt.evaluation.confidence import confidence_metrics, reliability_diagram
from chatnt.calibration import PlattCalibrator
from chatnt.perplexity_classifier import PerplexityClassifier
from chatnt.tasks.registry import TASKS, load_task
from chatnt.tasks.instruction_data import InstructionConfig, build_task_rows
from tqdm.auto import tqdm

CLASSIFICATION_TASKS = tuple(name for name, spec in TASKS.items() if spec.type != "regression")
HEADLINE_KEYS = ("auroc", "mcc", "ece")


def yes_no_questions(
    tasks: list[str], split: str, per_task: int, seed: int = 0, data_dir: str | None = None
) -> list[dict]:
    """Balanced yes/no questions about ``split`` records: ``per_task`` per task, half answered yes.

    Returns:
        Rows ``{"task", "question", "sequences" (name -> DNA), "label" (1 = yes)}``. The question phrasings
        are the split's own (training phrasings for the train split, held-out ones for the test split); no
        system message, so the model's processor adds the one it was trained with.
    """
    if per_task < 2:
        raise ValueError(f"per_task must be at least 2 (one yes and one no question), got {per_task}.")
    config = InstructionConfig(
        seed=seed, pair_fraction=0.0, yes_no_fraction=1.0, multi_turn_fraction=0.0, system_message=None
    )
    rows = []
    for task in tasks:
        if task not in CLASSIFICATION_TASKS:
            raise ValueError(f"{task!r} is not a classification task; choose among {', '.join(CLASSIFICATION_TASKS)}.")
        data = load_task(task, data_dir=data_dir, seed=seed, split=split).shuffle(seed=seed)
        # A label is asked about at random, so yes answers are rarer for many-label tasks: build enough rows.
        data = data.select(range(min(data.num_rows, 6 * per_task)))
        by_answer = {"yes": [], "no": []}
        for row in build_task_rows(task, data, config):
            answer = row["answers"][0]
            if answer in by_answer:
                question = next(m["content"] for m in row["messages"] if m["role"] == "user")
                sequences = {entry["name"]: entry["sequence"] for entry in row["sequences"]}
                by_answer[answer].append({"task": task, "question": question, "sequences": sequences, "label": int(answer == "yes")})
        half = per_task // 2
        if min(len(by_answer["yes"]), len(by_answer["no"])) < half:
            raise ValueError(
                f"{task} ({split}): only {len(by_answer['yes'])} yes and {len(by_answer['no'])} no questions for "
                f"{half} of each; lower per_task."
            )
        rng = random.Random(f"{seed}:{task}:{split}")
        rows += rng.sample(by_answer["yes"], half) + rng.sample(by_answer["no"], half)
    return rows


def logit_differences(model, processor, rows: list[dict], batch_size: int = 4, bf16: bool = False) -> np.ndarray:
    """The classifier's yes-minus-no score per row (``batch_size`` questions per forward pass)."""
    classifier = PerplexityClassifier(batch_size=batch_size)
    autocast = torch.autocast(model.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    scores = []
    with autocast:
        for start in tqdm(range(0, len(rows), batch_size), desc="scoring yes/no", unit="batch"):
            chunk = rows[start : start + batch_size]
            scores.append(
                classifier.logit_difference(
                    model, processor, [row["question"] for row in chunk], [row["sequences"] for row in chunk]
                )
            )
    return torch.cat(scores).double().numpy()


def calibration_report(rows: list[dict], raw: np.ndarray, calibrated: np.ndarray) -> dict:
    """AUROC / MCC / ECE before and after calibration, pooled and per task."""
    labels = np.array([row["label"] for row in rows])
    tasks = [row["task"] for row in rows]
    report = {"all": {"n": len(rows), "before": confidence_metrics(raw, labels), "after": confidence_metrics(calibrated, labels)}}
    for task in dict.fromkeys(tasks):
        mask = np.array([t == task for t in tasks])
        report[task] = {
            "n": int(mask.sum()),
            "before": confidence_metrics(raw[mask], labels[mask]),
            "after": confidence_metrics(calibrated[mask], labels[mask]),
        }
    return report


def table_rows(report: dict) -> list[list]:
    header = ["task", "n"] + [f"{key}_{when}" for key in HEADLINE_KEYS for when in ("before", "after")]
    body = [
        [task, entry["n"]] + [round(entry[when][key], 3) for key in HEADLINE_KEYS for when in ("before", "after")]
        for task, entry in report.items()
    ]
    return [header] + body


def write_outputs(output_dir: Path, rows, raw, calibrated, report, calibrator: PlattCalibrator, train_questions: int) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    calibrator.save(output_dir)
    fitted = {"coef": calibrator.coef, "intercept": calibrator.intercept, "train_questions": train_questions}
    (output_dir / "metrics.json").write_text(json.dumps({"calibrator": fitted, "test": report}, indent=2) + "\n")
    table = table_rows(report)
    with open(output_dir / "table.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(table)
    lines = ["| " + " | ".join(map(str, table[0])) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(f"{value:.3f}" if isinstance(value, float) else str(value) for value in row) + " |" for row in table[1:]]
    (output_dir / "table.md").write_text("\n".join(lines) + "\n")
    with open(output_dir / "predictions.jsonl", "w") as handle:
        for row, p_raw, p in zip(rows, raw.tolist(), calibrated.tolist()):
            record = {"task": row["task"], "question": row["question"], "label": row["label"], "p_yes_raw": p_raw, "p_yes": p}
            handle.write(json.dumps(record) + "\n")
    labels = [row["label"] for row in rows]
    reliability_diagram(raw, calibrated, labels, output_dir / "reliability.png")


def calibrate(
    model,
    processor,
    tasks: list[str],
    output_dir: str | Path,
    train_per_task: int = 40,
    test_per_task: int = 60,
    batch_size: int = 4,
    bf16: bool = False,
    seed: int = 0,
    data_dir: str | None = None,
) -> tuple[PlattCalibrator, dict]:
    """Fits Platt scaling on training-split questions, reports test-split metrics, writes the outputs."""
    model.eval()
    train_rows = yes_no_questions(tasks, "train", train_per_task, seed, data_dir)
    test_rows = yes_no_questions(tasks, "test", test_per_task, seed, data_dir)
    train_logits = logit_differences(model, processor, train_rows, batch_size, bf16)
    calibrator = PlattCalibrator().fit(train_logits, [row["label"] for row in train_rows])
    test_logits = logit_differences(model, processor, test_rows, batch_size, bf16)
    raw = 1.0 / (1.0 + np.exp(-test_logits))  # the softmax of the two class scores
    calibrated = calibrator.transform(test_logits)
    report = calibration_report(test_rows, raw, calibrated)
    write_outputs(Path(output_dir), test_rows, raw, calibrated, report, calibrator, len(train_rows))
    return calibrator, report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="ChatNT directory (or Hub id)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--tasks", nargs="+", default=list(CLASSIFICATION_TASKS), help="classification tasks (default: all)")
    parser.add_argument("--train_per_task", type=int, default=40, help="training-split questions per task (fit)")
    parser.add_argument("--test_per_task", type=int, default=60, help="test-split questions per task (report)")
    parser.add_argument("--batch_size", type=int, default=4, help="questions per forward pass")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (as chatnt-mini was trained)")
    parser.add_argument("--save_to_model", action="store_true", help="also write calibration.json beside the model")
    parser.add_argument("--data_dir", default=None, help="the shared data folder (default ../shared/data)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from chatnt import ChatNTForConditionalGeneration, ChatNTProcessor

    model = ChatNTForConditionalGeneration.from_pretrained(args.model)
    processor = ChatNTProcessor.from_pretrained(args.model)
    calibrator, report = calibrate(
        model, processor, args.tasks, args.output_dir, args.train_per_task, args.test_per_task,
        args.batch_size, args.bf16, args.seed, args.data_dir,
    )
    if args.save_to_model:
        print(f"saved {calibrator.save(args.model)}")
    print((Path(args.output_dir) / "table.md").read_text())
    for key in HEADLINE_KEYS:
        for when in ("before", "after"):
            print(f"{key}_{when}: {report['all'][when][key]:.3f}")


if __name__ == "__main__":
    main()
