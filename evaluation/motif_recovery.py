"""Does attribution find real biology? Motif recovery on splice sites, on TATA boxes of real fly promoters and on a planted TATA box.

For every record with a known motif, the gradient x input attribution of the TRUE answer's first token
(:func:`chatnt.evaluation.attribution.attribute`) is compared with the motif's span: do the most
attributed positions fall on the motif more often than chance?

Motifs
------
* **Splice sites** (registry task ``splice_site``, the GUE human splice task as published in DNAHL, 400 bp).
  Every window puts its splice junction between bases 199 and 200 (0-based): 49 of the 50 windows
  labelled "Acceptor Sites" carry GT at [200, 202) and 65 of the 65 labelled "Non-Splice Sites" carry AG
  at [198, 200). The consensus around the junction says which site each DNAHL label really holds:

  ==================  ==============================================  ================
  DNAHL label         consensus at the junction (>60% / >40% of records) biological site
  ==================  ==============================================  ================
  "Acceptor Sites"    ``aG|GTaAGt`` (exon MAG, intron GTRAGT)          donor
  "Non-Splice Sites"  ``ttttttttTttttt.cAG|g`` (polypyrimidine + YAG)  acceptor
  "Donor Sites"       no consensus (GT and AG each in ~1/3)            none (decoys)
  ==================  ==============================================  ================

  So DNAHL's label names are permuted relative to the biology (:data:`SPLICE_SITE_OF_LABEL`). The
  check keeps the DNAHL label as the answer the model is asked to explain (it is what it was trained
  to say) and takes the motif from the biology: the donor GT at [200, 202), the acceptor AG at
  [198, 200). A record whose window lacks that dinucleotide at the junction is left out and counted
  (``skipped``); the junction is fixed, so no search for the nearest GT/AG is needed. The decoys
  ("Donor Sites") have no motif and are not scored.
* **TATA boxes of real fly promoters** (registry task ``promoter_motifs``: 300 bp upstream of Drosophila
  melanogaster transcripts, labelled by motif matches on the transcript's strand). The group is the TEST
  windows with exactly ONE ``TATAWAW`` match (windows with several are skipped and counted: a single span
  keeps the statistic exact); the question is the yes/no one the model was tuned with, "does @seq contain a
  TATA box (TATAWAW)?", and the attributed answer is "yes". Unlike the planted box, nothing here was put in
  by us: the box sits where the genome has it.
* **Planted TATA box** (task ``planted_tata``, :mod:`chatnt.evaluation.planted_tata`): real *E. coli*
  windows, half with a TATA box sampled from the JASPAR TBP matrix planted at a known position, half with a
  base-shuffled decoy of one planted the same way (the decoy span is a control on the negatives).

The statistic
-------------
The attribution's resolution is one DNA token (a 6-mer; leftover bases and N are single-base tokens):
``base_scores`` spread each token's score evenly over its bases, so bases of one token always tie and a
base-level rule would break ties by position, not by evidence. Both rules therefore work on tokens,
ranked by ``|token_score|``, the gradient x input of one input embedding each:

* ``peak``: the top token overlaps the motif;
* ``top5``: one of the top 5 tokens overlaps it.

Among 6-mers this is the ranking of ``SequenceAttribution.peak()`` and ``top_kmers(6, 5)`` (their
non-overlapping 6 bp windows fall on 6-mer tokens, since scores are constant within a token). They
differ only on the few leftover single-base tokens at a window's end, which per-base scores (``|score| /
1`` against ``|score| / 6``) would favour six-fold for no biological reason.

The null hypothesis is "the ranking of tokens carries no position information" (a uniformly random
ranking), so the chance rate is exact from the token spans: with ``T`` tokens of which ``h`` overlap the
motif, ``h / T`` for ``peak`` and ``1 - C(T - h, n) / C(T, n)`` for the top ``n``. The rate over a group
is compared with the mean chance rate by a one-sided binomial test (``scipy.stats.binomtest``;
per-record chance rates of one group differ only by the motif's offset within its token, so the mean is
an accurate stand-in for the Poisson-binomial). NOTE: with tokens starting at 0, the donor GT
[200, 202) and the acceptor AG [198, 200) lie in the SAME token [198, 204): at this resolution "peak on
GT" and "peak on AG" both mean "peak on the junction token".

Run::

    python -m chatnt.evaluation.motif_recovery --model checkpoints/chatnt-mini --output_dir runs/motif-recovery \\
        --max_per_label 20

writes ``motif_recovery.json`` (per-group results, per-record hits and scores), ``motif_recovery.md`` (the
table), ``motif_recovery.png`` (observed vs chance bars; mean |attribution| aligned on the motif start),
``kmer_frequencies.png`` (top 6-mers per group, i.e. per task and label), ``<group>_track.png`` and
``<group>_logo.png`` (the best-recovered record of each group: an example, not a typical one) and ends its
output with ``key: value`` headline lines.

"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from chatnt.evaluation.planted_tata import (
    PLANTED_LABELS,
    PLANTED_TASK,
    TBP_MATRIX_ID,
    planted_tata_question,
    planted_tata_records,
)
from chatnt.tasks.registry import PROMOTER_MOTIFS, get_task, load_task, stable_hash
from chatnt.tasks.instruction_data import CONTEXT_PREFIXES, PHRASINGS, YES_NO_QUESTIONS
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import binomtest
from tqdm.auto import tqdm

# --------------------------------------------------------------------------------------------------
# Splice sites
# --------------------------------------------------------------------------------------------------

SPLICE_TASK = "splice_site"
SPLICE_JUNCTION = 200
"""0-based index of the first base after the splice junction in every 400 bp window of the task."""
SPLICE_SITE_OF_LABEL = {"Acceptor Sites": "donor", "Non-Splice Sites": "acceptor"}
"""DNAHL label -> the splice site its windows really hold (see the module docstring for the evidence)."""
SPLICE_DINUCLEOTIDES = {"donor": ("GT", 0), "acceptor": ("AG", -2)}
"""Site -> (canonical dinucleotide, its start relative to the junction): intron starts GT, ends AG."""

# Group -> (task, motif word of the headline keys). Each group is one (task, label) of the check.
GROUPS = {
    "splice_donor": (SPLICE_TASK, "gt"),
    "splice_acceptor": (SPLICE_TASK, "ag"),
    "fly_tata": ("promoter_motifs", "tata"),
    "planted_tata": (PLANTED_TASK, "motif"),
    "planted_tata_decoy": (PLANTED_TASK, "decoy"),
}
FLY_TASK = "promoter_motifs"
FLY_MOTIF = "TATA box"
TASK_CHOICES = (SPLICE_TASK, FLY_TASK, PLANTED_TASK)


@dataclasses.dataclass(frozen=True)
class MotifRecord:
    """One sequence with a known motif span, and the question whose true answer is attributed.

    Attributes:
        group: key of :data:`GROUPS` (a task and label).
        task: the task the question belongs to.
        id: record id.
        sequence: the DNA.
        label: the record's label in its task.
        answer: the true answer the attribution explains (the label, or ``"yes"``/``"no"``).
        question: the question, naming the sequence ``@seq``.
        motif_start, motif_end: the motif's span ``[start, end)`` in the sequence.
        motif_name: ``"GT"``, ``"AG"``, ``"TATA box"`` or ``"decoy"``.
    """

    group: str
    task: str
    id: str
    sequence: str
    label: str
    answer: str
    question: str
    motif_start: int
    motif_end: int
    motif_name: str


def splice_motif_span(sequence: str, site: str, junction: int = SPLICE_JUNCTION) -> tuple[int, int] | None:
    """The span of the site's canonical dinucleotide at the junction, or ``None`` when it is not there.

    Args:
        sequence: the window.
        site: ``"donor"`` (GT starting at ``junction``) or ``"acceptor"`` (AG ending at ``junction``).
        junction: index of the first base after the exon/intron boundary.

    Example:
        >>> splice_motif_span("CAGGTAAGT", "donor", junction=3)
        (3, 5)
        >>> splice_motif_span("TTCAGGT", "acceptor", junction=5)
        (3, 5)
    """
    if site not in SPLICE_DINUCLEOTIDES:
        raise ValueError(f"site must be one of {sorted(SPLICE_DINUCLEOTIDES)}, got {site!r}.")
    dinucleotide, offset = SPLICE_DINUCLEOTIDES[site]
    start = junction + offset
    if start < 0 or start + len(dinucleotide) > len(sequence):
        raise ValueError(f"A {len(sequence)} bp window has no room for a {site} dinucleotide at junction {junction}.")
    return (start, start + len(dinucleotide)) if sequence[start : start + 2].upper() == dinucleotide else None


def splice_question() -> str:
    """The splice task's first training question (the wording the model learned), about ``@seq``."""
    spec = get_task(SPLICE_TASK)
    template = PHRASINGS[SPLICE_TASK].questions["train"][0]
    return template.format(seq="@seq", options=", ".join(spec.labels), context=spec.context)


