"""Registry of the genomic tasks ChatNT is instruction-tuned on, and loaders for their real data.

Every task is a :class:`TaskSpec` in :data:`TASKS`: its type, labels or value range, metric, source
files and licence, and the species words its questions use. :func:`load_task` reads the task's REAL
data (``../shared/data`` by default; see its README) into a ``datasets.Dataset`` with the columns

* ``id``: a stable record id (FASTA id, accession, or a hash of the DNAHL input),
* ``sequence``: upper-case DNA over ``ACGTN`` (IUPAC ambiguity codes read as ``N``),
* ``label``: the label (``str``) for binary / multiclass tasks, the present labels (``list[str]``) for
  multilabel tasks, the value (``float``) for regression,
* ``split``: ``"train"`` or ``"test"``.

Splits never move a sequence between tasks that share it: the DNAHL tasks keep the DNAHLM rule
(TEST iff the sha256 of the input is even); janggu's ``*_test.fa`` files are the test set of both
tasks built on them; rRNA records are split by a hash of the accession (all copies of a multi-copy
accession stay together); Drosophila windows are split by locus (regions less than 10 kb apart chain
into one locus), so overlapping windows of alternative transcripts never straddle the split.

Example:
    >>> from chatnt.tasks.registry import TASKS, load_task
    >>> TASKS["rrna_type"].labels
    ('16S', '18S', '23S/28S')
    >>> data = load_task("rrna_type", max_per_class=100)  # at most 100 per class in each split
    >>> sorted(set(data["split"]))
    ['test', 'train']
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from chatnt.fasta import iter_fasta
from chatnt.tokenization_nucleotide_transformer import clean_dna_sequence
from chatnt.tasks.dnahl import PUBLISHED_TASK_OF_INSTRUCTION, is_test_record
from datasets import Dataset, DatasetDict, load_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"

TASK_TYPES = ("binary", "multiclass", "multilabel", "regression")
METRICS = {
    "mcc": "Matthews correlation coefficient over the predicted labels",
    "accuracy": "fraction of exactly matching labels",
    "f1": "micro-averaged F1 over (record, label) pairs of a multilabel task",
    "pearson": "Pearson r between predicted and true values",
}
SPLITS = ("train", "test")


@dataclass(frozen=True)
class TaskSpec:
    """What a task is: the facts the loaders, the question builder and the evaluation share.

    Args:
        name: registry key, also the ``task`` column of instruction rows.
        type: one of :data:`TASK_TYPES`.
        description: a noun phrase for the system message, e.g. ``"core promoter detection"``.
        metric: one of :data:`METRICS`.
        sources: data files, relative to the data folder.
        licence: licence of the source files.
        sequence_length: length in bp of the task's sequences (the window for cut tasks), ``None`` if it varies.
        labels: class names (binary / multiclass / multilabel), in the order questions list them.
        value_range: (low, high) of a regression target, stated in questions.
        unit: unit of a regression target, written after the number (``"%"``).
        species: organism in words for questions (``"human"``); ``None`` when the source does not say.
        cell_type: cell type or line in words; ``None`` when the source does not say.
        max_per_class: default cap on records per class and split (see :func:`load_task`); ``None`` keeps all.
        notes: how labels or values are derived, for the model card.
    """

    name: str
    type: str
    description: str
    metric: str
    sources: tuple[str, ...]
    licence: str
    sequence_length: int | None
    labels: tuple[str, ...] = ()
    value_range: tuple[float, float] | None = None
    unit: str = ""
    species: str | None = None
    cell_type: str | None = None
    max_per_class: int | None = None
    notes: str = ""

    def __post_init__(self):
        if self.type not in TASK_TYPES:
            raise ValueError(f"Task {self.name!r}: type must be one of {TASK_TYPES}, got {self.type!r}.")
        if self.metric not in METRICS:
            raise ValueError(f"Task {self.name!r}: metric must be one of {tuple(METRICS)}, got {self.metric!r}.")
        if self.type == "regression":
            if self.value_range is None or self.labels:
                raise ValueError(f"Regression task {self.name!r} needs a value_range and no labels.")
        else:
            minimum = 1 if self.type == "multilabel" else 2
            if len(self.labels) < minimum or self.value_range is not None:
                raise ValueError(f"{self.type} task {self.name!r} needs at least {minimum} labels and no value_range.")
            if self.type == "binary" and len(self.labels) != 2:
                raise ValueError(f"Binary task {self.name!r} needs exactly 2 labels, got {len(self.labels)}.")

    @property
    def is_classification(self) -> bool:
        return self.type in ("binary", "multiclass")

    @property
    def context(self) -> str:
        """Species and cell type as words (``"human"``, ``"human K562"``), empty when unknown."""
        return " ".join(word for word in (self.species, self.cell_type) if word)


_DNAHL_FOUR = ("dnahl/gpt2-small2-sft3.json",)
_DNAHL_LICENCE = "MIT (maris205/DNAHL)"
_JANGGU_FILES = ("janggu/sample.fa", "janggu/sample2.fa", "janggu/sample_test.fa", "janggu/sample2_test.fa")
_RRNA_FILES = {
    "16S": "rrna/rrna_16S_ssu_prokaryote.fa.gz",
    "18S": "rrna/rrna_18S_ssu_eukaryote.fa.gz",
    "23S/28S": "rrna/rrna_lsu_23S_28S.fa.gz",
}
_FLY_FILE = "fly/dm3_upstream2000.fa.gz"
_FLY_LICENCE = "Artistic-2.0 (Bioconductor Biostrings); UCSC dm3 data freely usable"

# Core-promoter elements searched on the given strand: the fly windows are oriented with the
# transcript, and TATA box and Inr act in that orientation only.
PROMOTER_MOTIFS = {
    "TATA box": "TATA[AT]A[AT]",
    "CAAT box": "CCAAT",
    "GC box": "GGGCGG",
    "Inr": "TCA[GT]T[CT]",
}

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="core_promoter",
            type="binary",
            description="core promoter detection (70 bp)",
            metric="mcc",
            sources=_DNAHL_FOUR,
            licence=_DNAHL_LICENCE,
            sequence_length=70,
            labels=("Non-promoter", "promoter"),
            species="human",
            notes="GUE core promoter task (human, EPDnew) as published in DNAHL; split by the DNAHLM sha256 rule.",
        ),
        TaskSpec(
            name="promoter_300",
            type="binary",
            description="promoter detection (300 bp)",
            metric="mcc",
            sources=_DNAHL_FOUR,
            licence=_DNAHL_LICENCE,
            sequence_length=300,
            labels=("Non-promoter", "promoter"),
            species="human",
            notes="GUE promoter task (human, EPDnew) as published in DNAHL; split by the DNAHLM sha256 rule.",
        ),
        TaskSpec(
            name="tf_binding",
            type="binary",
            description="transcription factor binding site prediction (101 bp)",
            metric="mcc",
            sources=_DNAHL_FOUR,
            licence=_DNAHL_LICENCE,
            sequence_length=101,
            labels=("Background Sequences", "Binding Sites"),
            notes="GUE transcription factor task as published in DNAHL; DNAHL does not say whether the human or "
            "the mouse GUE subset, so no species is named.",
        ),
        TaskSpec(
            name="splice_site",
            type="multiclass",
            description="splice site type prediction (400 bp)",
            metric="mcc",
            sources=_DNAHL_FOUR,
            licence=_DNAHL_LICENCE,
            sequence_length=400,
            labels=("Non-Splice Sites", "Acceptor Sites", "Donor Sites"),
            species="human",
            notes="GUE splice site task (human) as published in DNAHL; split by the DNAHLM sha256 rule. The "
            "label names do not match the windows' biology (the junction is between bases 199 and 200): "
            "'Acceptor Sites' windows carry the donor consensus (GT at 200-201), 'Non-Splice Sites' windows the "
            "acceptor consensus (AG at 198-199 after a pyrimidine tract), 'Donor Sites' windows neither "
            "(chatnt.evaluation.motif_recovery). The names are kept as published, so scores compare with DNAHLM.",
        ),
        TaskSpec(
            name="promoter_terminator",
            type="binary",
            description="promoter versus terminator classification (2 kb)",
            metric="mcc",
            sources=("dnahl/gpt2-small3-1024.json",),
            licence=_DNAHL_LICENCE,
            sequence_length=2000,
            labels=("promoter", "terminator"),
            notes="DNAHL promoter-vs-terminator records (species not documented); split by the DNAHLM sha256 rule.",
        ),
        TaskSpec(
            name="rrna_type",
            type="multiclass",
            description="ribosomal RNA gene type",
            metric="mcc",
            sources=tuple(_RRNA_FILES.values()),
            licence="public domain (NCBI rRNA BLAST databases, Debian ncbi-rrna-data)",
            sequence_length=500,
            labels=tuple(_RRNA_FILES),
            max_per_class=2000,
            notes="16S (prokaryotic SSU), 18S (eukaryotic SSU) and 23S/28S (LSU) rRNA genes; a 500 bp window at "
            "a position fixed by the accession hides the length difference between the classes. Exact duplicate "
            "sequences are dropped; 20% of accessions (by sha256) are TEST.",
        ),
        TaskSpec(
            name="oct4_mafk",
            type="binary",
            description="Oct4 versus Mafk ChIP-seq peak classification (200 bp)",
            metric="mcc",
            sources=_JANGGU_FILES,
            licence="GPL-3.0 (janggu 0.10.2)",
            sequence_length=200,
            labels=("Oct4", "Mafk"),
            species="human",
            notes="janggu's sample*.fa (Oct4) and sample2*.fa (Mafk) peaks, hg19; *_test.fa files are TEST.",
        ),
        TaskSpec(
            name="fly_promoter_shuffled",
            type="binary",
            description="promoter versus dinucleotide-shuffled DNA (300 bp)",
            metric="mcc",
            sources=(_FLY_FILE,),
            licence=_FLY_LICENCE,
            sequence_length=300,
            labels=("promoter", "shuffled"),
            species="Drosophila melanogaster",
            max_per_class=2000,
            notes="The 300 bp directly upstream of RefSeq transcript starts (dm3); half of the windows, chosen by "
            "hash, are replaced by their seeded dinucleotide shuffle (same length and dinucleotide counts). "
            "Windows with N and duplicate windows are dropped; 20% of loci (regions chained when less than 10 kb "
            "apart) are TEST.",
        ),
        TaskSpec(
            name="promoter_motifs",
            type="multilabel",
            description="core promoter motif detection (300 bp)",
            metric="f1",
            sources=(_FLY_FILE,),
            licence=_FLY_LICENCE,
            sequence_length=300,
            labels=tuple(PROMOTER_MOTIFS),
            species="Drosophila melanogaster",
            max_per_class=2000,
            notes="Which of TATA box (TATAWAW), CAAT box (CCAAT), GC box (GGGCGG) and Inr (TCAKTY) occur on the "
            "transcript strand of the same fly windows and split as fly_promoter_shuffled; computed by regex. "
            "The cap applies to the number of windows.",
        ),
        TaskSpec(
            name="gc_content",
            type="regression",
            description="GC content (percent)",
            metric="pearson",
            sources=_JANGGU_FILES,
            licence="GPL-3.0 (janggu 0.10.2)",
            sequence_length=200,
            value_range=(0.0, 100.0),
            unit="%",
            species="human",
            notes="Percentage of G and C among the A/C/G/T bases of the janggu peaks (both factors), computed "
            "from the sequence; same split as oct4_mafk.",
        ),
    )
}


def get_task(name: str) -> TaskSpec:
    """The registered :class:`TaskSpec` called ``name``; raises ``KeyError`` naming close matches."""
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(name, list(TASKS), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise KeyError(f"Unknown task {name!r}.{hint} Known tasks: {', '.join(TASKS)}.")


def stable_hash(key: str) -> int:
    """sha256 of ``key`` as an integer: the same on every machine and Python run (unlike ``hash``)."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16)


