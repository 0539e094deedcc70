"""The published DNAHL data (``../shared/data/dnahl/``): its five tasks, their published instructions and labels,
the fixed TRAIN/TEST split of its records, and the Alpaca prompt its model answers.

A record is TEST when ``int(sha256(input).hexdigest(), 16) % 2 == 0`` (:func:`is_test_record`); the registry's DNAHL
tasks and the DNAHLM recipes use this one rule.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# The preamble of the Alpaca prompt (the DNAHLM recipe's, and the chat template of the DNAHLM tokenizer).
ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)


FOUR_TASK_FILE = str(SHARED_DATA / "dnahl" / "gpt2-small2-sft3.json")
PROMOTER_TERMINATOR_FILE = str(SHARED_DATA / "dnahl" / "gpt2-small3-1024.json")


def published_files(data_dir: str | Path | None = None) -> tuple[str, str]:
    """The two DNAHL record files (the 4-task file, promoter vs terminator) in ``data_dir`` (default the shared one)."""
    if data_dir is None:
        return FOUR_TASK_FILE, PROMOTER_TERMINATOR_FILE
    return tuple(str(Path(data_dir) / "dnahl" / Path(path).name) for path in (FOUR_TASK_FILE, PROMOTER_TERMINATOR_FILE))


def alpaca_prompt(instruction: str, input_text: str = "") -> str:
    """The exact Alpaca prompt of the DNAHLM recipe; the Input block is omitted when ``input_text`` is empty."""
    prompt = f"{ALPACA_PREAMBLE}\n\n### Instruction:\n{instruction}"
    if input_text:
        prompt += f"\n\n### Input:\n{input_text}"
    return prompt + "\n\n### Response:\n"


@dataclass(frozen=True)
class Task:
    """A published DNAHL task: its labels and the instruction the published records carry."""

    name: str
    labels: tuple[str, ...]
    published_instruction: str


TASKS = {
    t.name: t
    for t in (
        Task(
            "core_promoter",
            ("Non-promoter", "promoter"),
            "Determine core promoter detection of following dna sequence, The result will be one of the "
            "following: Non-promoter, promoter.",
        ),
        Task(
            "promoter_300",
            ("Non-promoter", "promoter"),
            "Determine promoter  detection of following dna sequence, The result will be one of the "
            "following: Non-promoter, promoter.",
        ),
        Task(
            "tf_binding",
            ("Background Sequences", "Binding Sites"),
            "Determine the Transcription Factor Prediction of following dna sequence, The result will be "
            "one of the following: Background Sequences, Binding Sites.",
        ),
        Task(
            "splice_site",
            ("Non-Splice Sites", "Acceptor Sites", "Donor Sites"),
            "Determine the Splice Site Prediction of following dna sequence, The result will be one of the "
            "following: Non-Splice Sites, Acceptor Sites, Donor Sites",
        ),
        Task(
            "promoter_terminator",
            ("promoter", "terminator"),
            "Determine the following dna sequence is promoter or terminator",
        ),
    )
}
PUBLISHED_TASK_OF_INSTRUCTION = {t.published_instruction: t.name for t in TASKS.values()}


def is_test_record(record: dict) -> bool:
    """The fixed split of the published records: TEST iff sha256 of the input, as an integer, is even."""
    return int(hashlib.sha256(record["input"].encode()).hexdigest(), 16) % 2 == 0


def load_published_records(path: str | Path, split: str | None = None) -> list[dict]:
    """Load a DNAHL record file, add its ``task`` name and keep one ``split`` (``train``/``test``) or all."""
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DNAHL record file not found: {path}")
    records = json.loads(path.read_text(encoding="utf-8"))
    if not records:
        raise ValueError(f"{path} holds no records: expected a JSON list of DNAHL records")
    out = []
    for record in records:
        task = PUBLISHED_TASK_OF_INSTRUCTION.get(record["instruction"])
        if task is None:
            raise ValueError(f"{path}: unknown instruction {record['instruction']!r}")
        if split is None or (split == "test") == is_test_record(record):
            out.append({**record, "task": task})
    return out


__all__ = [
    "ALPACA_PREAMBLE",
    "FOUR_TASK_FILE",
    "PROMOTER_TERMINATOR_FILE",
    "PUBLISHED_TASK_OF_INSTRUCTION",
    "SHARED_DATA",
    "TASKS",
    "Task",
    "alpaca_prompt",
    "is_test_record",
    "load_published_records",
    "published_files",
]