def _capped(records: list[MotifRecord], max_per_label: int | None, seed: int) -> list[MotifRecord]:
    """At most ``max_per_label`` records per group, the first in a seeded hash order (stable across runs)."""
    if max_per_label is None:
        return records
    if max_per_label < 1:
        raise ValueError(f"max_per_label must be at least 1 or None, got {max_per_label}.")
    kept, counts = [], {}
    for record in sorted(records, key=lambda record: (stable_hash(f"{seed}:{record.id}"), record.id)):
        if counts.get(record.group, 0) < max_per_label:
            counts[record.group] = counts.get(record.group, 0) + 1
            kept.append(record)
    return kept


def _splits(split: str) -> tuple[str, ...]:
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}.")
    return ("train", "test") if split == "all" else (split,)


def splice_site_records(
    data_dir: str | Path | None = None, split: str = "test", max_per_label: int | None = None, seed: int = 0
) -> tuple[list[MotifRecord], dict[str, int]]:
    """Donor and acceptor windows of the splice task with their dinucleotide span.

    Args:
        data_dir: the shared data folder (default: the registry's).
        split: ``"test"``, ``"train"`` or ``"all"``.
        max_per_label: cap per group (seeded hash order); ``None`` keeps all.
        seed: seeds the cap's order.

    Returns:
        ``(records, skipped)``: ``skipped[group]`` counts windows without the canonical dinucleotide at
        the junction, which are left out.
    """
    data = load_task(SPLICE_TASK, data_dir, max_per_class=None, seed=seed)
    question = splice_question()
    records, skipped = [], {}
    for row in data:
        site = SPLICE_SITE_OF_LABEL.get(row["label"])
        if site is None or row["split"] not in _splits(split):
            continue
        group = f"splice_{site}"
        span = splice_motif_span(row["sequence"], site)
        if span is None:
            skipped[group] = skipped.get(group, 0) + 1
            continue
        records.append(
            MotifRecord(group, SPLICE_TASK, row["id"], row["sequence"], row["label"], row["label"], question,
                        span[0], span[1], SPLICE_DINUCLEOTIDES[site][0])
        )
    return _capped(records, max_per_label, seed), skipped


