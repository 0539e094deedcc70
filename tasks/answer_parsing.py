"""Reading a task's answer out of the free text a model generates.

A chat model does not answer with a bare label: it says "I would say Non-promoter.", "This is not a
splice donor", "It has a TATA box and an Inr" or "Roughly 41.5%". Scoring such text by exact match
under-counts right answers; scoring it by "does the label occur" over-counts them, because an answer
that echoes the options ("either promoter or Non-promoter") or negates a label ("not a promoter")
contains every label it mentions. The parsers here find each label mention, decide whether it is
affirmed or negated, and return a label only when the text commits to one; anything else is ``None``,
which the metrics (:mod:`chatnt.evaluation.metrics`) count as wrong and report, never drop.

Example:
    >>> from chatnt.tasks.registry import get_task
    >>> parse_answer("Not a promoter, I think.", get_task("core_promoter"))
    'Non-promoter'
    >>> parse_answer("Either promoter or Non-promoter.", get_task("core_promoter")) is None
    True
    >>> parse_answer("It has a TATA box and an Inr but no GC box.", get_task("promoter_motifs"))
    ('TATA box', 'Inr')
    >>> parse_answer("Roughly 4.1e1 %", get_task("gc_content"))
    41.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatnt.tasks.registry import TASK_TYPES

if TYPE_CHECKING:
    from chatnt.tasks.registry import TaskSpec

# Label words may be written with spaces, hyphens, underscores or slashes between them, or none:
# "Non-promoter", "non promoter" and "nonpromoter" are one label, as are "23S/28S" and "23S 28S".
_WORD_JOINER = r"[\s\-_/]*"
# A clause ends at punctuation or a conjunction; a negation never reaches across it, so in
# "no TATA box and an Inr" only the TATA box is negated, and "No, it is a promoter" affirms.
_CLAUSE_END = re.compile(r"[.;:!?,()\n]|\b(?:and|but|while|whereas|however|although|though|yet|so)\b")
# How many words before a label a negation may stand: "is not really likely a promoter" still negates.
_NEGATION_WINDOW = 5
_NEGATION_BEFORE = re.compile(
    r"\b(?:no|not|never|neither|nor|without|lacks?|lacking|none|cannot|than|instead of|absence of|free of)\b"
    r"|n't\b|\bnon\W*$"
)
_NEGATION_AFTER = re.compile(r"^\W*(?:is |are )?(?:absent|missing|not (?:present|found|detected))\b")
# An answer that offers alternatives ("TATA box or Inr", "either ... or ...") commits to none of them.
_HEDGE = re.compile(r"\b(?:or|either)\b")
# A multilabel answer that names no label may still say that no label applies.
_NO_LABEL_STATED = re.compile(r"\b(?:none|nothing|neither|no (?:motifs?|labels?|elements?))\b")

_NUMBER = re.compile(
    r"(?<![\w.])(?P<mantissa>[-+]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:[eE](?P<exponent>[-+]?\d+)|\s*(?:x|\*|×)\s*10\s*(?:\^|\*\*)\s*(?P<power>[-+]?\d+))?"
    # Not the start of a longer word or number: "23S" and "12.5x" hold no number.
    r"(?!\.?[^\W_])"
)


@dataclass(frozen=True)
class LabelMentions:
    """The labels a text names, split by whether it affirms or negates them, each in the task's label order.

    A label named both ways ("not a promoter... well, a promoter") is in both tuples.
    """

    affirmed: tuple[str, ...]
    negated: tuple[str, ...]


def find_labels(text: str, labels: Sequence[str], aliases: Mapping[str, Sequence[str]] | None = None) -> LabelMentions:
    """Every label ``text`` names, affirmed or negated.

    Matching ignores case and the separators between a label's words, and accepts the singular or
    plural of the last word ("Binding Site", "promoters"). Longer names are matched first and their
    text is used up, so "Non-promoter" is not also read as "promoter". ``aliases`` maps a label to
    other names for it (e.g. ``{"Donor Sites": ("splice donor",)}``).

    A mention is negated when a negation word ("no", "not", "isn't", "without", "rather than", a
    "non-" prefix, ...) stands at most five words before it in the same clause, or when it is followed
    by "is absent" / "missing" / "not present".
    """
    folded = _fold(text)
    affirmed, negated = set(), set()
    for start, end, label in _label_spans(folded, labels, aliases):
        (negated if _is_negated(folded, start, end) else affirmed).add(label)
    return LabelMentions(
        affirmed=tuple(label for label in labels if label in affirmed),
        negated=tuple(label for label in labels if label in negated),
    )


def parse_label(text: str, labels: Sequence[str], aliases: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """The one label a binary or multiclass answer commits to, ``None`` if it commits to none.

    One affirmed label wins, whatever else is negated. Two or more affirmed labels are an echo of the
    options or a hedge ("Non-promoter, promoter", "either promoter or Non-promoter"): ``None``. With no
    label affirmed, negating every label but one leaves that one, so for two labels "not a promoter"
    means "Non-promoter".
    """
    mentions = find_labels(text, labels, aliases)
    if len(mentions.affirmed) == 1:
        return mentions.affirmed[0]
    if not mentions.affirmed and len(mentions.negated) == len(labels) - 1:
        return next(label for label in labels if label not in mentions.negated)
    return None


def first_stated_label(text: str, labels: Sequence[str], aliases: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """The label named first in ``text`` (``None`` if none is named), whatever follows it.

    A lenient reading for models that echo the option list after their answer ("Non-promoter, promoter"):
    the first name counts. :func:`parse_label` reads the same text as no answer. Names are matched as in
    :func:`find_labels` (longest first, so "Non-promoter" is not also "promoter"); negation is not looked at.
    """
    spans = _label_spans(_fold(text), labels, aliases)
    return min(spans)[2] if spans else None


def parse_label_set(
    text: str, labels: Sequence[str], aliases: Mapping[str, Sequence[str]] | None = None
) -> tuple[str, ...] | None:
    """The labels a multilabel answer says apply, in label order; ``()`` when it says none do.

    Several affirmed labels in a text that says "or" / "either" are a hedge, not an answer: ``None``. An answer that
    affirms no label means "none" when it says so ("none of them", "no motifs") or only negates labels
    ("there is no TATA box"); otherwise it is unreadable: ``None``.
    """
    mentions, folded = find_labels(text, labels, aliases), _fold(text)
    if mentions.affirmed:
        return None if len(mentions.affirmed) > 1 and _HEDGE.search(folded) else mentions.affirmed
    if mentions.negated or _NO_LABEL_STATED.search(folded):
        return ()
    return None


def parse_number(text: str, unit: str = "") -> float | None:
    """The number a regression answer gives, ``None`` if it gives none.

    Reads signs, decimals and scientific notation ("-3.5", "4.1e1", "4.1 x 10^1"). A percent sign is
    read as the unit, so "41.5%" is 41.5 (percent), the scale of a task whose unit is "%". When the
    text holds several numbers, the first one written with ``unit`` wins ("the 200 bp window has 41%
    GC" gives 41 for unit "%"), else the first number. Numbers inside words ("Oct4", "23S") are not read,
    and one too large for a float ("1e999") is no answer.
    """
    text = text.replace("\u2212", "-")  # the Unicode minus sign
    matches = list(_NUMBER.finditer(text))
    if not matches:
        return None
    if unit:
        with_unit = [m for m in matches if re.match(rf"\s*{re.escape(unit)}", text[m.end() :])]
        matches = with_unit or matches
    match = matches[0]
    exponent = match.group("exponent") or match.group("power") or "0"
    # One decimal literal, so "4.1 x 10^-1" is exactly 0.41 rather than 4.1 * 0.1.
    value = float(f"{match.group('mantissa')}e{exponent}")
    return value if math.isfinite(value) else None


def parse_answer(
    text: str,
    task: TaskSpec | None = None,
    *,
    task_type: str | None = None,
    labels: Sequence[str] = (),
    unit: str = "",
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> str | tuple[str, ...] | float | None:
    """A task's answer read from ``text``: a label (binary, multiclass), a tuple of labels (multilabel),
    a float (regression), or ``None`` when the text gives no readable answer.

    Pass a registry :class:`~chatnt.tasks.registry.TaskSpec`, or ``task_type`` with ``labels``
    (and ``unit`` for regression) for a task outside the registry.
    """
    if task is not None:
        if task_type is not None or labels or unit:
            raise ValueError("Pass either a TaskSpec or task_type/labels/unit, not both.")
        task_type, labels, unit = task.type, task.labels, task.unit
    if task_type not in TASK_TYPES:
        raise ValueError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}; or pass a TaskSpec.")
    if task_type == "regression":
        return parse_number(text, unit)
    if task_type == "multilabel":
        return parse_label_set(text, labels, aliases)
    return parse_label(text, labels, aliases)


def _label_spans(
    folded: str, labels: Sequence[str], aliases: Mapping[str, Sequence[str]] | None
) -> list[tuple[int, int, str]]:
    """``(start, end, label)`` of every label name in ``folded`` text. Longer names are matched first and use
    their text up, so "Non-promoter" is not also read as "promoter"."""
    _check_labels(labels)
    aliases = aliases or {}
    unknown = set(aliases) - set(labels)
    if unknown:
        raise ValueError(
            f"aliases name labels the task does not have: {sorted(unknown)}; use labels from {list(labels)}."
        )
    names = [(label, name) for label in labels for name in (label, *aliases.get(label, ()))]
    spans: list[tuple[int, int, str]] = []
    for label, name in sorted(names, key=lambda pair: len(pair[1]), reverse=True):
        for match in _name_pattern(name).finditer(folded):
            start, end = match.span()
            if not any(start < used_end and used_start < end for used_start, used_end, _ in spans):
                spans.append((start, end, label))
    return spans


def _check_labels(labels: Sequence[str]) -> None:
    if isinstance(labels, str) or not labels:
        raise ValueError(f"labels must be a non-empty sequence of label names, got {labels!r}.")
    if len({_fold(label) for label in labels}) != len(labels):
        raise ValueError(f"labels must differ in more than case, got {list(labels)}.")


def _fold(text: str) -> str:
    """Case- and apostrophe-insensitive form of a text or a label name."""
    return text.casefold().replace("\u2019", "'")


def _name_pattern(name: str) -> re.Pattern[str]:
    words = re.findall(r"[^\W_]+", _fold(name))
    if not words:
        raise ValueError(f"Label {name!r} has no letters or digits; labels must be words.")
    last = words[-1]
    if last.isalpha() and len(last) >= 3:
        # Singular or plural of the last word: "site"/"sites", "promoter"/"promoters".
        stem = last[:-1] if last.endswith("s") and not last.endswith("ss") else last
        words[-1] = re.escape(stem) + "(?:s|es)?"
        body = _WORD_JOINER.join([re.escape(word) for word in words[:-1]] + [words[-1]])
    else:
        body = _WORD_JOINER.join(re.escape(word) for word in words)
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])")


def _is_negated(folded: str, start: int, end: int) -> bool:
    clause_start = max((m.end() for m in _CLAUSE_END.finditer(folded, 0, start)), default=0)
    before = " ".join(folded[clause_start:start].split()[-_NEGATION_WINDOW:])
    clause_end = next((m.start() for m in _CLAUSE_END.finditer(folded, end)), len(folded))
    return bool(_NEGATION_BEFORE.search(before) or _NEGATION_AFTER.search(folded[end:clause_end]))


__all__ = ["LabelMentions", "find_labels", "first_stated_label", "parse_answer", "parse_label", "parse_label_set", "parse_number"]
