"""Ablations of ChatNT on one budget: which projection, and one model for all tasks or one per task.

1. Projection: the English-aware Perceiver, the plain Perceiver and a linear projection are each tuned
   with the ``mini`` SFT recipe (:mod:`chatnt.training.chatnt_sft`) on the same rows, in the same order,
   for the same number of steps, then scored on the test split (:mod:`chatnt.training.evaluate_chatnt`).
   The paper reports an average MCC of 0.77 for the English-aware Perceiver and 0.71 without English.
   ``--num_latents``, ``--train_dna_encoder`` and ``--builder_kwargs`` give the variants the shape and the rows
   of the shipped recipe (e.g. its frozen stage-1 encoder and 8 latents).
2. Single-task ChatNT (``--single_task_chatnt TASK ...``): the same recipe (English-aware Perceiver) tuned on
   one task alone, for as many conversations of it as the multi-task model saw of each task
   (``--multitask_steps`` x ``--batch_size`` / ``--multitask_tasks``), scored on the same test records as
   the multi-task model (``--test_per_task``): does sharing one model across tasks cost or help?
3. Single-task classifiers: the same pre-trained encoder with a linear head on its mean embedding
   (``NucleotideTransformerForSequenceClassification``), one per task, trained (a) on as many records of
   the task as a multi-task model of ``--multitask_steps`` steps of ``--batch_size`` sees of it (one
   epoch), and (b) on 10 epochs of the task's whole train split (at most 1,000 steps of 16 records). Their test metrics sit beside the multi-task model's
   (``--multitask_metrics``, a ``metrics.json`` of ``evaluate_chatnt``).

    python -m chatnt.training.projection_ablation --output_dir runs/ablation \\
        --multitask_metrics runs/eval-chatnt-mini/metrics.json

Finished parts are kept (a model directory with ``config.json``, a ``metrics.json``), so a re-run picks
up where an interrupted one stopped. Writes ``ablation.md`` and ends with ``key: value`` lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from chatnt.modeling_nucleotide_transformer import (
    NucleotideTransformerForSequenceClassification,
)
from chatnt.tokenization_nucleotide_transformer import NucleotideTransformerTokenizer
from chatnt.training import chatnt_sft
from chatnt.training.evaluate_chatnt import DNAHL_GUE_TASKS, evaluate_model
from chatnt.tasks.registry import TASKS, get_task, load_task
from scipy.stats import pearsonr
from sklearn.metrics import f1_score, matthews_corrcoef
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

PROJECTORS = ("english_aware_perceiver", "perceiver", "linear")


# Rows of the projection variants unless --builder_kwargs says otherwise: the task's own question only.
SINGLE_QUESTION_ROWS = {"pair_fraction": 0.0, "yes_no_fraction": 0.0, "multi_turn_fraction": 0.0}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What every ChatNT variant of one ablation shares: the ``mini`` recipe's encoder, shape and rows."""

    encoder: str
    steps: int
    batch_size: int
    seed: int
    num_latents: int | None = None  # None: the preset's
    train_dna_encoder: bool = True
    builder_kwargs: dict = dataclasses.field(default_factory=lambda: dict(SINGLE_QUESTION_ROWS))
    learning_rate: float | None = None  # None: the preset's
    decoder: str | None = None  # None: the preset's