def fly_tata_question() -> str:
    """The first training yes/no question, about ``@seq`` holding a TATA box (the wording the model learned)."""
    spec = get_task(FLY_TASK)
    return YES_NO_QUESTIONS["train"][0].format(
        context_prefix=CONTEXT_PREFIXES["train"].format(context=spec.context),
        seq="@seq",
        predicate=PHRASINGS[FLY_TASK].predicates[FLY_MOTIF],
    )


def fly_tata_records(
    data_dir: str | Path | None = None, split: str = "test", max_per_label: int | None = None, seed: int = 0
) -> tuple[list[MotifRecord], dict[str, int]]:
    """Real fly promoter windows with one TATA box, its span, and the answer ``yes``.

    Returns:
        ``(records, skipped)``: ``skipped["fly_tata"]`` counts windows with more than one match, left out.
    """
    data = load_task(FLY_TASK, data_dir, max_per_class=None, seed=seed)
    question, pattern = fly_tata_question(), re.compile(f"(?=({PROMOTER_MOTIFS[FLY_MOTIF]}))")
    records, skipped = [], {}
    for row in data:
        if FLY_MOTIF not in row["label"] or row["split"] not in _splits(split):
            continue
        # Overlapping matches count (TATAAATA holds two), lookahead finds them all.
        matches = [match.start() for match in pattern.finditer(row["sequence"])]
        if len(matches) != 1:
            skipped["fly_tata"] = skipped.get("fly_tata", 0) + 1
            continue
        start = matches[0]
        records.append(
            MotifRecord("fly_tata", FLY_TASK, row["id"], row["sequence"], FLY_MOTIF, "yes", question,
                        start, start + 7, FLY_MOTIF)
        )
    return _capped(records, max_per_label, seed), skipped


