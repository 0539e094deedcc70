"""The planted-TATA task: real bacterial windows, half with a TATA box planted at a known position.

A positive control for attribution (:mod:`chatnt.evaluation.motif_recovery`): a model that learns this
task must look at the planted bases, so its attribution should find them.

200 bp windows of the *E. coli* 536 genome (:data:`BACKGROUND_GENOME`), half with a TATA box sampled from
the JASPAR TBP matrix (MA0108.3, ``TATAAAA``) planted at a uniform position, half with a DECOY: the same
kind of sampled instance with its bases shuffled, planted the same way. The decoy keeps the base
composition of the positives, so AT content alone cannot tell the classes apart; it also gives a control
span on the negatives. The background is a bacterial genome on purpose: it holds no TBP-driven core
promoters (bacteria have no TBP), ~88% of it is protein-coding, it is real sequence with real composition
and dinucleotide structure, and no ChatNT task trains on it. The other files do not fit: the fly windows
are promoters, janggu's human windows are ChIP-seq peaks that the oct4_mafk/gc_content tasks train on, the
yeast ORFs are only 30 kb, and rRNA genes are few and repetitive. Windows are non-overlapping 200 bp
tiles, N-free and deduplicated; every background window must have no PWM hit of ``max_background_score``
bits or more on either strand (so a negative is clean), every planted instance scores at least
``min_motif_score`` bits, and every decoy window stays below ``max_background_score``. The genome is cut
into 100 kb blocks and 20% of the blocks (by hash) are TEST.

To fine-tune on it, ``--dataset chatnt.evaluation.planted_tata:build_planted_tata_instructions`` gives
:mod:`chatnt.training.chatnt_sft` its rows.
"""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import numpy as np
from chatnt.fasta import iter_fasta
from chatnt.tasks.registry import DEFAULT_DATA_DIR, TaskSpec, hash_split
from chatnt.tasks.instruction_data import YES_NO_QUESTIONS, InstructionConfig, TaskPhrasing, build_task_rows
from datasets import Dataset, DatasetDict

PLANTED_TASK = "planted_tata"
BACKGROUND_GENOME = "ecoli/NC_008253.fna.gz"
TBP_MATRIX_ID = "MA0108.3"
PLANTED_LABELS = ("TATA box", "no TATA box")
PLANTED_BLOCK = 100_000
"""Genome block (bp) that goes to one side of the train/test split as a whole."""
PLANTED_TATA_PREDICATE = "contains a TATA box"

PLANTED_TATA_SPEC = TaskSpec(
    name=PLANTED_TASK,
    type="binary",
    description="TATA box detection (200 bp)",
    metric="mcc",
    sources=(BACKGROUND_GENOME,),
    licence="E. coli 536 RefSeq NC_008253.1 (public domain, via Debian bowtie-examples); JASPAR matrices CC BY 4.0",
    sequence_length=200,
    labels=PLANTED_LABELS,
    notes="E. coli 536 200 bp windows without a TBP PWM hit; half carry a TATA box sampled from JASPAR MA0108.3, "
    "half a base-shuffled decoy of one; 20% of 100 kb genome blocks are TEST.",
)
PLANTED_TATA_PHRASING = TaskPhrasing(
    {
        "train": (
            "Does {seq} contain a TATA box? Answer with one of: {options}.",
            "Is there a TATA box in the sequence {seq}? Options: {options}.",
            "Classify {seq} by whether it carries a TATA box. Choose from {options}.",
        ),
        "test": (
            "Scan {seq} for a TBP binding site (TATA box). Possible answers: {options}.",
            "Assign {seq} to one of {options}.",
        ),
    },
    {"TATA box": PLANTED_TATA_PREDICATE},
)


# --------------------------------------------------------------------------------------------------
# Position weight matrix
# --------------------------------------------------------------------------------------------------

_BASE_INDEX = np.full(256, 4, dtype=np.int64)  # anything but ACGT (N, IUPAC) -> column 4
for _index, _base in enumerate("ACGT"):
    _BASE_INDEX[ord(_base)] = _BASE_INDEX[ord(_base.lower())] = _index
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def reverse_complement(sequence: str) -> str:
    """The reverse complement (``N`` stays ``N``)."""
    return sequence.translate(_COMPLEMENT)[::-1]


