"""Supervised multi-task warm-up of the DNA encoder on every task's TRAIN split, with the HF Trainer.

Why: ChatNT's answers can only be as good as what the encoder's token embeddings carry, and the masked-LM
pre-training this CPU affords (``chatnt.training.encoder_pretraining``, 25 minutes) leaves the mini encoder near
chance at predicting masked 6-mers. Teaching the encoder the tasks directly is cheap (the encoder alone, a few
milliseconds a sequence) and the expensive ChatNT stage then only has to learn how to *say* what the encoder
already separates. The heads are discarded afterwards: only the encoder is saved.

Model: the NT v2 encoder, mean-pooled over real tokens, one linear head per task (cross-entropy for binary and
multiclass tasks, binary cross-entropy per label for multilabel ones, squared error on the standardised value for
regression). Data: each task's TRAIN records (``chatnt.tasks.registry.load_task``), minus a validation
tenth chosen by a hash of the record id; TEST records are never seen. Tasks are drawn with probabilities
proportional to the square root of their sizes (``--temperature 0.5``), so the 79-record tasks are repeated
instead of drowned and the 7,800-record ones still dominate what the encoder learns.

    python -m chatnt.training.encoder_multitask --output_dir runs/nt-mini-multitask
    python -m chatnt.training.encoder_multitask --output_dir runs/nt-mini-multitask \\
        --resume_from_checkpoint runs/nt-mini-multitask/checkpoint-600

Saves the encoder (``NucleotideTransformerModel``, safetensors) and its tokenizer to ``output_dir``, loadable by
``ChatNTForConditionalGeneration.from_encoder_decoder_pretrained`` and by the SFT recipe's ``--encoder``; writes
``scores.json`` (each head's validation and TEST score) and ends with ``<task>_validation`` and ``<task>_test``
lines (the task's own metric).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from torch import nn
from transformers import EvalPrediction, Trainer, TrainingArguments, set_seed

from chatnt.evaluation.metrics import score_task
from chatnt.modeling_nucleotide_transformer import NucleotideTransformerModel
from chatnt.tokenization_nucleotide_transformer import NucleotideTransformerTokenizer
from chatnt.tasks.registry import TASKS, TaskSpec, get_task, load_task, stable_hash
from chatnt.training.presets import parse_with_preset

PRESETS = {
    "mini": {
        "encoder": "checkpoints/nt-mini-encoder",
        "training": {
            "per_device_train_batch_size": 32,
            "per_device_eval_batch_size": 64,
            "learning_rate": 5e-4,
            "warmup_steps": 100,
            "lr_scheduler_type": "cosine",
            "weight_decay": 0.01,
            "max_grad_norm": 1.0,
            "num_train_epochs": 1,
            "logging_steps": 50,
            "eval_strategy": "steps",
            "eval_steps": 500,
            "save_steps": 250,
            "save_total_limit": 2,
            # Rows of one length in a batch: a mixed batch pads 70 bp records to the 2 kb ones (335 tokens).
            "train_sampling_strategy": "group_by_length",
            # bf16 autocast: 1.4x (300 bp) to 2x (2 kb) faster steps on this CPU.
            "bf16": True,
        },
    },
}


@dataclass
class WarmupArguments:
    """The encoder to start from, the tasks, and the training mixture."""

    preset: str = field(default="mini", metadata={"help": f"Defaults: one of {sorted(PRESETS)}."})
    encoder: str | None = field(default=None, metadata={"help": "NT v2 checkpoint to start from (preset default)."})
    tasks: str = field(default=",".join(TASKS), metadata={"help": "Comma-separated registry tasks."})
    data_dir: str | None = field(default=None, metadata={"help": "Data folder (default ../shared/data)."})
    draws: int = field(default=48_000, metadata={"help": "Training rows drawn (with repetition) for the run."})
    temperature: float = field(default=0.5, metadata={"help": "Task i is drawn with probability ~ size_i ** T."})
    validation_fraction: float = field(default=0.1, metadata={"help": "Share of TRAIN records held out, by id hash."})
    dropout: float = field(default=0.1, metadata={"help": "Hidden and attention dropout while warming up."})


def head_width(task: TaskSpec) -> int:
    return 1 if task.type == "regression" else len(task.labels)


class MultiTaskEncoder(nn.Module):
    """The encoder, mean-pooled over real tokens, with one linear head per task.

    Labels come as a float row per record, as wide as the widest head: the class index in column 0 (binary,
    multiclass), a multi-hot row (multilabel), or the standardised value in column 0 (regression).
    """

    def __init__(self, encoder: NucleotideTransformerModel, tasks: list[TaskSpec]):
        super().__init__()
        self.encoder = encoder
        self.tasks = tasks
        self.heads = nn.ModuleList(nn.Linear(encoder.config.hidden_size, head_width(task)) for task in tasks)
        self.width = max(head_width(task) for task in tasks)

    def forward(self, input_ids, attention_mask, task_index, labels=None):
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.to(states.dtype).unsqueeze(-1)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        logits = pooled.new_zeros(len(pooled), self.width, dtype=torch.float32)
        total = pooled.new_zeros((), dtype=torch.float32)
        for index, (task, head) in enumerate(zip(self.tasks, self.heads)):
            rows = task_index == index
            if not rows.any():
                continue
            out = head(pooled[rows]).float()
            logits[rows, : out.shape[1]] = out
            if labels is not None:
                total = total + task_loss(task, out, labels[rows])
        loss = total / len(pooled) if labels is not None else None
        return {"loss": loss, "logits": logits}


def task_loss(task: TaskSpec, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The summed loss of one task's rows (see :class:`MultiTaskEncoder` for the label layout)."""
    if task.type == "regression":
        return F.mse_loss(logits[:, 0], labels[:, 0], reduction="sum")
    if task.type == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, labels[:, : logits.shape[1]], reduction="sum")
    return F.cross_entropy(logits, labels[:, 0].long(), reduction="sum")


