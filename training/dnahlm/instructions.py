"""Alpaca-format instruction data for DNAHLM: the published DNAHL tasks plus extra real-data tasks.

* The published test records (``../shared/data/dnahl/``) are split once and for all by
  :func:`is_test_record`: a record is TEST when ``int(sha256(input).hexdigest(), 16) % 2 == 0``. Only
  TRAIN records may be trained on.
* Every task has several instruction phrasings. The last phrasing of each task is held out of training
  so the evaluation can check that the model follows the task, not one string.
* Extra tasks built from other real data add variety: Oct4 vs Mafk ChIP-seq peaks (janggu, human hg19),
  16S vs 18S vs 23S/28S rRNA, and WordNet definitions (English).

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
from chatnt.training.dnahlm.corpus import SHARED_DATA, read_fasta

FOUR_TASK_FILE = str(SHARED_DATA / "dnahl" / "gpt2-small2-sft3.json")
PROMOTER_TERMINATOR_FILE = str(SHARED_DATA / "dnahl" / "gpt2-small3-1024.json")


def alpaca_prompt(instruction: str, input_text: str = "") -> str:
    """The exact Alpaca prompt of the DNAHLM recipe; the Input block is omitted when ``input_text`` is empty."""
    prompt = f"{ALPACA_PREAMBLE}\n\n### Instruction:\n{instruction}"
    if input_text:
        prompt += f"\n\n### Input:\n{input_text}"
    return prompt + "\n\n### Response:\n"


@dataclass(frozen=True)
class Task:
    """A classification task: its labels, the published instruction (if any) and our phrasings."""

    name: str
    labels: tuple[str, ...]
    phrasings: tuple[str, ...]
    published_instruction: str | None = None

    def train_phrasings(self) -> tuple[str, ...]:
        """Phrasings used in training: the published one (when there is one) and all but our last."""
        published = (self.published_instruction,) if self.published_instruction else ()
        return published + self.phrasings[:-1]

    @property
    def heldout_phrasing(self) -> str:
        """The phrasing never trained on."""
        return self.phrasings[-1]


def _options(labels) -> str:
    return ", ".join(labels)


def _task(name, labels, published, templates) -> Task:
    return Task(name, tuple(labels), tuple(t.format(options=_options(labels)) for t in templates), published)


TASKS = {
    t.name: t
    for t in (
        _task(
            "core_promoter",
            ("Non-promoter", "promoter"),
            "Determine core promoter detection of following dna sequence, The result will be one of the "
            "following: Non-promoter, promoter.",
            (
                "Is this 70 bp DNA sequence a core promoter? Answer with one of: {options}.",
                "Classify the core promoter status of the DNA sequence below. Options: {options}.",
                "Does the following short DNA sequence contain a core promoter? Reply {options}.",
            ),
        ),
        _task(
            "promoter_300",
            ("Non-promoter", "promoter"),
            "Determine promoter  detection of following dna sequence, The result will be one of the "
            "following: Non-promoter, promoter.",
            (
                "Is this 300 bp DNA sequence a promoter? Answer with one of: {options}.",
                "Classify the promoter status of the DNA sequence below. Options: {options}.",
                "Decide whether the following DNA region is a promoter. Reply {options}.",
            ),
        ),
        _task(
            "tf_binding",
            ("Background Sequences", "Binding Sites"),
            "Determine the Transcription Factor Prediction of following dna sequence, The result will be "
            "one of the following: Background Sequences, Binding Sites.",
            (
                "Does a transcription factor bind this DNA sequence? Answer with one of: {options}.",
                "Classify the DNA sequence below as a transcription factor binding site or background. "
                "Options: {options}.",
                "Is the following sequence a transcription factor binding site? Reply {options}.",
            ),
        ),
        _task(
            "splice_site",
            ("Non-Splice Sites", "Acceptor Sites", "Donor Sites"),
            "Determine the Splice Site Prediction of following dna sequence, The result will be one of the "
            "following: Non-Splice Sites, Acceptor Sites, Donor Sites",
            (
                "What kind of splice site is in this DNA sequence? Answer with one of: {options}.",
                "Classify the splice site of the DNA sequence below. Options: {options}.",
                "Which splice site type does the following sequence contain? Reply {options}.",
            ),
        ),
        _task(
            "promoter_terminator",
            ("promoter", "terminator"),
            "Determine the following dna sequence is promoter or terminator",
            (
                "Is this DNA sequence a promoter or a terminator? Answer with one of: {options}.",
                "Classify the DNA region below. Options: {options}.",
                "Tell whether the following sequence is a promoter or a terminator. Reply {options}.",
            ),
        ),
        _task(
            "oct4_mafk",
            ("Oct4", "Mafk"),
            None,
            (
                "Which transcription factor's ChIP-seq peak is this human DNA sequence from? Answer with one "
                "of: {options}.",
                "This 200 bp sequence is a ChIP-seq peak. Which factor was immunoprecipitated? Options: {options}.",
                "Name the transcription factor whose peak this is. Reply {options}.",
            ),
        ),
        _task(
            "rrna_type",
            ("16S rRNA", "18S rRNA", "23S/28S rRNA"),
            None,
            (
                "Which ribosomal RNA gene is this DNA fragment from? Answer with one of: {options}.",
                "Classify the rRNA gene of the sequence below. Options: {options}.",
                "Name the ribosomal RNA this fragment belongs to. Reply {options}.",
            ),
        ),
    )
}
PUBLISHED_TASK_OF_INSTRUCTION = {t.published_instruction: t.name for t in TASKS.values() if t.published_instruction}
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
        raise ValueError(f"{path} holds no records")
    out = []
    for record in records:
        task = PUBLISHED_TASK_OF_INSTRUCTION.get(record["instruction"])
        if task is None:
            raise ValueError(f"{path}: unknown instruction {record['instruction']!r}")
        if split is None or (split == "test") == is_test_record(record):
            out.append({**record, "task": task})
    return out


def published_examples(path: str | Path, rng: random.Random, paraphrases: int = 1) -> Iterator[dict]:
    """TRAIN-split examples of a DNAHL file: each record with its own instruction and ``paraphrases``
    more of the task's training phrasings, drawn at random."""
    for record in load_published_records(path, split="train"):
        task = TASKS[record["task"]]
        ours = task.train_phrasings()[1:]
        for instruction in [record["instruction"], *rng.sample(ours, min(paraphrases, len(ours)))]:
            yield {"task": task.name, "instruction": instruction, "input": record["input"], "output": record["output"]}