def train_variant(model_dir: Path, projector: str, tasks: list[str], recipe: Recipe) -> Path:
    """One SFT run of the ``mini`` recipe with ``projector`` on the rows of ``tasks``; kept if already done."""
    if (model_dir / "config.json").is_file():
        return model_dir
    builder_kwargs = {"seed": recipe.seed, **recipe.builder_kwargs, "tasks": tasks}
    optional = []
    if recipe.num_latents is not None:  # ignored by the linear projection, like the other Perceiver fields
        optional += ["--num_latents", str(recipe.num_latents)]
    if recipe.learning_rate is not None:
        optional += ["--learning_rate", str(recipe.learning_rate)]
    if recipe.decoder is not None:
        optional += ["--decoder", recipe.decoder]
    chatnt_sft.main(
        [
            "--preset", "mini",
            "--encoder", recipe.encoder,
            "--train_dna_encoder", str(recipe.train_dna_encoder),
            "--projector_type", projector,
            "--dataset", "chatnt.tasks.instruction_data:build_instruction_dataset",
            "--builder_kwargs", json.dumps(builder_kwargs),
            "--output_dir", str(model_dir),
            "--max_steps", str(recipe.steps),
            "--per_device_train_batch_size", str(recipe.batch_size),
            "--warmup_steps", str(max(1, recipe.steps // 15)),
            "--eval_strategy", "no",
            "--save_strategy", "no",
            "--report_to", "none",
            "--seed", str(recipe.seed),
            *optional,
        ]
    )  # fmt: skip
    return model_dir


def evaluate_variant(model_dir: Path, tasks: list[str], max_per_task: int, seed: int) -> dict:
    metrics_path = model_dir / "test" / "metrics.json"
    if metrics_path.is_file():
        return json.loads(metrics_path.read_text())
    from chatnt.modeling_chatnt import ChatNTForConditionalGeneration
    from chatnt.processing_chatnt import ChatNTProcessor

    model = ChatNTForConditionalGeneration.from_pretrained(model_dir)
    processor = ChatNTProcessor.from_pretrained(model_dir)
    return evaluate_model(model, processor, tasks, model_dir / "test", max_per_task=max_per_task, seed=seed)


def _targets(task: str, labels: list) -> list:
    """Classifier targets: class index, multi-hot vector or float value."""
    spec = get_task(task)
    if spec.type == "regression":
        return [float(value) for value in labels]
    if spec.type == "multilabel":
        return [[float(label in set(value)) for label in spec.labels] for value in labels]
    return [spec.labels.index(value) for value in labels]


def classifier_metric(task: str, logits: np.ndarray, targets: list) -> float:
    spec = get_task(task)
    if spec.type == "regression":
        return float(pearsonr(logits[:, 0], targets)[0])
    if spec.type == "multilabel":
        return float(f1_score(np.array(targets), logits > 0, average="micro", zero_division=0.0))
    return float(matthews_corrcoef(targets, logits.argmax(-1)))


def _classifier_splits(task: str, tokenizer, max_length: int, max_train_records: int | None, seed: int) -> dict:
    """``{"train": [...], "test": [...]}`` tokenized examples of ``task`` (shuffled with ``seed``; TRAIN capped)."""
    records = load_task(task, seed=seed)
    splits = {}
    for split in ("train", "test"):
        data = records.filter(lambda row, split=split: row["split"] == split).shuffle(seed=seed)
        if split == "train" and max_train_records is not None:
            data = data.select(range(min(max_train_records, data.num_rows)))
        targets = _targets(task, data["label"])
        # Sequences longer than the encoder (long rRNA genes) keep their first max_length tokens; the
        # ChatNT runs see the same window through the processor's limit.
        encoded = tokenizer(data["sequence"], truncation=True, max_length=max_length)
        splits[split] = [
            {"input_ids": ids, "attention_mask": mask, "labels": target}
            for ids, mask, target in zip(encoded["input_ids"], encoded["attention_mask"], targets)
        ]
    return splits


def train_single_task_classifier(
    task: str,
    encoder: str,
    output_dir: Path,
    max_train_records: int | None,
    seed: int,
    epochs: int = 1,
    max_steps: int | None = None,
    batch_size: int = 16,
) -> dict:
    """Train one encoder + linear head on ``task``: at most ``max_train_records`` records, ``epochs`` passes,
    stopped after ``max_steps`` steps when that comes first."""
    metrics_path = output_dir / "metrics.json"
    if metrics_path.is_file():
        return json.loads(metrics_path.read_text())
    spec = get_task(task)
    tokenizer = NucleotideTransformerTokenizer.from_pretrained(encoder)
    problem_type = {"regression": "regression", "multilabel": "multi_label_classification"}.get(
        spec.type, "single_label_classification"
    )
    num_labels = 1 if spec.type == "regression" else len(spec.labels)
    # Seed before the head is initialised (the Trainer seeds only later): otherwise its initial weights,
    # and the result, depend on whatever ran before in the same process.
    set_seed(seed)
    model = NucleotideTransformerForSequenceClassification.from_pretrained(
        encoder, num_labels=num_labels, problem_type=problem_type
    )
    splits = _classifier_splits(task, tokenizer, model.config.max_position_embeddings, max_train_records, seed)
    args = TrainingArguments(
        output_dir=str(output_dir),
        # max_steps overrides epochs in the Trainer, so it is set to whichever limit comes first.
        max_steps=min(max_steps or sys.maxsize, epochs * math.ceil(len(splits["train"]) / batch_size)),
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=64,
        learning_rate=3e-4,
        warmup_steps=0.05,
        lr_scheduler_type="cosine",
        save_strategy="no",
        report_to="none",
        logging_steps=50,
        seed=seed,
        use_cpu=not torch.accelerator.is_available(),
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=splits["train"], data_collator=DataCollatorWithPadding(tokenizer)
    )
    trainer.train()
    logits = trainer.predict(splits["test"]).predictions
    test_targets = [row["labels"] for row in splits["test"]]
    result = {
        "task": task,
        "metric": spec.metric,
        "value": classifier_metric(task, np.asarray(logits), test_targets),
        "n_train": len(splits["train"]),
        "n": len(splits["test"]),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _bool(text: str) -> bool:
    if text not in ("True", "False"):
        raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")
    return text == "True"


def projection_table(tasks: list[str], recipe: Recipe, output_dir: Path, test_per_task: int, figures: dict) -> list[str]:
    lines = [
        f"Projection ablation: {recipe.steps} steps x {recipe.batch_size} conversations on {', '.join(tasks)} "
        f"(encoder {recipe.encoder}, {'trained' if recipe.train_dna_encoder else 'frozen'}); test split, held-out "
        f"phrasings, {test_per_task} records per task.",
        "",
        "| projection | " + " | ".join(tasks) + " | mean |",
        "|---|" + "---|" * (len(tasks) + 1),
    ]
    for projector in PROJECTORS:
        model_dir = train_variant(output_dir / projector, projector, tasks, recipe)
        gc.collect()
        summary = evaluate_variant(model_dir, tasks, test_per_task, recipe.seed)
        values = [summary["tasks"][task]["value"] for task in tasks]
        mean = float(np.mean(values))
        figures[f"mean_{projector}"] = mean
        lines.append(f"| {projector} | " + " | ".join(_fmt(v) for v in values) + f" | {_fmt(mean)} |")
    for baseline, name in (("kmer", "k-mer baseline (same records)"), ("majority", "majority class")):
        values = [summary["baselines"][task][baseline]["value"] for task in tasks]
        lines.append(f"| {name} | " + " | ".join(_fmt(v) for v in values) + f" | {_fmt(float(np.mean(values)))} |")
    return lines + [""]


def single_task_chatnt_table(
    tasks: list[str], recipe: Recipe, output_dir: Path, test_per_task: int, multitask: dict, figures: dict
) -> list[str]:
    """Rows of single-task ChatNT runs beside the multi-task model's scores (``multitask``: its metrics per task)."""
    lines = [
        f"Multi-task vs single-task ChatNT, same recipe and encoder ({recipe.encoder}): each single-task model is "
        f"tuned on its task alone for {recipe.steps} steps x {recipe.batch_size} conversations (what the multi-task "
        "model saw of each task); test split, held-out phrasings, the multi-task evaluation's records (n).",
        "",
        "| task | metric | multi-task ChatNT | single-task ChatNT | k-mer baseline (same records) | n |",
        "|---|---|---|---|---|---|",
    ]
    for task in tasks:
        model_dir = train_variant(output_dir / "single_task_chatnt" / task, "english_aware_perceiver", [task], recipe)
        gc.collect()
        # As many seeded records as the multi-task evaluation took: the same ones (both take the first n of one
        # seeded shuffle, or every record).
        records = multitask.get(task, {}).get("n", test_per_task)
        summary = evaluate_variant(model_dir, [task], records, recipe.seed)
        result, kmer = summary["tasks"][task], summary["baselines"][task]["kmer"]["value"]
        figures[f"single_task_chatnt_{task}"] = result["value"]
        shared = multitask.get(task, {}).get("value")
        lines.append(f"| {task} | {result['metric']} | {_fmt(shared)} | {_fmt(result['value'])} | {_fmt(kmer)} | "
                     f"{result['n']} |")
    return lines + [""]


def classifier_table(args, output_dir: Path, multitask: dict, figures: dict) -> list[str]:
    per_task_budget = args.multitask_steps * args.batch_size // args.multitask_tasks
    lines = [
        f"Multi-task ChatNT vs single-task classifiers on the same encoder ({args.encoder}); test split. "
        f"'matched' sees {per_task_budget} training records per task (what the multi-task model saw of each), "
        "'full' 10 epochs of the whole train split (at most 1,000 steps of 16).",
        "",
        "| task | metric | multi-task ChatNT | single-task, matched | single-task, full (n train) | n test |",
        "|---|---|---|---|---|---|",
    ]
    for task in args.classifier_tasks:
        matched = train_single_task_classifier(
            task, args.encoder, output_dir / "single_task" / f"{task}-matched", per_task_budget, args.seed
        )
        full = train_single_task_classifier(
            task, args.encoder, output_dir / "single_task" / f"{task}-full", None, args.seed, epochs=10, max_steps=1000
        )
        chatnt_value = multitask.get(task, {}).get("value")
        lines.append(
            f"| {task} | {full['metric']} | {_fmt(chatnt_value)} | {_fmt(matched['value'])} | "
            f"{_fmt(full['value'])} ({full['n_train']}) | {full['n']} |"
        )
        figures[f"single_task_full_{task}"] = full["value"]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", default="runs/ablation")
    parser.add_argument("--encoder", default="checkpoints/nt-mini-encoder")
    parser.add_argument("--decoder", default=None, help="The frozen decoder (default: the preset's).")
    parser.add_argument("--train_dna_encoder", type=_bool, default=True, help="True or False (the shipped: False).")
    parser.add_argument("--num_latents", type=int, default=None, help="Perceiver latents (default: the preset's).")
    parser.add_argument("--learning_rate", type=float, default=None, help="SFT learning rate (default: the preset's).")
    parser.add_argument("--builder_kwargs", type=json.loads, default=None,
                        help="JSON rows settings of every ChatNT variant (default: the task's own question only).")
    parser.add_argument("--projection_tasks", nargs="+", default=list(DNAHL_GUE_TASKS))
    parser.add_argument("--projection_steps", type=int, default=100, help="SFT steps of each projection variant.")
    parser.add_argument("--batch_size", type=int, default=8, help="Conversations per SFT step.")
    parser.add_argument("--test_per_task", type=int, default=100, help="Test records per task for the variants.")
    parser.add_argument("--single_task_chatnt", nargs="*", default=[], help="Tasks to tune a single-task ChatNT on.")
    parser.add_argument("--classifier_tasks", nargs="*", default=list(TASKS), help="Single-task classifiers (none: skip).")
    parser.add_argument("--multitask_metrics", default=None, help="metrics.json of the multi-task model.")
    parser.add_argument("--multitask_steps", type=int, default=330, help="Steps of the multi-task model.")
    parser.add_argument("--multitask_tasks", type=int, default=len(TASKS), help="Tasks the multi-task model mixed.")
    parser.add_argument("--skip_projection", action="store_true", help="No projection variants.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    output_dir = Path(args.output_dir)
    recipe = Recipe(args.encoder, args.projection_steps, args.batch_size, args.seed, args.num_latents,
                    args.train_dna_encoder, args.builder_kwargs or dict(SINGLE_QUESTION_ROWS), args.learning_rate,
                    args.decoder)
    multitask = json.loads(Path(args.multitask_metrics).read_text())["tasks"] if args.multitask_metrics else {}
    lines, figures = [], {}
    if not args.skip_projection:
        lines += projection_table(args.projection_tasks, recipe, output_dir, args.test_per_task, figures)
    if args.single_task_chatnt:
        matched = dataclasses.replace(recipe, steps=max(1, args.multitask_steps // args.multitask_tasks))
        lines += single_task_chatnt_table(args.single_task_chatnt, matched, output_dir, args.test_per_task, multitask,
                                          figures)
    if args.classifier_tasks:
        lines += classifier_table(args, output_dir, multitask, figures)
    table = "\n".join(lines) + "\n"
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "ablation.md").write_text(table, encoding="utf-8")
    print(table)
    for key, value in figures.items():
        print(f"{key}: {_fmt(value)}")


if __name__ == "__main__":
    main()