class LabelCoder:
    """Registry labels <-> the float rows :class:`MultiTaskEncoder` trains on (regression standardised on TRAIN)."""

    def __init__(self, tasks: list[TaskSpec], train_values: dict[str, list[float]]):
        self.tasks = tasks
        self.width = max(head_width(task) for task in tasks)
        self.scale = {name: (float(np.mean(values)), float(np.std(values)) or 1.0) for name, values in train_values.items()}

    def encode(self, task: TaskSpec, label) -> list[float]:
        row = [0.0] * self.width
        if task.type == "regression":
            mean, std = self.scale[task.name]
            row[0] = (float(label) - mean) / std
        elif task.type == "multilabel":
            for name in label:
                row[task.labels.index(name)] = 1.0
        else:
            row[0] = float(task.labels.index(label))
        return row

    def label(self, task: TaskSpec, row: np.ndarray):
        """The label a training row encodes (the inverse of :meth:`encode`)."""
        if task.type == "regression":
            mean, std = self.scale[task.name]
            return float(row[0]) * std + mean
        if task.type == "multilabel":
            return tuple(name for name, value in zip(task.labels, row) if value > 0.5)
        return task.labels[int(row[0])]

    def decode(self, task: TaskSpec, logits: np.ndarray):
        """The label a head's logits predict."""
        if task.type == "regression":
            mean, std = self.scale[task.name]
            return float(logits[0]) * std + mean
        width = head_width(task)
        if task.type == "multilabel":
            return tuple(name for name, value in zip(task.labels, logits[:width]) if value > 0)
        return task.labels[int(np.argmax(logits[:width]))]


def split_records(data, validation_fraction: float) -> dict[str, list[dict]]:
    """``train`` / ``validation`` (a hashed share of TRAIN) / ``test`` records of one task."""
    parts = {"train": [], "validation": [], "test": []}
    for record in data:
        if record["split"] == "test":
            parts["test"].append(record)
        elif stable_hash(f"validation:{record['id']}") % 1000 < validation_fraction * 1000:
            parts["validation"].append(record)
        else:
            parts["train"].append(record)
    return parts


def draw_mixture(sizes: list[int], draws: int, temperature: float, seed: int) -> list[tuple[int, int]]:
    """``draws`` (task, record) pairs: tasks ~ size ** temperature, each task's records cycled in a shuffled order,
    so every record of a task is seen before any is repeated."""
    rng = random.Random(seed)
    weights = [size**temperature if size else 0.0 for size in sizes]
    orders = [rng.sample(range(size), size) for size in sizes]
    positions = [0] * len(sizes)
    pairs = []
    for task in rng.choices(range(len(sizes)), weights=weights, k=draws):
        pairs.append((task, orders[task][positions[task] % sizes[task]]))
        positions[task] += 1
    return pairs


def encode_rows(records: list[tuple[int, dict]], tasks, coder: LabelCoder, tokenizer) -> Dataset:
    """Tokenized training rows for ``(task index, record)`` pairs; ``length`` feeds the length-grouped sampler."""
    rows = {"input_ids": [], "task_index": [], "labels": [], "length": []}
    for task_index, record in records:
        ids = tokenizer(record["sequence"])["input_ids"]
        rows["input_ids"].append(ids)
        rows["task_index"].append(task_index)
        rows["labels"].append(coder.encode(tasks[task_index], record["label"]))
        rows["length"].append(len(ids))
    return Dataset.from_dict(rows)


