"""Answer-level evaluation of ChatNT during instruction tuning: generate, parse, compare per task.

Every assistant turn of a held-out row is one question: the conversation up to that turn (earlier
turns with their gold answers) is the prompt, greedy decoding writes the answer (at most 40 new
tokens, as in the paper's evaluation), and the answer is right when its first line, trimmed of spaces
and closing punctuation, equals the gold label case-insensitively. A task-aware ``normalize`` function
(the instruction builder's ``normalize_answer``) can replace that rule. Task metrics (MCC, Pearson r)
come with the task registry.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import TrainerCallback

from chatnt.processing_chatnt import ChatNTProcessor
from chatnt.training.chatnt_collator import row_sequences

# (task, generated text, gold label) -> the answer to compare with the gold label.
Normalizer = Callable[[str, str, str], str]


def parse_answer(text: str) -> str:
    """The answer's first non-empty line, trimmed of spaces and closing sentence punctuation.

    The punctuation goes because answers are written as sentences ("promoter.").
    """
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip().rstrip(".!").strip()
    return ""


def is_exact_match(generated: str, gold: str, task: str | None = None, normalize: Normalizer | None = None) -> bool:
    """Whether a generated answer equals the gold label, ignoring case.

    By default the answer is :func:`parse_answer`'s first line; ``normalize(task, generated, gold)``
    replaces that rule (e.g. :func:`chatnt.tasks.instruction_data.normalize_answer`, which finds the
    label inside a sentence).
    """
    if normalize is not None:
        return normalize(task, generated, gold).casefold() == gold.strip().casefold()
    # Both sides lose closing punctuation: sentence answers (RNA-GPT's "It is a 16S rRNA.") keep it in gold.
    return parse_answer(generated).casefold() == parse_answer(gold).casefold()


def answer_prompts(row: dict) -> list[tuple[list[dict], str]]:
    """One ``(messages before the turn, gold label)`` pair per assistant turn of a row."""
    turns = [index for index, message in enumerate(row["messages"]) if message["role"] == "assistant"]
    if len(turns) != len(row["answers"]):
        raise ValueError(
            f"Row of task {row['task']!r} has {len(turns)} assistant turns but {len(row['answers'])} gold answers; "
            "`answers` needs one label per assistant turn."
        )
    return [(row["messages"][:turn], gold) for turn, gold in zip(turns, row["answers"])]


def subset_per_task(rows, per_task: int, seed: int = 0) -> list[dict]:
    """Up to ``per_task`` rows of each task, drawn with a fixed seed (the same subset at every evaluation)."""
    by_task = defaultdict(list)
    for row in rows:
        by_task[row["task"]].append(row)
    rng = random.Random(seed)
    chosen = []
    for task in sorted(by_task):
        task_rows = by_task[task]
        chosen.extend(rng.sample(task_rows, min(per_task, len(task_rows))))
    return chosen


@torch.no_grad()
def generate_answers(
    model, processor: ChatNTProcessor, conversations: list, sequences: list, max_new_tokens: int, bf16: bool = False
) -> list[str]:
    """Greedy answers (new text only) to one batch of conversations, each with its sequences.

    ``bf16`` generates under bfloat16 autocast (as the ``mini`` recipe trains; 1.5x faster on a CPU with AMX).
    """
    inputs = processor(conversations, sequences, replace_unknown_with_n=True, return_tensors="pt").to(model.device)
    with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


@torch.no_grad()
def exact_match_by_task(
    model,
    processor: ChatNTProcessor,
    rows: list[dict],
    batch_size: int = 8,
    max_new_tokens: int = 40,
    normalize: Normalizer | None = None,
) -> tuple[dict[str, float], list[dict]]:
    """Generate an answer for every assistant turn of ``rows`` and score exact match per task
    (see :func:`is_exact_match` for ``normalize``).

    Returns ``({"exact_match/<task>": accuracy, ..., "exact_match": mean over tasks}, records)``,
    where each record holds the task, gold label and generated text (for inspection).
    """
    questions = [(row, messages, gold) for row in rows for messages, gold in answer_prompts(row)]
    if not questions:
        raise ValueError("No held-out question to evaluate.")
    was_training = model.training
    model.eval()
    records = []
    try:
        for start in range(0, len(questions), batch_size):
            chunk = questions[start : start + batch_size]
            texts = generate_answers(
                model, processor, [messages for _, messages, _ in chunk], [row_sequences(row) for row, _, _ in chunk],
                max_new_tokens,
            )
            for (row, _, gold), text in zip(chunk, texts):
                correct = is_exact_match(text, gold, row["task"], normalize)
                records.append({"task": row["task"], "gold": gold, "generated": text, "correct": correct})
    finally:
        model.train(was_training)
    by_task = defaultdict(list)
    for record in records:
        by_task[record["task"]].append(record["correct"])
    metrics = {f"exact_match/{task}": sum(hits) / len(hits) for task, hits in sorted(by_task.items())}
    metrics["exact_match"] = sum(metrics.values()) / len(by_task)
    return metrics, records


class ExactMatchCallback(TrainerCallback):
    """At every evaluation of the trainer, also generates answers for held-out rows and scores them.

    Runs on the trainer's evaluation schedule (``eval_strategy`` / ``eval_steps``), after the held-out
    loss, and logs ``eval_exact_match/<task>`` and their mean ``eval_exact_match`` through the trainer,
    so they reach the console, ``trainer_state.json`` and any ``report_to`` integration (the pattern of
    TRL's own generation callbacks); the generated answers go to ``generations-step<N>.jsonl`` in the
    output directory. Every process generates (sharded models need all ranks).

    Example:
        >>> rows = subset_per_task(test_rows, 16)
        >>> trainer = SFTTrainer(..., eval_dataset=Dataset.from_list(rows), args=SFTConfig(eval_strategy="steps", ...))
        >>> trainer.add_callback(ExactMatchCallback(trainer, processor, rows))
    """

    def __init__(
        self,
        trainer,
        processor: ChatNTProcessor,
        rows: list[dict],
        batch_size: int = 8,
        max_new_tokens: int = 40,
        normalize: Normalizer | None = None,
    ):
        if not rows:
            raise ValueError("ExactMatchCallback needs held-out rows to evaluate.")
        self.trainer = trainer
        self.processor = processor
        self.rows = rows
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.normalize = normalize

    def on_evaluate(self, args, state, control, **kwargs):
        model = self.trainer.accelerator.unwrap_model(self.trainer.model)
        metrics, records = exact_match_by_task(
            model, self.processor, self.rows, self.batch_size, self.max_new_tokens, self.normalize
        )
        self.trainer.log({f"eval_{name}": value for name, value in metrics.items()})
        if self.trainer.is_world_process_zero():
            # The answers themselves, to check the parsing rule against what the model writes.
            path = Path(args.output_dir) / f"generations-step{state.global_step}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


__all__ = [
    "ExactMatchCallback",
    "answer_prompts",
    "exact_match_by_task",
    "generate_answers",
    "is_exact_match",
    "parse_answer",
    "subset_per_task",
]
