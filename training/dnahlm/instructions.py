"""Alpaca-format instruction data for DNAHLM: the registry's ten tasks, the published DNAHL records and
English definitions.

* The task examples are ChatNT's instruction rows exported to Alpaca (:func:`task_examples`): the same
  TRAIN/TEST split, tasks mixed uniformly, and the same held-out question phrasings kept out of training, so
  both models are scored on the same records in the same way (``chatnt.training.dnahlm.evaluate``).
* The published DNAHL records (``../shared/data/dnahl/``) are split once and for all by
  :func:`chatnt.tasks.dnahl.is_test_record` (the registry's DNAHL tasks use the same rule): a record is TEST when
  ``int(sha256(input).hexdigest(), 16) % 2 == 0``. Their TRAIN records are also trained on with their
  published instruction, the prompt the published model answered.

An example is ``{"prompt": <Alpaca prompt>, "completion": <answer>}``; TRL's ``SFTTrainer`` appends the
EOS token to the completion and puts the loss on the completion only.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
from pathlib import Path

from chatnt.tasks.dnahl import SHARED_DATA, alpaca_prompt, load_published_records, published_files
from chatnt.tasks.instruction_data import build_instruction_dataset, to_alpaca

DEFINITION_PHRASINGS = (
    "Define the word '{word}'.",
    "What does '{word}' mean?",
    "Give the dictionary definition of '{word}'.",
)


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

    The rows are ChatNT's (:func:`chatnt.tasks.instruction_data.build_instruction_dataset`: the registry's
    TRAIN/TEST split, tasks mixed uniformly, the TRAINING question and answer pools only), exported by
    :func:`~chatnt.tasks.instruction_data.to_alpaca`; so the two models are tuned and scored on the same
    records with the same held-out phrasings. ``config`` overrides :data:`TASK_ROW_CONFIG`.
    """
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
    task_fractions: dict[str, float] | None = None,
    **config: object,
) -> list[dict]:
    """All DNAHLM SFT examples, shuffled with ``seed``: the registry tasks (:func:`task_examples`); each TRAIN
    record of the published DNAHL files (of those tasks) once more with its published instruction and bare
    label, the prompt the published model answered; and ``definitions`` WordNet definitions (English).

    ``task_fractions`` (task -> fraction in (0, 1], default 1 for every task) keeps that seeded fraction of a
    task's examples, published ones included: a later stage can spend its steps on the tasks not yet learnt
    while the others are still seen, so their answers are not forgotten.
    """
    rng = random.Random(seed)
    examples = task_examples(tasks, seed, data_dir, **config)
    trained = {example["task"] for example in examples}
    for path in published_files(data_dir):
        examples += [
            {"task": r["task"], "instruction": r["instruction"], "input": r["input"], "output": r["output"]}
            for r in load_published_records(path, split="train")
            if r["task"] in trained
        ]
    examples = keep_fractions(examples, task_fractions or {}, rng, trained)
    examples += list(definition_examples(definitions, rng, Path(data_dir) if data_dir else SHARED_DATA))
    rng.shuffle(examples)
    return examples


def keep_fractions(examples: list[dict], fractions: dict[str, float], rng: random.Random, tasks: set[str]) -> list[dict]:
    """``examples`` with only a seeded ``fractions[task]`` of each listed task's examples kept (in order)."""
    for task, fraction in fractions.items():
        if task not in tasks:
            raise ValueError(f"task_fractions names {task!r}, which is not among the tuned tasks {sorted(tasks)}")
        if not 0 < fraction <= 1:
            raise ValueError(f"task_fractions[{task!r}] is {fraction}: give a fraction in (0, 1]")
    # The generator is drawn only for listed tasks, so no fractions gives the earlier runs' data exactly.
    return [e for e in examples if e["task"] not in fractions or rng.random() < fractions[e["task"]]]


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
