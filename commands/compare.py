"""``chatnt compare``: one question over a reference and a variant sequence (the ChatNT paper's variant use).

The ChatNT paper proposes asking about two sequences at once, e.g. a reference allele and a variant,
so the model's answer contrasts them. The question names them ``@ref`` and ``@alt`` (the records
passed as ``--ref`` and ``--alt``; their own ``@ids`` work too). The default question is
:data:`~chatnt.commands.questions.COMPARE_QUESTION`, a yes/no question, so a calibrated probability comes
with the answer.
"""

from dataclasses import dataclass

from .answering import AnswerResult, answer_batch
from .loading import load_chatnt
from .questions import COMPARE_QUESTION, wants_confidence
from .sequences import checked_sequence, read_records

# Substitutions listed by position; beyond this many the list is cut (the count stays exact).
MAX_LISTED_DIFFERENCES = 10


@dataclass(frozen=True)
class CompareResult:
    """The answer about a reference/variant pair and how the two sequences differ.

    Attributes:
        ref: the reference record id; alt: the variant's.
        question: the question asked (with ``@ref``/``@alt`` or the ids).
        result: the :class:`~chatnt.commands.answering.AnswerResult`.
        differences: ``"position:ref>alt"`` (1-based) for up to ten substitutions when both sequences have the
            same length; empty otherwise.
        substitutions: the number of differing positions (``None`` when the lengths differ).
        ref_length, alt_length: the lengths in bp the model read (after ``--truncate``).
        truncated: whether ``--truncate`` cut either sequence (the differences are those within what was read).
    """

    ref: str
    alt: str
    question: str
    result: AnswerResult
    differences: tuple[str, ...] = ()
    substitutions: int | None = None
    ref_length: int = 0
    alt_length: int = 0
    truncated: bool = False

    def describe_difference(self) -> str:
        """``"1 substitution: 101:A>G"``, or the lengths when they differ (saying when both were truncated)."""
        read = f" in the first {self.ref_length} bp read (--truncate)" if self.truncated else ""
        if self.substitutions is None:
            return f"@{self.ref} and @{self.alt} differ in length ({self.ref_length} vs {self.alt_length} bp{read})"
        listed = ", ".join(self.differences) + (", ..." if self.substitutions > len(self.differences) else "")
        plural = "" if self.substitutions == 1 else "s"
        return f"{self.substitutions} substitution{plural}{read}" + (f": {listed}" if listed else "")


def substitutions(reference: str, variant: str) -> tuple[int | None, tuple[str, ...]]:
    """How many positions differ (ignoring case) and the first few as ``"pos:ref>alt"``; ``None`` if lengths differ."""
    if len(reference) != len(variant):
        return None, ()
    found = [
        f"{position}:{a}>{b}"
        for position, (a, b) in enumerate(zip(reference.upper(), variant.upper()), start=1)
        if a != b
    ]
    return len(found), tuple(found[:MAX_LISTED_DIFFERENCES])


def compare(
    ref: str,
    alt: str,
    fasta: str | None = None,
    sequences: dict | None = None,
    question: str | None = None,
    model: str | None = None,
    trust_remote_code: bool = False,
    max_new_tokens: int = 64,
    confidence: str = "auto",
    truncate: bool = False,
    bf16: bool = True,
    iupac: bool = False,
) -> CompareResult:
    """Asks one question about a reference sequence and a variant of it.

    Args:
        ref: the reference record id (``"wt"`` or ``"@wt"``).
        alt: the variant record id (``"mut"`` or ``"@mut"``).
        fasta: a FASTA file holding both records.
        sequences: instead of a FASTA file, a dict of named sequences.
        question: refers to the two as ``@ref`` and ``@alt`` (or their ids); default
            :data:`~chatnt.commands.questions.COMPARE_QUESTION`.
        model: a ChatNT directory or Hub id; default: the shipped model.
        trust_remote_code: run code saved with the model (a remote-code DNA encoder or tokenizer).
        max_new_tokens: length limit of the answer.
        confidence: ``auto`` (probability for a yes/no question), ``always`` or ``never``.
        truncate: keep the start of a sequence longer than the encoder's limit instead of raising.
        bf16: bfloat16 autocast.
        iupac: read IUPAC ambiguity codes in the FASTA file as N (``--iupac-as-n``).

    Returns:
        A :class:`CompareResult`.

    Raises:
        ValueError: a record id that is not in the file, a record the model cannot read, no sequences given.
    """
    if fasta is None and sequences is None:
        raise ValueError("compare needs the two sequences: pass a FASTA file (--fasta) holding both records.")
    named = read_records(fasta, iupac) if fasta is not None else dict(sequences)
    ref, alt = ref.removeprefix("@"), alt.removeprefix("@")
    for role, name in (("--ref", ref), ("--alt", alt)):
        if name not in named:
            known = ", ".join("@" + n for n in list(named)[:10]) + (", ..." if len(named) > 10 else "")
            raise ValueError(f"{role} @{name}: no such record. Known names: {known}.")
    if ref == alt:
        raise ValueError(f"--ref and --alt are both @{ref}; pass two different records.")
    chatnt = load_chatnt(model, trust_remote_code)
    reference = checked_sequence(chatnt.processor, ref, named[ref], truncate)
    variant = checked_sequence(chatnt.processor, alt, named[alt], truncate)
    if reference.upper() == variant.upper() and named[ref].upper() != named[alt].upper():
        # The model would compare two identical windows and answer about a difference it never saw.
        raise ValueError(
            f"--truncate keeps the first {len(reference)} bp of @{ref} and @{alt}, and they are identical there: the "
            "records differ only beyond. Cut both to the same window around the difference (at most "
            f"{len(reference)} bp) and compare those."
        )
    question = question or COMPARE_QUESTION
    # @ref/@alt name the pair; the records' own ids work as well (they may not be "ref" and "alt").
    dna = {**named, ref: reference, alt: variant, "ref": reference, "alt": variant}
    (result,) = answer_batch(
        chatnt, [question], [dna], [wants_confidence(question, confidence)], max_new_tokens=max_new_tokens, bf16=bf16
    )
    count, listed = substitutions(reference, variant)
    truncated = (reference, variant) != (named[ref], named[alt])
    return CompareResult(ref, alt, question, result, listed, count, len(reference), len(variant), truncated)


__all__ = ["CompareResult", "compare", "substitutions"]