def planted_tata_motif_records(
    data_dir: str | Path | None = None,
    split: str = "test",
    max_per_label: int | None = None,
    seed: int = 0,
    **builder_kwargs,
) -> list[MotifRecord]:
    """The planted task's records as :class:`MotifRecord` s: ``planted_tata`` (the TATA box, answer ``yes``)
    and ``planted_tata_decoy`` (the decoy span as a control, answer ``no``).

    ``builder_kwargs`` go to :func:`planted_tata_records`; give the ones a model was tuned with so the test
    records are the ones it did not see (test records do not depend on ``n_train_per_label``).
    """
    data = planted_tata_records(data_dir, seed=seed, **builder_kwargs)
    question = planted_tata_question()
    records = []
    for row in data:
        if row["split"] not in _splits(split):
            continue
        is_motif = row["planted_kind"] == "motif"
        records.append(
            MotifRecord(
                PLANTED_TASK if is_motif else f"{PLANTED_TASK}_decoy", PLANTED_TASK, row["id"], row["sequence"],
                row["label"], "yes" if is_motif else "no", question, row["planted_start"], row["planted_end"],
                PLANTED_LABELS[0] if is_motif else "decoy",
            )
        )
    return _capped(records, max_per_label, seed)


# --------------------------------------------------------------------------------------------------
# The statistic
# --------------------------------------------------------------------------------------------------


def token_spans(tokens: Sequence[str], sequence_length: int | None = None) -> np.ndarray:
    """``(len(tokens), 2)`` base spans ``[start, end)`` of consecutive DNA tokens (a token covers len(token) bases).

    Raises:
        ValueError: the tokens do not cover ``sequence_length`` bases exactly (when given).
    """
    widths = np.array([len(token) for token in tokens], dtype=np.int64)
    ends = np.cumsum(widths)
    if sequence_length is not None and (len(ends) == 0 or ends[-1] != sequence_length):
        covered = int(ends[-1]) if len(ends) else 0
        raise ValueError(f"The {len(tokens)} tokens cover {covered} bp, not the sequence's {sequence_length} bp.")
    return np.stack([ends - widths, ends], axis=1)


def _overlapping(spans: np.ndarray, start: int, end: int) -> np.ndarray:
    return (spans[:, 0] < end) & (spans[:, 1] > start)


def ranked_tokens(attribution) -> np.ndarray:
    """Token indices by decreasing ``|token_score|``, first index on ties.

    Not by per-base magnitude: a leftover single-base token would then count six times its 6-mer
    neighbours (see the module docstring).
    """
    magnitude = np.abs(np.asarray(attribution.token_scores, dtype=np.float64))
    return np.argsort(-magnitude, kind="stable")


def chance_of_overlap(spans: np.ndarray, start: int, end: int, top_n: int = 1) -> float:
    """Probability that one of ``top_n`` tokens drawn at random (without replacement) overlaps ``[start, end)``.

    ``1 - C(T - h, n) / C(T, n)`` for ``T`` tokens of which ``h`` overlap the span: exact under a uniformly
    random ranking of the tokens.
    """
    total, hits = len(spans), int(_overlapping(spans, start, end).sum())
    draws = min(top_n, total)
    if total == 0:
        raise ValueError("No token: the chance rate needs at least one.")
    return 1.0 - math.comb(total - hits, draws) / math.comb(total, draws)


