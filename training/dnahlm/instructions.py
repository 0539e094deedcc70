"""Alpaca-format instruction data for DNAHLM: the registry's ten tasks, the published DNAHL records and
English definitions.

* The task examples are ChatNT's instruction rows exported to Alpaca (:func:`task_examples`): the same
  TRAIN/TEST split, tasks mixed uniformly, and the same held-out question phrasings kept out of training, so
  both models are scored on the same records in the same way (``chatnt.training.dnahlm.evaluate``).
* The published DNAHL records (``../shared/data/dnahl/``) are split once and for all by
  :func:`is_test_record` (the registry's DNAHL tasks use the same rule): a record is TEST when
  ``int(sha256(input).hexdigest(), 16) % 2 == 0``. Their TRAIN records are also trained on with their
  published instruction, the prompt the published model answered.

An example is ``{"prompt": <Alpaca prompt>, "completion": <answer>}``; TRL's ``SFTTrainer`` appends the
EOS token to the completion and puts the loss on the completion only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chatnt.tokenizer.train_bpe import ALPACA_PREAMBLE
from chatnt.training.dnahlm.corpus import SHARED_DATA

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
DEFINITION_PHRASINGS = (
    "Define the word '{word}'.",
    "What does '{word}' mean?",
    "Give the dictionary definition of '{word}'.",
)


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


def to_prompt_completion(example: dict) -> dict:
    """The ``{"prompt", "completion"}`` form TRL trains on (EOS is appended by the trainer)."""
    return {"prompt": alpaca_prompt(example["instruction"], example["input"]), "completion": example["output"]}


# DNAHLM reads every question as text, so what costs tokens is what it must learn from: mostly each task's
# own question (the one the evaluation asks), some yes/no and two-sequence questions for the same records,
# no multi-turn rows (the Alpaca export splits them into single turns anyway). GC content is answered with
# one decimal, as ChatNT-mini is.
TASK_ROW_CONFIG = {"pair_fraction": 0.1, "yes_no_fraction": 0.1, "multi_turn_fraction": 0.0, "decimals": 1}


def task_examples(
    tasks: list[str] | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    max_per_class: int | str | None = "default",
    **config: object,
) -> list[dict]:
    """TRAIN examples of the registry's tasks (default all ten), in Alpaca form.

    The rows are ChatNT's (:func:`chatnt.training.instruction_data.build_instruction_dataset`: the registry's
    TRAIN/TEST split, tasks mixed uniformly, the TRAINING question and answer pools only), exported by
    :func:`~chatnt.training.instruction_data.to_alpaca`; so the two models are tuned and scored on the same
    records with the same held-out phrasings. ``config`` overrides :data:`TASK_ROW_CONFIG`.
    """
    # Imported here: the task registry imports this module (for the published split), so a module-level
    # import would be circular (issue 19 moves the registry below both).
    from chatnt.training.instruction_data import build_instruction_dataset, to_alpaca

    options = {**TASK_ROW_CONFIG, **config, "seed": seed, "system_message": None}
    rows = build_instruction_dataset(tasks, data_dir=data_dir, max_per_class=max_per_class, **options)["train"]
    examples = to_alpaca(rows).to_list()
    if any(example["split"] != "train" for example in examples):
        raise RuntimeError("a TEST record reached the DNAHLM training data")
    return examples


def build_sft_examples(
    tasks: list[str] | None = None,
    definitions: int = 200,
    seed: int = 0,
    data_dir: str | Path | None = None,
    **config: object,
) -> list[dict]:
    """All DNAHLM SFT examples, shuffled with ``seed``: the registry tasks (:func:`task_examples`); each TRAIN
    record of the published DNAHL files (of those tasks) once more with its published instruction and bare
    label, the prompt the published model answered; and ``definitions`` WordNet definitions (English)."""
    rng = random.Random(seed)
    examples = task_examples(tasks, seed, data_dir, **config)
    trained = {example["task"] for example in examples}
    for path in published_files(data_dir):
        examples += [
            {"task": r["task"], "instruction": r["instruction"], "input": r["input"], "output": r["output"]}
            for r in load_published_records(path, split="train")
            if r["task"] in trained
        ]
    examples += list(definition_examples(definitions, rng, Path(data_dir) if data_dir else SHARED_DATA))
    rng.shuffle(examples)
    return examples


def definition_examples(count: int, rng: random.Random, data_dir: Path = SHARED_DATA) -> Iterator[dict]:
    """``count`` WordNet definitions asked in the training phrasings (the last is held out)."""
    if not count:
        return
    with gzip.open(data_dir / "english/wordnet_synsets.tsv.gz", "rt", encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle][1:]
    for _, _, lemmas, gloss in rng.sample(rows, count):
        word = lemmas.split("; ")[0]
        phrasing = rng.choice(DEFINITION_PHRASINGS[:-1])
        yield {"task": "definition", "instruction": phrasing.format(word=word), "input": "", "output": gloss}
