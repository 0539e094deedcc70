"""``chatnt ask``: one answer to a question about named sequences, with a probability for yes/no questions."""

from .answering import AnswerResult, answer_batch
from .loading import load_chatnt
from .questions import wants_confidence
from .sequences import read_records, truncated_to_limit


def ask(
    question: str,
    fasta: str | None = None,
    sequences=None,
    model: str | None = None,
    trust_remote_code: bool = False,
    max_new_tokens: int = 64,
    confidence: str = "auto",
    truncate: bool = False,
    bf16: bool = True,
    iupac: bool = False,
) -> AnswerResult:
    """One answer to a question about DNA.

    Args:
        question: English, referring to sequences by ``@record_id`` (FASTA) or ``<DNA>`` (in order).
        fasta: a FASTA file whose record ids the ``@`` tags name.
        sequences: instead of a FASTA file, a list of sequences (for ``<DNA>``) or a dict of named ones.
        model: a ChatNT directory or Hub id; default: the shipped model (see ``default_model``).
        trust_remote_code: run code saved with the model (a remote-code DNA encoder or tokenizer).
        max_new_tokens: length limit of the answer.
        confidence: ``auto`` adds the calibrated P(yes/no) to yes/no questions, ``always`` to any question,
            ``never`` skips it (the classifier costs about as much as generating a long answer).
        truncate: keep the start of a sequence longer than the encoder's limit instead of raising.
        bf16: bfloat16 autocast (as chatnt-mini was trained and calibrated; faster on a CPU).
        iupac: read IUPAC ambiguity codes in the FASTA file as N (``--iupac-as-n``) instead of raising.

    Returns:
        An :class:`~chatnt.commands.answering.AnswerResult`; ``str(result)`` is the answer line: the answer
        with the probability of that answer, e.g. ``"No. (P(no) = 0.97, calibrated)"``, saying so when the
        classifier prefers the other answer.

    Example:
        >>> result = ask("Is @seq1 a promoter?", fasta="records.fa")
        >>> result.answer, result.label, result.probability, result.calibrated
        ('Yes.', 'yes', 0.71, True)
    """
    dna = read_records(fasta, iupac) if fasta is not None else sequences  # bad input reported before the model loads
    chatnt = load_chatnt(model, trust_remote_code)
    dna = truncated_to_limit(chatnt.processor, dna, truncate)
    (result,) = answer_batch(
        chatnt, [question], [dna], [wants_confidence(question, confidence)], max_new_tokens=max_new_tokens, bf16=bf16
    )
    return result


__all__ = ["ask"]