def score_attribution(attribution, motif_start: int, motif_end: int, top_n: int = 5) -> dict:
    """Whether the peak token / one of the top ``top_n`` tokens overlaps the motif, with each rule's chance rate.

    Args:
        attribution: a :class:`~chatnt.evaluation.attribution.SequenceAttribution` (``sequence``, ``tokens``,
            ``token_scores``).
        motif_start, motif_end: the motif's span ``[start, end)``.
        top_n: tokens of the top rule.

    Returns:
        ``{"peak_hit", "peak_chance", "top_hit", "top_chance", "peak_span", "top_spans"}``.
    """
    length = len(attribution.sequence)
    if not 0 <= motif_start < motif_end <= length:
        raise ValueError(f"Motif span [{motif_start}, {motif_end}) lies outside the {length} bp sequence.")
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}.")
    spans = token_spans(attribution.tokens, length)
    if len(spans) != len(attribution.token_scores):
        raise ValueError(f"{len(attribution.tokens)} tokens but {len(attribution.token_scores)} token scores.")
    order = ranked_tokens(attribution)
    top = order[:top_n]
    overlapping = _overlapping(spans, motif_start, motif_end)
    return {
        "peak_hit": bool(overlapping[order[0]]),
        "peak_chance": chance_of_overlap(spans, motif_start, motif_end, 1),
        "top_hit": bool(overlapping[top].any()),
        "top_chance": chance_of_overlap(spans, motif_start, motif_end, top_n),
        "peak_span": [int(value) for value in spans[order[0]]],
        "top_spans": [[int(value) for value in spans[index]] for index in top],
    }


@dataclasses.dataclass
class RecoveryRate:
    """How often one rule's top positions hit the motif in one group, against chance.

    Attributes:
        group, task, label, motif: which (task, label) and motif.
        rule: ``"peak"`` or ``"top{n}"``.
        n: sequences scored; hits: of them, those whose top position(s) overlap the motif.
        rate: ``hits / n``; chance: mean exact chance rate; ratio: ``rate / chance``.
        p_value: one-sided binomial test of ``hits`` out of ``n`` at ``chance`` (greater).
        skipped: records of the group left out (no canonical dinucleotide at the junction).
        peaks_on_single_bases: sequences whose peak token is a single-base token (a leftover base or N), a
            diagnostic: a model that leans on the few leftover bases at a window's end shows it here.
    """

    group: str
    task: str
    label: str
    motif: str
    rule: str
    n: int
    hits: int
    rate: float
    chance: float
    ratio: float
    p_value: float
    skipped: int = 0
    peaks_on_single_bases: int = 0


def recovery_rate(hits: Sequence[bool], chances: Sequence[float]) -> tuple[float, float, float, float]:
    """``(rate, chance, ratio, p_value)`` of per-sequence hits against their chance rates.

    Example:
        >>> recovery_rate([True, True, False, False], [0.25] * 4)[:3]
        (0.5, 0.25, 2.0)
    """
    if len(hits) == 0 or len(hits) != len(chances):
        raise ValueError(f"Need as many chance rates as hits (at least one); got {len(hits)} and {len(chances)}.")
    count, n = int(sum(bool(hit) for hit in hits)), len(hits)
    chance = float(np.mean(chances))
    if not 0.0 < chance < 1.0:
        raise ValueError(f"The chance rate must lie strictly between 0 and 1, got {chance}.")
    return count / n, chance, (count / n) / chance, float(binomtest(count, n, chance, alternative="greater").pvalue)


