"""The mixed DNA + English text corpus that DNAHLM's tokenizer and language model are trained on.

DNA comes from real FASTA files and is cut into lines of 300-1000 bp, as in the published DNAHLM
recipe; English comes from real text files, one line per paragraph / gloss / dictionary entry.
Every line is assigned to the ``train`` or ``heldout`` split by a hash of its text, so the split is
the same for the tokenizer, for pre-training and for evaluation, whatever order the files are read in.

Paths default to ``../shared/data`` relative to the repository root and can be overridden.
"""

from __future__ import annotations

import gzip
import hashlib
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

from chatnt.fasta import iter_fasta
from datasets import IterableDataset, interleave_datasets

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

DEFAULT_DNA_FILES = (
    "ecoli/NC_008253.fna.gz",
    "fly/dm3_upstream2000.fa.gz",
    "janggu/sample.fa",
    "janggu/sample2.fa",
    "rrna/rrna_16S_ssu_prokaryote.fa.gz",
    "rrna/rrna_18S_ssu_eukaryote.fa.gz",
    "rrna/rrna_lsu_23S_28S.fa.gz",
    "yeast/someORF.fa",
)
DEFAULT_ENGLISH_FILES = (
    "dnahl/wiki.valid.raw",
    "english/wordnet_glosses.txt.gz",
    "english/gcide_entries.txt.gz",
)
SPLITS = ("train", "heldout")


def default_paths(relative: Sequence[str]) -> list[str]:
    """Resolve paths relative to the shared data folder (``../shared/data`` from the repo root)."""
    return [str(SHARED_DATA / name) for name in relative]


def _open_text(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Corpus file not found: {path}")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def split_of(text: str, heldout_fraction: float) -> str:
    """Return ``"heldout"`` for a stable ``heldout_fraction`` of texts (by sha256), else ``"train"``."""
    bucket = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "heldout" if bucket < heldout_fraction else "train"


def read_fasta(path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield ``(header, sequence)`` pairs from a plain or gzipped FASTA file (ids may repeat)."""
    for record in iter_fasta(path, unique_ids=False):
        yield record.header, record.sequence


def dna_lines(
    paths: Sequence[str | Path],
    min_length: int = 300,
    max_length: int = 1000,
    seed: int = 0,
    split: str | None = None,
    heldout_fraction: float = 0.01,
) -> Iterator[str]:
    """Cut every FASTA record into consecutive uppercase lines of ``min_length``-``max_length`` bp.

    Lengths are drawn from a generator seeded per file, so the cut is reproducible. A record's tail
    shorter than ``min_length`` is dropped, as are records shorter than ``min_length``. Soft-masking
    (lowercase repeats) is not sequence content, hence the uppercasing. ``split`` keeps only the lines
    of that split (see :func:`split_of`); ``None`` keeps all.
    """
    if not 0 < min_length <= max_length:
        raise ValueError(f"Need 0 < min_length <= max_length, got {min_length} and {max_length}")
    for path in paths:
        rng = random.Random(f"{seed}:{Path(path).name}")
        for _, sequence in read_fasta(path):
            sequence = sequence.upper()
            start = 0
            while len(sequence) - start >= min_length:
                length = rng.randint(min_length, max_length)
                line = sequence[start : start + length]
                start += length
                if split is None or split_of(line, heldout_fraction) == split:
                    yield line


def english_lines(
    paths: Sequence[str | Path],
    split: str | None = None,
    heldout_fraction: float = 0.01,
    min_chars: int = 20,
) -> Iterator[str]:
    """Yield the stripped non-empty lines of English text files, skipping ones under ``min_chars``.

    Short lines are mostly WikiText section headings, which carry little language.
    """
    for path in paths:
        with _open_text(path) as handle:
            for line in handle:
                line = line.strip()
                if len(line) >= min_chars and (split is None or split_of(line, heldout_fraction) == split):
                    yield line


def round_robin(iterators: Sequence[Iterator[str]]) -> Iterator[str]:
    """Take one item from each iterator in turn, dropping exhausted ones.

    Reading the files in turn (not one after the other) means any prefix of the stream, e.g. a
    tokenizer's character budget, covers every organism and every text source.
    """
    active = list(iterators)
    while active:
        still_active = []
        for iterator in active:
            item = next(iterator, None)
            if item is not None:
                yield item
                still_active.append(iterator)
        active = still_active


def source_lines(
    kind: str, paths: Sequence[str | Path], split: str | None, heldout_fraction: float = 0.01, seed: int = 0
) -> Iterator[str]:
    """The lines of one source kind (``"dna"`` or ``"english"``), files read round-robin."""
    if kind == "dna":
        per_file = [dna_lines([p], seed=seed, split=split, heldout_fraction=heldout_fraction) for p in paths]
    elif kind == "english":
        per_file = [english_lines([p], split=split, heldout_fraction=heldout_fraction) for p in paths]
    else:
        raise ValueError(f"kind must be 'dna' or 'english', got {kind!r}")
    return round_robin(per_file)


def _text_rows(kind: str, paths: list[str], split: str, heldout_fraction: float, seed: int):
    for line in source_lines(kind, paths, split, heldout_fraction, seed):
        yield {"text": line, "source": kind}


def mixed_text_dataset(
    dna_paths: Sequence[str | Path] | None = None,
    english_paths: Sequence[str | Path] | None = None,
    dna_fraction: float = 0.5,
    split: str = "train",
    heldout_fraction: float = 0.01,
    seed: int = 0,
) -> IterableDataset:
    """A streaming ``datasets.IterableDataset`` of ``{"text", "source"}`` rows mixing DNA and English.

    Rows are drawn from the DNA stream with probability ``dna_fraction`` (by line, not by byte) until
    both streams are exhausted. Example:

    >>> ds = mixed_text_dataset(dna_fraction=0.5, split="train")
    >>> next(iter(ds))["source"] in {"dna", "english"}
    True
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not 0.0 <= dna_fraction <= 1.0:
        raise ValueError(f"dna_fraction must be in [0, 1], got {dna_fraction}")
    dna_paths = [str(p) for p in (dna_paths or default_paths(DEFAULT_DNA_FILES))]
    english_paths = [str(p) for p in (english_paths or default_paths(DEFAULT_ENGLISH_FILES))]
    for path in dna_paths + english_paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"Corpus file not found: {path}")
    streams, weights = [], []
    for kind, paths, weight in (("dna", dna_paths, dna_fraction), ("english", english_paths, 1 - dna_fraction)):
        if weight > 0:
            streams.append(
                IterableDataset.from_generator(
                    _text_rows,
                    gen_kwargs={
                        "kind": kind,
                        "paths": paths,
                        "split": split,
                        "heldout_fraction": heldout_fraction,
                        "seed": seed,
                    },
                )
            )
            weights.append(weight)
    if len(streams) == 1:
        return streams[0]
    return interleave_datasets(
        streams, probabilities=weights, seed=seed, stopping_strategy="all_exhausted_without_replacement"
    )