def _fasta_examples(task: Task, files_and_labels, per_label: int, window: int | None, rng: random.Random):
    for path, label in files_and_labels:
        sequences = [seq.upper() for _, seq in read_fasta(path)]
        rng.shuffle(sequences)
        for sequence in sequences[:per_label]:
            if window is not None and len(sequence) > window:
                start = rng.randrange(len(sequence) - window + 1)
                sequence = sequence[start : start + window]
            yield {
                "task": task.name,
                "instruction": rng.choice(task.train_phrasings()),
                "input": sequence,
                "output": label,
            }


def extra_examples(
    per_label: int, definitions: int, rng: random.Random, data_dir: Path = SHARED_DATA
) -> Iterator[dict]:
    """Examples of the extra tasks, from training files only (janggu's ``*_test.fa`` are left out)."""
    yield from _fasta_examples(
        TASKS["oct4_mafk"],
        [(data_dir / "janggu/sample.fa", "Oct4"), (data_dir / "janggu/sample2.fa", "Mafk")],
        per_label,
        None,
        rng,
    )
    yield from _fasta_examples(
        TASKS["rrna_type"],
        [
            (data_dir / "rrna/rrna_16S_ssu_prokaryote.fa.gz", "16S rRNA"),
            (data_dir / "rrna/rrna_18S_ssu_eukaryote.fa.gz", "18S rRNA"),
            (data_dir / "rrna/rrna_lsu_23S_28S.fa.gz", "23S/28S rRNA"),
        ],
        per_label,
        400,
        rng,
    )
    if definitions:
        with gzip.open(data_dir / "english/wordnet_synsets.tsv.gz", "rt", encoding="utf-8") as handle:
            rows = [line.rstrip("\n").split("\t") for line in handle][1:]
        for _, _, lemmas, gloss in rng.sample(rows, definitions):
            word = lemmas.split("; ")[0]
            phrasing = rng.choice(DEFINITION_PHRASINGS[:-1])
            yield {"task": "definition", "instruction": phrasing.format(word=word), "input": "", "output": gloss}


def to_prompt_completion(example: dict) -> dict:
    """The ``{"prompt", "completion"}`` form TRL trains on (EOS is appended by the trainer)."""
    return {"prompt": alpaca_prompt(example["instruction"], example["input"]), "completion": example["output"]}


def build_sft_examples(
    published_files: tuple[str, ...] = (FOUR_TASK_FILE, PROMOTER_TERMINATOR_FILE),
    paraphrases: int = 1,
    extra_per_label: int = 150,
    definitions: int = 200,
    seed: int = 0,
) -> list[dict]:
    """All SFT examples (TRAIN halves of the published files plus extra tasks), shuffled with ``seed``."""
    rng = random.Random(seed)
    examples = [ex for path in published_files for ex in published_examples(path, rng, paraphrases)]
    examples += list(extra_examples(extra_per_label, definitions, rng))
    if not examples:
        raise ValueError("No SFT examples: give at least one published file or extra examples")
    rng.shuffle(examples)
    return examples