def summarize(scored: Sequence[dict], top_n: int = 5, skipped: dict[str, int] | None = None) -> list[RecoveryRate]:
    """One :class:`RecoveryRate` per (group, rule) of scored records (dicts with the :class:`MotifRecord`
    fields and :func:`score_attribution`'s), groups in :data:`GROUPS` order."""
    skipped = skipped or {}
    results = []
    for group in sorted({item["group"] for item in scored}, key=lambda name: list(GROUPS).index(name)):
        items = [item for item in scored if item["group"] == group]
        for rule, prefix in (("peak", "peak"), (f"top{top_n}", "top")):
            rate, chance, ratio, p_value = recovery_rate(
                [item[f"{prefix}_hit"] for item in items], [item[f"{prefix}_chance"] for item in items]
            )
            results.append(
                RecoveryRate(group, items[0]["task"], items[0]["label"], items[0]["motif_name"], rule, len(items),
                             sum(item[f"{prefix}_hit"] for item in items), rate, chance, ratio, p_value,
                             skipped.get(group, 0),
                             sum(item["peak_span"][1] - item["peak_span"][0] == 1 for item in items))
            )
    return results


def aligned_profile(items: Iterable[tuple[Sequence[float], int]], flank: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean share of |attribution| per base, aligned on the motif start.

    Each sequence's ``|base_scores|`` are divided by their sum (every sequence weighs the same), then read
    at offsets ``-flank .. +flank`` from its motif start; offsets outside a sequence are left out of the mean.

    Args:
        items: ``(base_scores, motif_start)`` pairs.
        flank: bases on each side of the motif start.

    Returns:
        ``(offsets, mean_share)``; a share of ``1 / length`` at every base is a flat (uninformative) profile.
    """
    offsets = np.arange(-flank, flank + 1)
    rows = []
    for base_scores, motif_start in items:
        magnitude = np.abs(np.asarray(base_scores, dtype=np.float64))
        total = magnitude.sum()
        share = magnitude / total if total > 0 else np.full(len(magnitude), 1.0 / len(magnitude))
        positions = motif_start + offsets
        inside = (positions >= 0) & (positions < len(share))
        row = np.full(len(offsets), np.nan)
        row[inside] = share[positions[inside]]
        rows.append(row)
    if not rows:
        raise ValueError("No sequence to profile.")
    with np.errstate(all="ignore"):
        return offsets, np.nanmean(np.stack(rows), axis=0)


# --------------------------------------------------------------------------------------------------
# Running the check
# --------------------------------------------------------------------------------------------------


def attribute_records(model, processor, records: Sequence[MotifRecord], top_n: int = 5, bf16: bool = False) -> list[dict]:
    """Attributes the TRUE answer of every record and scores it against the motif.

    The true answer, not the model's own: the check asks which bases raise the correct label's first
    token, the same target for every model, and a weak model's own answer is often one label for every
    record, which would attribute the same token for both classes. It also saves a generation per record.

    Returns:
        One dict per record: the record's fields, ``target_token``, :func:`score_attribution`'s fields, and
        ``base_scores`` (for the profiles).
    """
    from chatnt.evaluation.attribution import attribute  # torch and the model code only when attributing

    scored = []
    for record in tqdm(records, desc="attributing", unit="seq"):
        result = attribute(model, processor, record.question, {"seq": record.sequence}, answer=record.answer, bf16=bf16)
        sequence_attribution = result.sequences[0]
        scored.append(
            dataclasses.asdict(record)
            | {"target_token": result.target_token}
            | score_attribution(sequence_attribution, record.motif_start, record.motif_end, top_n)
            | {
                "tokens": list(sequence_attribution.tokens),
                "token_scores": [round(float(value), 8) for value in sequence_attribution.token_scores],
                "base_scores": [round(float(value), 8) for value in sequence_attribution.base_scores],
            }
        )
    return scored


def attribution_plots(scored: Sequence[dict], output_dir: Path) -> list[Path]:
    """The top-6-mer frequencies per group (a task and label) and, per group, the track and logo of its
    best-recovered record (its motif token ranked highest; the first record on ties)."""
    from chatnt.evaluation.attribution import SequenceAttribution, aggregate_by_label
    from chatnt.evaluation.plots import attribution_logo, attribution_track, kmer_frequency_plot

    def as_attribution(item: dict) -> SequenceAttribution:
        return SequenceAttribution(
            item["id"], item["sequence"], item["tokens"], np.array(item["token_scores"]), np.array(item["base_scores"])
        )

    paths = [kmer_frequency_plot(aggregate_by_label((item["group"], as_attribution(item)) for item in scored),
                                 output_dir / "kmer_frequencies.png")]
    for group in dict.fromkeys(item["group"] for item in scored):
        items = [item for item in scored if item["group"] == group]
        best = max(items, key=lambda item: (item["peak_hit"], item["top_hit"]))
        title = f"{group}: {best['id']} ({best['motif_name']} at {best['motif_start']}-{best['motif_end']})"
        paths.append(attribution_track(as_attribution(best), output_dir / f"{group}_track.png", title=title))
        paths.append(attribution_logo(as_attribution(best), output_dir / f"{group}_logo.png", title=title))
    return paths


def headline(results: Sequence[RecoveryRate]) -> list[str]:
    """``key: value`` lines: per group, each rule's rate and chance (``splice_donor_peak_in_gt: 0.31``, ...)."""
    lines = []
    for result in results:
        word = GROUPS[result.group][1]
        key = f"{result.group}_{result.rule}"
        chance_key = f"{result.group}_chance" if result.rule == "peak" else f"{key}_chance"
        lines += [f"{key}_in_{word}: {result.rate:.3f}", f"{chance_key}: {result.chance:.3f}",
                  f"{key}_p_value: {result.p_value:.3g}"]
    return lines


def markdown_table(results: Sequence[RecoveryRate]) -> str:
    """The results as a Markdown table."""
    lines = [
        ("| group | task label | motif | rule | n | hits | rate | chance | ratio | p (binomial, >) | skipped "
         "| peaks on single-base tokens |"),
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.group} | {r.label} | {r.motif} | {r.rule} | {r.n} | {r.hits} | {r.rate:.3f} | {r.chance:.3f} | "
            f"{r.ratio:.2f} | {r.p_value:.3g} | {r.skipped} | {r.peaks_on_single_bases} |"
        )
    return "\n".join(lines) + "\n"