class Collator:
    """Pads a batch on the right (the encoder masks padding, and the pooling averages real tokens only)."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(row["input_ids"]) for row in rows)
        ids = torch.full((len(rows), longest), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for index, row in enumerate(rows):
            ids[index, : len(row["input_ids"])] = torch.tensor(row["input_ids"])
            mask[index, : len(row["input_ids"])] = 1
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "task_index": torch.tensor([row["task_index"] for row in rows]),
            "labels": torch.tensor([row["labels"] for row in rows], dtype=torch.float32),
        }


def head_scores(tasks, coder: LabelCoder, logits: np.ndarray, labels: np.ndarray, task_index: np.ndarray) -> dict:
    """Each task's registry metric (``score_task``'s ``value``) on the rows given."""
    scores = {}
    for index, task in enumerate(tasks):
        rows = np.flatnonzero(task_index == index)
        if len(rows) == 0:
            continue
        gold = [coder.label(task, labels[row]) for row in rows]
        predicted = [coder.decode(task, logits[row]) for row in rows]
        scores[task.name] = score_task(task, gold, predicted)["value"]
    return scores


def warm_up(args: WarmupArguments, training_args: TrainingArguments) -> dict:
    """Train, save the encoder and its tokenizer to ``output_dir``, and return every head's scores."""
    set_seed(training_args.seed)
    tasks = [get_task(name) for name in args.tasks.split(",")]
    splits = {task.name: split_records(load_task(task.name, args.data_dir), args.validation_fraction) for task in tasks}
    coder = LabelCoder(
        tasks, {task.name: [r["label"] for r in splits[task.name]["train"]] for task in tasks if task.type == "regression"}
    )
    start = args.encoder or PRESETS[args.preset]["encoder"]
    tokenizer = NucleotideTransformerTokenizer.from_pretrained(start)
    encoder = NucleotideTransformerModel.from_pretrained(
        start,
        hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout, use_safetensors=True,
    )
    model = MultiTaskEncoder(encoder, tasks)
    mixture = draw_mixture([len(splits[t.name]["train"]) for t in tasks], args.draws, args.temperature, training_args.seed)
    train = encode_rows([(t, splits[tasks[t].name]["train"][i]) for t, i in mixture], tasks, coder, tokenizer)
    held_out = {
        split: encode_rows([(t, r) for t, task in enumerate(tasks) for r in splits[task.name][split]], tasks, coder, tokenizer)
        for split in ("validation", "test")
    }

    def compute_metrics(prediction: EvalPrediction) -> dict:
        labels, task_index = prediction.label_ids
        return head_scores(tasks, coder, prediction.predictions, labels, task_index)

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=held_out["validation"],
        data_collator=Collator(tokenizer.pad_token_id),
        compute_metrics=compute_metrics,
    )
    trained = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    scores = {split: trainer.evaluate(rows, metric_key_prefix=split) for split, rows in held_out.items()}
    output = Path(training_args.output_dir)
    # Dropout was for the warm-up only: the saved encoder is configured as it will be used.
    model.encoder.config.hidden_dropout_prob = model.encoder.config.attention_probs_dropout_prob = 0.0
    model.encoder.save_pretrained(output)
    tokenizer.save_pretrained(output)
    result = {
        split: {task.name: values[f"{split}_{task.name}"] for task in tasks if f"{split}_{task.name}" in values}
        for split, values in scores.items()
    }
    result["steps"] = trainer.state.global_step
    result["draws"] = args.draws
    result["train_runtime_s"] = round(trained.metrics["train_runtime"])
    (output / "scores.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def parse_args(argv: list[str] | None = None) -> tuple[WarmupArguments, TrainingArguments]:
    return parse_with_preset(
        argv, (WarmupArguments, TrainingArguments), {name: preset["training"] for name, preset in PRESETS.items()},
        remove_unused_columns=False, label_names=["labels", "task_index"],
        # Without this, TrainingArguments refuses bf16 on a machine without an accelerator.
        use_cpu=not torch.accelerator.is_available(),
    )


def main(argv: list[str] | None = None) -> None:
    result = warm_up(*parse_args(argv))
    for split in ("validation", "test"):
        for task, value in result[split].items():
            print(f"{task}_{split}: {value:.3f}")


if __name__ == "__main__":
    main()
