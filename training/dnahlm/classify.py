"""Classification-head baseline: one ``GPT2ForSequenceClassification`` per DNAHL task.

Each model starts from the pre-trained DNAHLM, reads the bare DNA sequence and is trained on the
task's TRAIN half, then scored on its TEST half (same sha256 split as the instruction model), so the
generative answers can be compared with a plain classifier on the same records.

    python -m chatnt.training.dnahlm.classify --model_name_or_path runs/dnahlm-mini-pt \\
        --output_dir runs/dnahlm-mini-cls
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasets import Dataset
from sklearn.metrics import accuracy_score, matthews_corrcoef
from transformers import (
    AutoTokenizer,
    DataCollatorWithPadding,
    GPT2ForSequenceClassification,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    set_seed,
)

from chatnt.tasks.dnahl import (
    FOUR_TASK_FILE,
    PROMOTER_TERMINATOR_FILE,
    TASKS,
    load_published_records,
)

TRAINING_DEFAULTS = {
    "num_train_epochs": 3,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 32,
    "learning_rate": 5e-4,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.1,
    "logging_steps": 20,
    "save_strategy": "no",
    "report_to": "none",
}


@dataclass
class ClassifyArguments:
    model_name_or_path: str = field(metadata={"help": "A pre-trained DNAHLM (pretrain.py output)."})
    tasks: list[str] = field(
        default_factory=lambda: ["core_promoter", "promoter_300", "tf_binding", "splice_site", "promoter_terminator"]
    )
    max_length: int = field(default=1024, metadata={"help": "Tokens kept per sequence."})


def task_datasets(task: str, tokenizer, max_length: int) -> tuple[Dataset, Dataset]:
    """The TRAIN and TEST halves of one published task, tokenized, with integer labels."""
    if task not in TASKS:
        raise ValueError(f"{task!r} is not a published DNAHL task; choose one of {sorted(TASKS)}")
    path = PROMOTER_TERMINATOR_FILE if task == "promoter_terminator" else FOUR_TASK_FILE
    labels = TASKS[task].labels
    halves = []
    for split in ("train", "test"):
        records = [r for r in load_published_records(path, split) if r["task"] == task]
        encoded = tokenizer([r["input"] for r in records], truncation=True, max_length=max_length)
        halves.append(Dataset.from_dict({**encoded, "labels": [labels.index(r["output"]) for r in records]}))
    return halves[0], halves[1]


def compute_metrics(prediction) -> dict[str, float]:
    """Accuracy and MCC of the arg-max class."""
    predicted = np.argmax(prediction.predictions, axis=-1)
    return {
        "accuracy": float(accuracy_score(prediction.label_ids, predicted)),
        "mcc": float(matthews_corrcoef(prediction.label_ids, predicted)),
    }


def train_classifier(
    task: str, model_name_or_path: str, training_args: TrainingArguments, max_length: int = 1024
) -> dict:
    """Fine-tune one classifier on ``task``'s TRAIN half and return its TEST metrics."""
    set_seed(training_args.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
    train, test = task_datasets(task, tokenizer, max_length)
    model = GPT2ForSequenceClassification.from_pretrained(
        model_name_or_path, num_labels=len(TASKS[task].labels), pad_token_id=tokenizer.pad_token_id
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=test,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
    )
    trainer.train()
    return trainer.evaluate()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = HfArgumentParser((ClassifyArguments, TrainingArguments))
    parser.set_defaults(**TRAINING_DEFAULTS)
    args, training_args = parser.parse_args_into_dataclasses(args=argv)
    root = Path(training_args.output_dir)
    results = {}
    for task in args.tasks:
        training_args.output_dir = str(root / task)
        results[task] = train_classifier(task, args.model_name_or_path, training_args, args.max_length)
    print("| task | TEST n | accuracy | MCC |\n|---|---|---|---|")
    for task, metrics in results.items():
        n = len(task_datasets(task, AutoTokenizer.from_pretrained(args.model_name_or_path), args.max_length)[1])
        print(f"| {task} | {n} | {metrics['eval_accuracy']:.3f} | {metrics['eval_mcc']:.3f} |")
    for task, metrics in results.items():
        print(f"{task}_accuracy: {metrics['eval_accuracy']:.4f}")
        print(f"{task}_mcc: {metrics['eval_mcc']:.4f}")


if __name__ == "__main__":
    main()