def recovery_plot(results: Sequence[RecoveryRate], scored: Sequence[dict], path: str | Path, flank: int = 30) -> Path:
    """Observed vs chance rates per group and rule (bars), and per group the mean |attribution| share aligned
    on the motif start (the motif shaded; the dashed line is a flat profile)."""
    groups = list(dict.fromkeys(result.group for result in results))
    figure = Figure(figsize=(max(7.0, 3.2 * len(groups)), 7.0))
    grid = figure.add_gridspec(2, len(groups))
    bars = figure.add_subplot(grid[0, :])
    labels = [f"{r.group}\n{r.rule}" for r in results]
    x = np.arange(len(results))
    bars.bar(x - 0.2, [r.rate for r in results], 0.4, label="observed")
    bars.bar(x + 0.2, [r.chance for r in results], 0.4, label="chance", color="0.6")
    for index, r in enumerate(results):
        bars.text(index - 0.2, r.rate, f"{r.hits}/{r.n}", ha="center", va="bottom", fontsize=7)
    bars.set_xticks(x, labels, fontsize=7)
    bars.set_ylabel("top position(s) on the motif")
    bars.set_ylim(0, 1.05)
    bars.legend(fontsize=8)
    for column, group in enumerate(groups):
        axes = figure.add_subplot(grid[1, column])
        items = [item for item in scored if item["group"] == group]
        offsets, profile = aligned_profile(((item["base_scores"], item["motif_start"]) for item in items), flank)
        axes.plot(offsets, profile, color="C0")
        width = items[0]["motif_end"] - items[0]["motif_start"]
        axes.axvspan(-0.5, width - 0.5, color="C1", alpha=0.25, label=items[0]["motif_name"])
        flat = float(np.mean([1.0 / len(item["sequence"]) for item in items]))
        axes.axhline(flat, color="0.5", linestyle="--", linewidth=0.8)
        axes.set_title(f"{group} (n = {len(items)})", fontsize=9)
        axes.set_xlabel("offset from motif start (bp)", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.legend(fontsize=7)
        if column == 0:
            axes.set_ylabel("mean share of |attribution|", fontsize=8)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure).print_png(str(path))
    return path