@dataclasses.dataclass(frozen=True)
class PositionWeightMatrix:
    """A motif's per-column base probabilities (A, C, G, T), with log-odds scoring and sampling.

    Attributes:
        probabilities: ``(length, 4)`` rows summing to 1, over A, C, G, T.
        matrix_id, name: where it comes from (e.g. ``"MA0108.3"``, ``"TBP"``).
    """

    probabilities: np.ndarray
    matrix_id: str = ""
    name: str = ""

    def __post_init__(self):
        probabilities = np.asarray(self.probabilities, dtype=np.float64)
        if probabilities.ndim != 2 or probabilities.shape[1] != 4 or len(probabilities) == 0:
            raise ValueError(f"probabilities must have shape (length, 4), got {probabilities.shape}.")
        if (probabilities <= 0).any() or not np.allclose(probabilities.sum(1), 1.0):
            raise ValueError("Every column must hold positive probabilities summing to 1 (add pseudocounts to counts).")
        object.__setattr__(self, "probabilities", probabilities)

    @classmethod
    def from_counts(cls, counts, matrix_id: str = "", name: str = "", pseudocount: float = 0.5):
        """From a count matrix ``{"A": [...], "C": [...], "G": [...], "T": [...]}`` plus ``pseudocount`` per cell."""
        missing = set("ACGT") - set(counts)
        if missing:
            raise ValueError(f"counts lacks the base(s) {sorted(missing)}.")
        table = np.array([list(counts[base]) for base in "ACGT"], dtype=np.float64).T + pseudocount
        return cls(table / table.sum(1, keepdims=True), matrix_id, name)

    @classmethod
    def from_jaspar(cls, matrix_id: str = TBP_MATRIX_ID, pseudocount: float = 0.5):
        """A JASPAR matrix by id, from the ``pyjaspar`` package's bundled database (offline)."""
        from pyjaspar import jaspardb

        motif = jaspardb().fetch_motif_by_id(matrix_id)
        if motif is None:
            raise KeyError(f"JASPAR has no matrix {matrix_id!r} in pyjaspar's database; try e.g. {TBP_MATRIX_ID!r}.")
        return cls.from_counts({base: motif.counts[base] for base in "ACGT"}, matrix_id, motif.name, pseudocount)

    @property
    def length(self) -> int:
        return len(self.probabilities)

    @property
    def log_odds(self) -> np.ndarray:
        """``(length, 4)`` log2 odds against a uniform background, in bits."""
        return np.log2(self.probabilities / 0.25)

    @property
    def max_score(self) -> float:
        return float(self.log_odds.max(1).sum())

    def scores(self, sequence: str) -> np.ndarray:
        """Log-odds score of every ``length``-bp window on the given strand (N scores the column minimum)."""
        if len(sequence) < self.length:
            return np.empty(0)
        table = np.concatenate([self.log_odds, self.log_odds.min(1, keepdims=True)], axis=1)
        codes = _BASE_INDEX[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
        windows = np.lib.stride_tricks.sliding_window_view(codes, self.length)
        return table[np.arange(self.length), windows].sum(1)

    def best_score(self, sequence: str, both_strands: bool = True) -> float:
        """The highest window score of ``sequence`` (and of its reverse complement); ``-inf`` if too short."""
        scores = [self.scores(sequence)] + ([self.scores(reverse_complement(sequence))] if both_strands else [])
        return max((float(part.max()) for part in scores if len(part)), default=-math.inf)

    def sample(self, rng: random.Random) -> str:
        """One instance: each column's base drawn from its probabilities."""
        return "".join(rng.choices("ACGT", weights=column)[0] for column in self.probabilities.tolist())


# --------------------------------------------------------------------------------------------------
# The planted-TATA task
# --------------------------------------------------------------------------------------------------


def read_genome(path: str | Path) -> str:
    """The uppercase sequence of a one-record (optionally gzipped) FASTA file."""
    records = iter_fasta(path)
    genome = next(records)
    if next(records, None) is not None:
        raise ValueError(f"{path} holds several records; read_genome expects one genome sequence.")
    return genome.sequence.upper()


def _sample_instance(matrix: PositionWeightMatrix, rng: random.Random, min_score: float) -> tuple[str, float]:
    for _ in range(10_000):
        instance = matrix.sample(rng)
        score = float(matrix.scores(instance)[0])
        if score >= min_score:
            return instance, score
    raise ValueError(
        f"No instance of {matrix.matrix_id} reached min_motif_score={min_score} in 10,000 draws (the matrix's "
        f"maximum is {matrix.max_score:.1f} bits); lower min_motif_score."
    )


def _plant(background: str, instance: str, rng: random.Random) -> tuple[str, int]:
    start = rng.randrange(len(background) - len(instance) + 1)
    return background[:start] + instance + background[start + len(instance) :], start


def _planted_record(background: str, label: str, rng: random.Random, matrix, min_motif_score: float,
                    max_background_score: float) -> dict | None:
    """The sequence and planting of one record: a sampled TATA instance for the motif label, a shuffled decoy for
    the other; ``None`` when no decoy leaves the window clean."""
    instance, score = _sample_instance(matrix, rng, min_motif_score)
    if label == PLANTED_LABELS[0]:
        sequence, planted_at = _plant(background, instance, rng)
        kind = "motif"
    else:
        planted = _plant_decoy(background, instance, rng, matrix, max_background_score)
        if planted is None:
            return None
        sequence, planted_at, instance = planted
        score, kind = float(matrix.scores(instance)[0]), "decoy"
    return {"sequence": sequence, "planted_start": planted_at, "planted_end": planted_at + matrix.length,
            "planted_kind": kind, "planted_instance": instance, "planted_score": score}


def _check_settings(n_train_per_label: int, n_test_per_label: int, min_motif_score: float, max_background_score: float):
    if max_background_score > min_motif_score:
        raise ValueError(
            f"max_background_score ({max_background_score}) must not exceed min_motif_score ({min_motif_score}): "
            "a negative's background could then hold a motif as strong as a planted one."
        )
    if n_train_per_label < 0 or n_test_per_label < 0 or n_train_per_label + n_test_per_label == 0:
        raise ValueError("n_train_per_label and n_test_per_label must be >= 0 and not both 0.")


def _plant_decoy(background: str, instance: str, rng: random.Random, matrix, max_background_score: float):
    """A decoy planted in ``background``: the instance's bases shuffled (same composition), kept only if the window
    stays clean by the PWM; ``(sequence, position, decoy)``, or ``None`` when 100 shuffles all leave a TATA box."""
    for _ in range(100):
        decoy = "".join(rng.sample(instance, len(instance)))
        sequence, planted_at = _plant(background, decoy, rng)
        if matrix.best_score(sequence) < max_background_score:
            return sequence, planted_at, decoy
    return None


def planted_tata_records(
    data_dir: str | Path | None = None,
    n_train_per_label: int = 1000,
    n_test_per_label: int = 200,
    window: int = 200,
    seed: int = 0,
    min_motif_score: float = 8.0,
    max_background_score: float = 6.0,
    matrix_id: str = TBP_MATRIX_ID,
    test_fraction: float = 0.2,
) -> Dataset:
    """The planted-TATA task: real *E. coli* windows, half with a sampled TATA box, half with a shuffled decoy.

    Every tile (non-overlapping ``window``-bp tiles, visited in a seeded order) gets its own seeded rng, so
    a record depends only on ``seed``, its tile and the thresholds, never on the other split's size.

    Args:
        data_dir: the shared data folder (default: the registry's).
        n_train_per_label, n_test_per_label: records per label in each split.
        window: window length in bp.
        seed: seeds the tile order, label choice, instances, decoys and positions.
        min_motif_score: least log-odds score (bits) of a planted instance.
        max_background_score: every background window and every decoy window scores below this on both
            strands (so a negative carries no TATA box by the PWM); must not exceed ``min_motif_score``.
        matrix_id: the JASPAR matrix (default TBP, MA0108.3).
        test_fraction: share of 100 kb genome blocks that are TEST.

    Returns:
        A ``Dataset`` with ``id, sequence, label, split, planted_start, planted_end, planted_kind``
        (``"motif"`` or ``"decoy"``), ``planted_instance`` and ``planted_score`` (bits of the planted bases).

    Raises:
        ValueError: bad thresholds or counts, or the genome has too few clean windows.
    """
    _check_settings(n_train_per_label, n_test_per_label, min_motif_score, max_background_score)
    matrix = PositionWeightMatrix.from_jaspar(matrix_id)
    if window < 2 * matrix.length:
        raise ValueError(f"window ({window} bp) must be at least twice the motif length ({matrix.length} bp).")
    genome_path = (Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR) / BACKGROUND_GENOME
    if not genome_path.is_file():
        raise FileNotFoundError(f"Background genome not found: {str(genome_path)!r}. Pass data_dir=<shared data folder>.")
    genome = read_genome(genome_path)
    quota = {"train": n_train_per_label, "test": n_test_per_label}
    counts = {(split, label): 0 for split in quota for label in PLANTED_LABELS}
    starts = list(range(0, len(genome) - window + 1, window))
    random.Random(f"{PLANTED_TASK}:{seed}:tiles").shuffle(starts)
    rows, seen = [], set()
    for start in starts:
        if all(counts[key] >= quota[key[0]] for key in counts):
            break
        split = hash_split(f"{PLANTED_TASK}:block{start // PLANTED_BLOCK}", test_fraction)
        open_labels = [label for label in PLANTED_LABELS if counts[(split, label)] < quota[split]]
        background = genome[start : start + window]
        if not open_labels or set(background) - set("ACGT") or background in seen:
            continue
        if matrix.best_score(background) >= max_background_score:
            continue
        seen.add(background)
        rng = random.Random(f"{PLANTED_TASK}:{seed}:{start}")
        # The label with fewer records so far; a coin on ties. Either way the tile's rng draws the same.
        coin = rng.random() < 0.5
        label = min(open_labels, key=lambda name: (counts[(split, name)], name != PLANTED_LABELS[0 if coin else 1]))
        row = _planted_record(background, label, rng, matrix, min_motif_score, max_background_score)
        if row is None:
            continue
        counts[(split, label)] += 1
        rows.append({"id": f"ecoli536_{start}_{start + window}_{row['planted_kind']}", "sequence": row.pop("sequence"),
                     "label": label, "split": split, **row})
    short = {key: quota[key[0]] - count for key, count in counts.items() if count < quota[key[0]]}
    if short:
        raise ValueError(f"The genome ran out of clean windows; missing records per (split, label): {short}.")
    rows.sort(key=lambda row: row["split"] != "train")  # train first, then test; stable within a split
    return Dataset.from_list(rows)


def planted_tata_question() -> str:
    """The yes/no question attributed on the planted task, in instruction_data's training wording."""
    return YES_NO_QUESTIONS["train"][0].format(context_prefix="", seq="@seq", predicate=PLANTED_TATA_PREDICATE)


def build_planted_tata_instructions(
    data_dir: str | Path | None = None,
    n_train_per_label: int = 1000,
    n_test_per_label: int = 200,
    seed: int = 0,
    min_motif_score: float = 8.0,
    max_background_score: float = 6.0,
    **config: object,
) -> DatasetDict:
    """Instruction rows of the planted-TATA task (``--dataset`` of :mod:`chatnt.training.chatnt_sft`).

    By default every row asks a yes/no question ("Is it true that @seq contains a TATA box? Answer yes
    or no."), answered ``yes`` for a planted TATA box and ``no`` for a decoy, in
    :mod:`~chatnt.tasks.instruction_data`'s yes/no wordings (train and test pools disjoint).

    Args:
        data_dir, n_train_per_label, n_test_per_label, seed, min_motif_score, max_background_score: see
            :func:`planted_tata_records`.
        **config: fields of :class:`~chatnt.tasks.instruction_data.InstructionConfig`; defaults here
            are ``yes_no_fraction=1.0`` (``0.5`` mixes in "Answer with one of: TATA box, no TATA box"
            questions), ``pair_fraction=0.0`` and ``multi_turn_fraction=0.0``.

    Returns:
        ``DatasetDict`` with ``train`` and ``test`` rows of the instruction schema.
    """
    records = planted_tata_records(
        data_dir, n_train_per_label, n_test_per_label, seed=seed,
        min_motif_score=min_motif_score, max_background_score=max_background_score,
    )
    settings = {"yes_no_fraction": 1.0, "pair_fraction": 0.0, "multi_turn_fraction": 0.0} | config | {"seed": seed}
    rows = build_task_rows(
        PLANTED_TATA_SPEC, records.select_columns(["id", "sequence", "label", "split"]),
        InstructionConfig(**settings), PLANTED_TATA_PHRASING,
    )
    return DatasetDict({split: rows.filter(lambda row, split=split: row["split"] == split) for split in ("train", "test")})