def hash_split(key: str, test_fraction: float = 0.2) -> str:
    """``"test"`` for a stable ``test_fraction`` of keys (by sha256), else ``"train"``.

    Example:
        >>> hash_split("AY524131")
        'train'
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}.")
    return "test" if (stable_hash(key) % 10_000) < test_fraction * 10_000 else "train"


def gc_content(sequence: str) -> float:
    """Percentage of G + C among the unambiguous bases (``N`` and IUPAC codes are left out).

    Example:
        >>> gc_content("GGCCATNN")
        66.66666666666667
    """
    upper = sequence.upper()
    gc = upper.count("G") + upper.count("C")
    known = gc + upper.count("A") + upper.count("T")
    if known == 0:
        raise ValueError("GC content is undefined for a sequence without A, C, G or T.")
    return 100.0 * gc / known


def dinucleotide_shuffle(sequence: str, rng: random.Random) -> str:
    """A uniformly random sequence with exactly the dinucleotide counts of ``sequence``.

    The Altschul-Erickson (1985) method in the form of Kandel et al. (1996): the sequence is an Eulerian
    path through the graph whose vertices are letters and whose edges are its dinucleotides. A random
    arborescence of "last exits" towards the final letter is drawn with Wilson's algorithm, the other
    exits of every letter are shuffled, and the walk from the first letter is read off. First and last
    letters and every dinucleotide count are kept; every such sequence is equally likely.

    Example:
        >>> shuffled = dinucleotide_shuffle("ACGTACGGTACCA", random.Random(0))
        >>> sorted(itertools.pairwise(shuffled)) == sorted(itertools.pairwise("ACGTACGGTACCA"))
        True
    """
    if len(sequence) < 3:
        return sequence
    exits: dict[str, list[str]] = {}
    for here, there in itertools.pairwise(sequence):
        exits.setdefault(here, []).append(there)
    last = sequence[-1]
    # Wilson's algorithm: loop-erased random walks from each letter until they reach the tree rooted at
    # the last letter; the exit used last on each walk becomes the letter's final exit.
    in_tree, last_exit = {last}, {}
    for start in exits:
        letter = start
        while letter not in in_tree:
            last_exit[letter] = rng.randrange(len(exits[letter]))
            letter = exits[letter][last_exit[letter]]
        letter = start
        while letter not in in_tree:
            in_tree.add(letter)
            letter = exits[letter][last_exit[letter]]
    for letter, letter_exits in exits.items():
        final = letter_exits.pop(last_exit[letter]) if letter in last_exit else None
        rng.shuffle(letter_exits)
        if final is not None:
            letter_exits.append(final)
    position = {letter: 0 for letter in exits}
    out = [sequence[0]]
    for _ in range(len(sequence) - 1):
        letter = out[-1]
        out.append(exits[letter][position[letter]])
        position[letter] += 1
    return "".join(out)


def _require(data_dir: Path, relative: str, task: str) -> Path:
    path = data_dir / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"Task {task!r} needs {relative!r}, not found under the data folder {str(data_dir)!r}. Pass "
            "data_dir=<folder holding the shared data> (see ../shared/data/README.md)."
        )
    return path


def _fasta_records(path: Path) -> list[tuple[str, str]]:
    """``(header, sequence)`` of every record, in file order. Ids may repeat: the LSU rRNA file lists one accession
    once per copy of a multi-copy operon."""
    return [(record.header, record.sequence) for record in iter_fasta(path, unique_ids=False)]


def _clean(sequence: str) -> str:
    return clean_dna_sequence(sequence, replace_unknown_with_n=True)


def _cap_per_class(
    rows: list[dict],
    max_per_class: int | None,
    seed: int,
    key: Callable[[dict], str],
    group: Callable[[dict], str] = lambda row: row["label"],
) -> list[dict]:
    """Keep at most ``max_per_class`` rows of each group (label) in each split: those first in a seeded hash
    order of ``key``. Per split, so a small cap still leaves a test set where the test files are small."""
    if max_per_class is None:
        return rows
    if max_per_class < 1:
        raise ValueError(f"max_per_class must be at least 1 or None, got {max_per_class}.")
    ordered = sorted(rows, key=lambda row: (stable_hash(f"{seed}:{key(row)}"), row["id"]))
    kept, counts = [], {}
    for row in ordered:
        bucket = (row["split"], group(row))
        if counts.get(bucket, 0) < max_per_class:
            counts[bucket] = counts.get(bucket, 0) + 1
            kept.append(row)
    return sorted(kept, key=lambda row: row["order"])


def _load_dnahl(spec: TaskSpec, data_dir: Path, max_per_class: int | None, seed: int) -> list[dict]:
    path = _require(data_dir, spec.sources[0], spec.name)
    records = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for record in records:
        task = PUBLISHED_TASK_OF_INSTRUCTION.get(record["instruction"])
        if task is None:
            raise ValueError(f"{path}: unknown DNAHL instruction {record['instruction']!r}.")
        if task != spec.name:
            continue
        if record["output"] not in spec.labels:
            raise ValueError(f"{path}: label {record['output']!r} is not one of {spec.labels} for {spec.name}.")
        rows.append(
            {
                "id": "dnahl_" + hashlib.sha256(record["input"].encode()).hexdigest()[:12],
                "sequence": _clean(record["input"]),
                "label": record["output"],
                "split": "test" if is_test_record(record) else "train",
                "order": len(rows),
            }
        )
    return _cap_per_class(rows, max_per_class, seed, key=lambda row: row["id"])


def _janggu_rows(data_dir: Path, task: str) -> list[dict]:
    rows = []
    for relative, label in zip(_JANGGU_FILES, ("Oct4", "Mafk", "Oct4", "Mafk")):
        split = "test" if relative.endswith("_test.fa") else "train"
        for header, sequence in _fasta_records(_require(data_dir, relative, task)):
            rows.append({"id": header.split()[0], "sequence": _clean(sequence), "label": label, "split": split})
    for order, row in enumerate(rows):
        row["order"] = order
    return rows


def _load_oct4_mafk(spec: TaskSpec, data_dir: Path, max_per_class: int | None, seed: int) -> list[dict]:
    return _cap_per_class(_janggu_rows(data_dir, spec.name), max_per_class, seed, key=lambda row: row["id"])


def _load_gc_content(spec: TaskSpec, data_dir: Path, max_per_class: int | None, seed: int) -> list[dict]:
    rows = _janggu_rows(data_dir, spec.name)
    for row in rows:
        row["label"] = gc_content(row["sequence"])
    return _cap_per_class(rows, max_per_class, seed, key=lambda row: row["id"], group=lambda row: "")


def _load_rrna(spec: TaskSpec, data_dir: Path, max_per_class: int | None, seed: int) -> list[dict]:
    window = spec.sequence_length
    rows, seen = [], set()
    for label, relative in _RRNA_FILES.items():
        for header, sequence in _fasta_records(_require(data_dir, relative, spec.name)):
            accession = header.split()[0]
            sequence = _clean(sequence)
            if len(sequence) < window:
                continue
            digest = hashlib.sha256(sequence.encode()).digest()
            if digest in seen:
                continue
            seen.add(digest)
            # The window start hangs on the accession and sequence only, so it does not move with the cap.
            start = stable_hash(f"window:{accession}:{digest.hex()}") % (len(sequence) - window + 1)
            rows.append(
                {
                    "id": f"{accession}_{digest.hex()[:8]}",
                    "accession": accession,
                    "sequence": sequence[start : start + window],
                    "label": label,
                    "split": hash_split(f"rrna:{accession}"),
                    "order": len(rows),
                }
            )
    rows = _cap_per_class(rows, max_per_class, seed, key=lambda row: row["accession"])
    for row in rows:
        del row["accession"]
    return rows


FLY_LOCUS_GAP = 10_000
_FLY_HEADER = re.compile(r"^(?P<id>\S+_(?P<chrom>chr\w+)_(?P<start>-?\d+)_[fr])\b")


def _fly_windows(spec: TaskSpec, data_dir: Path, max_windows: int | None, seed: int) -> list[dict]:
    """The deduplicated, N-free TSS-proximal windows of the fly file, at most ``max_windows`` of them."""
    window = spec.sequence_length
    rows, seen = [], set()
    for header, sequence in _fasta_records(_require(data_dir, _FLY_FILE, spec.name)):
        match = _FLY_HEADER.match(header)
        if match is None:
            raise ValueError(f"{_FLY_FILE}: unexpected header {header!r} (expected NM_..._chrN_START_f|r).")
        # The windows end at the transcript start; N runs would tell a shuffled window from a real one.
        region = sequence[-window:].upper()
        if len(region) < window or "N" in region or region in seen:
            continue
        seen.add(region)
        rows.append({"id": match["id"], "sequence": region, "chrom": match["chrom"], "start": int(match["start"])})
    # Regions closer than FLY_LOCUS_GAP chain into one locus, and a locus goes to one side of the split,
    # so overlapping windows (alternative transcripts of one gene) never straddle it.
    rows.sort(key=lambda row: (row["chrom"], row["start"]))
    locus = None
    for order, (previous, row) in enumerate(itertools.pairwise([None, *rows])):
        if previous is None or previous["chrom"] != row["chrom"] or row["start"] - previous["start"] > FLY_LOCUS_GAP:
            locus = f"fly:{row['chrom']}:{row['start']}"
        row.update(split=hash_split(locus), order=order)
    return _cap_per_class(rows, max_windows, seed, key=lambda row: row["id"], group=lambda row: "")


def _load_fly_promoter_shuffled(spec: TaskSpec, data_dir: Path, max_per_class: int | None, seed: int) -> list[dict]:
    # Each window is either kept or shuffled, never both, so no real window shows up beside its own shuffle.
    rows = _fly_windows(spec, data_dir, None if max_per_class is None else 2 * max_per_class, seed)
    for row in rows:
        if stable_hash(f"{seed}:shuffle:{row['id']}") % 2:
            row["sequence"] = dinucleotide_shuffle(row["sequence"], random.Random(f"{seed}:{row['id']}"))
            row["id"] += "_shuffled"
            row["label"] = "shuffled"
        else:
            row["label"] = "promoter"
    return rows


def _load_promoter_motifs(spec: TaskSpec, data_dir: Path, max_per_class: int | None, seed: int) -> list[dict]:
    rows = _fly_windows(spec, data_dir, max_per_class, seed)
    for row in rows:
        row["label"] = [name for name, pattern in PROMOTER_MOTIFS.items() if re.search(pattern, row["sequence"])]
    return rows


_LOADERS: dict[str, Callable[[TaskSpec, Path, int | None, int], list[dict]]] = {
    "core_promoter": _load_dnahl,
    "promoter_300": _load_dnahl,
    "tf_binding": _load_dnahl,
    "splice_site": _load_dnahl,
    "promoter_terminator": _load_dnahl,
    "rrna_type": _load_rrna,
    "oct4_mafk": _load_oct4_mafk,
    "fly_promoter_shuffled": _load_fly_promoter_shuffled,
    "promoter_motifs": _load_promoter_motifs,
    "gc_content": _load_gc_content,
}


def load_task(
    name: str,
    data_dir: str | Path | None = None,
    max_per_class: int | None | Literal["default"] = "default",
    seed: int = 0,
    split: str | None = None,
) -> Dataset:
    """Loads a registered task's real data as a ``Dataset`` with columns ``id, sequence, label, split``.

    Args:
        name: a key of :data:`TASKS`.
        data_dir: the shared data folder; default ``<repo>/../shared/data``.
        max_per_class: cap on the records of each class in each split (windows per split for the fly
            tasks, records per split for regression), chosen by a seeded hash so the same records come back
            every time; default the task's own cap (:attr:`TaskSpec.max_per_class`); ``None`` keeps all.
        seed: seeds the capping order and, for ``fly_promoter_shuffled``, which windows are shuffled and how.
        split: ``"train"`` or ``"test"`` to keep one split; ``None`` keeps both.

    Raises:
        KeyError: unknown task name. FileNotFoundError: a source file is missing.

    Example:
        >>> data = load_task("core_promoter")
        >>> data.filter(lambda row: row["split"] == "test").num_rows
        151
    """
    spec = get_task(name)
    if split not in (None, *SPLITS):
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}.")
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    if not data_dir.is_dir():
        raise FileNotFoundError(f"Data folder not found: {str(data_dir)!r}. Pass data_dir=<shared data folder>.")
    cap = spec.max_per_class if max_per_class == "default" else max_per_class
    rows = _LOADERS[name](spec, data_dir, cap, seed)
    rows = [{key: row[key] for key in ("id", "sequence", "label", "split")} for row in rows]
    if split is not None:
        rows = [row for row in rows if row["split"] == split]
    if not rows:
        raise ValueError(f"Task {name!r} has no records{f' in split {split!r}' if split else ''}.")
    return Dataset.from_list(rows)


def load_tasks(
    names: Iterable[str] | None = None,
    data_dir: str | Path | None = None,
    max_per_class: int | None | Literal["default"] = "default",
    seed: int = 0,
) -> dict[str, Dataset]:
    """:func:`load_task` for several tasks (default: all registered), as ``{name: Dataset}``."""
    return {name: load_task(name, data_dir, max_per_class, seed) for name in (names or TASKS)}


def hub_task_rows(
    dataset: DatasetDict,
    spec: TaskSpec,
    sequence_column: str = "sequence",
    label_column: str = "label",
    id_column: str | None = None,
    split_names: dict[str, str] | None = None,
) -> Dataset:
    """Maps the columns of a downloaded ``DatasetDict`` onto the registry's ``id, sequence, label, split``.

    Integer labels are turned into ``spec.labels[i]`` (so give the labels in the dataset's label order);
    regression values are read as ``float``. ``split_names`` maps our ``train`` / ``test`` to the
    dataset's split names (default: the same names).
    """
    split_names = split_names or {split: split for split in SPLITS}
    rows = []
    for ours, theirs in split_names.items():
        if ours not in SPLITS:
            raise ValueError(f"split_names keys must be 'train' / 'test', got {ours!r}.")
        if theirs not in dataset:
            raise KeyError(f"The dataset has no split {theirs!r}; it has {list(dataset)}.")
        part = dataset[theirs]
        for column in (sequence_column, label_column, id_column):
            if column is not None and column not in part.column_names:
                raise KeyError(f"Split {theirs!r} has no column {column!r}; columns: {part.column_names}.")
        for index, record in enumerate(part):
            value = record[label_column]
            if spec.type == "regression":
                label = float(value)
            elif isinstance(value, int):
                if not 0 <= value < len(spec.labels):
                    raise ValueError(f"{theirs}[{index}]: label id {value} outside {spec.labels}.")
                label = spec.labels[value]
            elif spec.type == "multilabel":
                label = list(value)
            else:
                label = str(value)
            if spec.is_classification and label not in spec.labels:
                raise ValueError(f"{theirs}[{index}]: label {label!r} is not one of {spec.labels}.")
            record_id = str(record[id_column]) if id_column else f"{spec.name}_{theirs}_{index}"
            rows.append({"id": record_id, "sequence": _clean(record[sequence_column]), "label": label, "split": ours})
    return Dataset.from_list(rows)


def load_hub_task(
    dataset_id: str,
    spec: TaskSpec,
    config_name: str | None = None,
    revision: str | None = None,
    **column_mapping,
) -> Dataset:
    """Downloads a Hub dataset (online users) and maps it with :func:`hub_task_rows`.

    Example:
        >>> spec = TaskSpec("nt_promoter_all", "binary", "promoter detection (300 bp)", "mcc", (), "CC BY-NC-SA 4.0",
        ...                 300, labels=("not a promoter", "promoter"), species="human")
        >>> data = load_hub_task("InstaDeepAI/nucleotide_transformer_downstream_tasks", spec,
        ...                      config_name="promoter_all", id_column="name")  # doctest: +SKIP
    """
    return hub_task_rows(load_dataset(dataset_id, config_name, revision=revision), spec, **column_mapping)


def task_table(datasets: dict[str, Dataset], specs: dict[str, TaskSpec] = TASKS) -> list[dict]:
    """One row per task (for model cards): task, type, train / test counts, labels or range, metric, sources."""
    table = []
    for name, data in datasets.items():
        spec = specs[name]
        splits = data["split"]
        if spec.labels:
            targets = " / ".join(spec.labels)
        else:
            targets = f"{spec.value_range[0]:g}-{spec.value_range[1]:g} {spec.unit}".rstrip()
        table.append(
            {
                "task": name,
                "type": spec.type,
                "train": splits.count("train"),
                "test": splits.count("test"),
                "labels": targets,
                "metric": spec.metric,
                "sources": ", ".join(spec.sources),
            }
        )
    return table


__all__ = [
    "DEFAULT_DATA_DIR",
    "FLY_LOCUS_GAP",
    "METRICS",
    "PROMOTER_MOTIFS",
    "TASKS",
    "TASK_TYPES",
    "TaskSpec",
    "dinucleotide_shuffle",
    "gc_content",
    "get_task",
    "hash_split",
    "hub_task_rows",
    "load_hub_task",
    "load_task",
    "load_tasks",
    "stable_hash",
    "task_table",
]