def collect_records(
    tasks: Sequence[str], data_dir: str | Path | None, split: str, max_per_label: int | None, seed: int
) -> tuple[list[MotifRecord], dict[str, int]]:
    """The records of ``tasks`` (of :data:`TASK_CHOICES`) and the skipped counts."""
    unknown = sorted(set(tasks) - set(TASK_CHOICES))
    if unknown:
        raise ValueError(f"Unknown task(s) {unknown}; choose among {TASK_CHOICES}.")
    records, skipped = [], {}
    for task, source in ((SPLICE_TASK, splice_site_records), (FLY_TASK, fly_tata_records)):
        if task in tasks:
            found, left_out = source(data_dir, split, max_per_label, seed)
            records, skipped = records + found, skipped | left_out
    if PLANTED_TASK in tasks:
        records += planted_tata_motif_records(data_dir, split, max_per_label, seed)
    return records, skipped


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="A saved ChatNT checkpoint (e.g. checkpoints/chatnt-mini).")
    parser.add_argument("--output_dir", required=True, help="Where motif_recovery.json / .md / .png are written.")
    parser.add_argument("--task", nargs="+", default=list(TASK_CHOICES), choices=TASK_CHOICES,
                        help="Which motif groups (default: all).")
    parser.add_argument("--max_per_label", type=int, default=None, help="Records per group (default: all).")
    parser.add_argument("--split", default="test", choices=("test", "train", "all"))
    parser.add_argument("--data_dir", default=None, help="The shared data folder (default: the registry's).")
    parser.add_argument("--seed", type=int, default=0, help="Seeds the planted task and the record caps.")
    parser.add_argument("--top_n", type=int, default=5, help="Tokens of the top rule (top_kmers' default n).")
    parser.add_argument("--flank", type=int, default=30, help="Bases each side of the motif start in the profiles.")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast on a CPU: faster, noisier gradients.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[RecoveryRate]:
    args = parse_args(argv)
    import torch
    from chatnt.modeling_chatnt import ChatNTForConditionalGeneration
    from chatnt.processing_chatnt import ChatNTProcessor

    records, skipped = collect_records(args.task, args.data_dir, args.split, args.max_per_label, args.seed)
    if not records:
        raise ValueError(f"No record with a motif for --task {' '.join(args.task)} --split {args.split}.")
    model = ChatNTForConditionalGeneration.from_pretrained(args.model).eval()
    processor = ChatNTProcessor.from_pretrained(args.model)
    started = time.perf_counter()
    scored = attribute_records(model, processor, records, args.top_n, args.bf16)
    seconds = time.perf_counter() - started
    results = summarize(scored, args.top_n, skipped)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "model": str(args.model),
        "settings": vars(args) | {"threads": torch.get_num_threads()},
        "attribution_seconds": round(seconds, 1),
        "splice_site_of_label": SPLICE_SITE_OF_LABEL,
        "planted_matrix": TBP_MATRIX_ID,
        "results": [dataclasses.asdict(result) for result in results],
        "records": scored,
    }
    (output_dir / "motif_recovery.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (output_dir / "motif_recovery.md").write_text(
        f"# Motif recovery of {args.model}\n\nTrue answer's first token, gradient x input; rules on DNA tokens "
        f"(see chatnt.evaluation.motif_recovery). {len(scored)} sequences, {seconds:.0f} s.\n\n"
        + markdown_table(results),
        encoding="utf-8",
    )
    recovery_plot(results, scored, output_dir / "motif_recovery.png", args.flank)
    attribution_plots(scored, output_dir)
    print(markdown_table(results))
    print(f"sequences: {len(scored)}")
    print(f"attribution_seconds: {seconds:.1f}")
    for line in headline(results):
        print(line)
    return results


if __name__ == "__main__":
    main()
