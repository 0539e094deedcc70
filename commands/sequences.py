"""Checking each record against the DNA encoder before a batch runs, so an error names the record.

The processor checks alphabets and lengths too, but it names sequences by position in a batch
("sequence 0"); a command that streams thousands of records must say WHICH record is wrong and what to
do about it. Over-long sequences raise unless the user asked for ``--truncate``: never cut silently, and IUPAC
ambiguity codes raise unless the user asked for ``--iupac-as-n``.
"""

from ..fasta import read_fasta
from ..tokenization_nucleotide_transformer import IUPAC_AMBIGUITY_CODES

_IUPAC_TO_N = str.maketrans({code: "N" for code in IUPAC_AMBIGUITY_CODES + IUPAC_AMBIGUITY_CODES.lower()})


def iupac_as_n(sequence: str) -> str:
    """``sequence`` with its IUPAC ambiguity codes (R, Y, S, W, K, M, B, D, H, V, any case) read as N; other
    letters untouched, so protein or stray characters still stop with their own error.

    Example:
        >>> iupac_as_n("ACGTRYacgtn")
        'ACGTNNacgtn'
    """
    return sequence.translate(_IUPAC_TO_N)


def read_records(path, iupac: bool = False) -> dict[str, str]:
    """The records of a FASTA file, with IUPAC codes read as N when ``iupac`` (the ``--iupac-as-n`` option)."""
    records = read_fasta(path)
    return {name: iupac_as_n(sequence) for name, sequence in records.items()} if iupac else records


def checked_sequence(processor, name: str, sequence: str, truncate: bool = False) -> str:
    """``sequence`` if the model can read it, its longest readable start if ``truncate``, else an error.

    Args:
        processor: the model's :class:`~chatnt.ChatNTProcessor` (its DNA tokenizer and ``max_dna_tokens``).
        name: how the error names the record (its FASTA id).
        sequence: the bases (any case; ``U`` reads as ``T``).
        truncate: keep the start of a sequence longer than the encoder's limit instead of raising.

    Returns:
        The sequence, or its truncated start.

    Raises:
        ValueError: empty sequence, letters that are not nucleotides, or too long without ``truncate``.
    """
    limit = processor.max_dna_tokens
    try:
        token_count = len(processor.dna_token_ids(sequence))
    except ValueError as error:
        raise ValueError(f"record {name!r}: {error}") from None
    if token_count <= limit:
        return sequence
    kept = processor.readable_start(sequence)
    if not truncate:
        raise ValueError(
            f"record {name!r} has {len(sequence)} bp = {token_count} DNA tokens, more than the model's limit of "
            f"{limit} tokens (about {len(kept)} bp). Pass --truncate (truncate=True) to keep its first "
            f"{len(kept)} bp, or split it into windows."
        )
    return kept


def truncated_to_limit(processor, sequences, truncate: bool):
    """``sequences`` (a list, a dict of named ones, or ``None``) with over-long ones cut when ``truncate``.

    Without ``truncate`` nothing changes: the processor then raises for an over-long sequence that the
    question actually refers to, naming it.
    """
    if not truncate or not sequences:
        return sequences

    def fit(name, sequence):
        return checked_sequence(processor, name, sequence, truncate=True)

    if isinstance(sequences, dict):
        return {name: fit(name, sequence) for name, sequence in sequences.items()}
    if isinstance(sequences, str):
        return fit("sequence 0", sequences)
    return [fit(f"sequence {index}", sequence) for index, sequence in enumerate(sequences)]


__all__ = ["checked_sequence", "iupac_as_n", "read_records", "truncated_to_limit"]
