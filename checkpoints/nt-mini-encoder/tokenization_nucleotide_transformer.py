"""The Nucleotide Transformer v2 6-mer DNA tokenizer, as a fast transformers tokenizer.

Vocabulary (4107 ids for k=6): ``<unk> <pad> <mask> <cls> <eos> <bos>``, then the 4**k k-mers in
``itertools.product("ATCG", repeat=k)`` order, then the single tokens ``A T C G N``.

Rules (those of the published NT tokenizer): N is its own token and splits the sequence; each run of
ACGT is cut into k-mers from its start; the bases left over at the end of a run become
single-nucleotide tokens; ``<cls>`` is prepended. The ids equal those of ``transformers.EsmTokenizer``
built from the same vocabulary file (with ``eos_token=None``), which gets there through a Python trie
walk per character. Here ``__call__`` computes the ids of a whole batch with a few numpy passes
(see ``kmer_token_ids``) and the input check is ``str.translate``, so no Python code runs per base
or per token. The Rust backend (one regular expression) serves ``tokenize``, save and load.

Input is cleaned before it is cut: lowercase (soft-masked) bases are upper-cased and RNA ``U`` becomes
``T``. Any other character (IUPAC ambiguity codes, protein letters, gaps, digits) raises a
``ValueError`` that names it, unless the caller opts into ``replace_unknown_with_n=True``, which maps
every other letter to ``N`` (non-letters still raise, and so does a sequence that is mostly such
letters, e.g. a protein, which would otherwise pass as a run of Ns).
"""

import itertools
import json
import os
import string
from collections import Counter

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import BatchEncoding, PreTrainedTokenizerFast
from transformers.tokenization_utils_base import PaddingStrategy, TruncationStrategy

SPECIAL_TOKENS = ("<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>")
SINGLE_NUCLEOTIDES = ("A", "T", "C", "G", "N")
IUPAC_AMBIGUITY_CODES = "RYSWKMBDHV"

# Byte tables for cleaning: lower case and U become upper-case DNA; with the opt-in, every other letter
# becomes N. bytes.translate runs in C, one table lookup per base.
_CLEAN_TABLE = bytes.maketrans(b"acgtnuU", b"ACGTNTT")
_OTHER_LETTERS = bytes(sorted(set(string.ascii_letters.encode()) - set(b"ACGTNUacgtnu")))
_OTHER_LETTERS_TO_N_TABLE = bytes.maketrans(_OTHER_LETTERS, b"N" * len(_OTHER_LETTERS))
# Letters that occur in protein sequences but are neither nucleotides nor IUPAC codes.
_PROTEIN_ONLY_LETTERS = set("EFILPQ")


def nucleotide_transformer_vocabulary(k_mer: int = 6) -> list[str]:
    """The NT vocabulary in id order: special tokens, k-mers over ``ATCG``, then single nucleotides."""
    kmers = ("".join(bases) for bases in itertools.product("ATCG", repeat=k_mer))
    return [*SPECIAL_TOKENS, *kmers, *SINGLE_NUCLEOTIDES]


def _mostly_other_letters(other_letters: int, length: int) -> bool:
    """Whether letters other than ACGTUN make up more than half of a sequence (a protein, not DNA with IUPAC codes)."""
    return 2 * other_letters > length


def _count_other_letters(sequence: str) -> int:
    encoded = sequence.encode("ascii", errors="replace")
    return len(encoded) - len(encoded.translate(None, _OTHER_LETTERS))


def _shown(counts: Counter) -> str:
    """The most frequent offending characters, for an error message: ``'E' (x3), 'Q' (x1)``."""
    return ", ".join(f"{char!r} (x{count})" for char, count in counts.most_common(8))


def _alphabet_hint(sequence: str, invalid: Counter) -> str:
    """What the invalid characters suggest the input is, and what to pass instead (one sentence or two)."""
    letters = {char.upper() for char in invalid}
    if sequence.lstrip().startswith(">"):
        return "It looks like FASTA text: read it with parse_fasta_text() (or save it as a .fa file) and pass the records."
    if letters & _PROTEIN_ONLY_LETTERS:
        return "It looks like a protein sequence; this model reads DNA or RNA only: pass the nucleotide sequence that encodes it."
    if letters and letters <= set(IUPAC_AMBIGUITY_CODES):
        return (
            "These are IUPAC ambiguity codes: pass replace_unknown_with_n=True (command line: --iupac-as-n) to read "
            "them as N."
        )
    if any(char.isdigit() for char in invalid):
        return "Remove the position numbers (e.g. of GenBank-style lines) and pass the bases only."
    if any(char.isspace() for char in invalid):
        return "Remove spaces and line breaks from the sequence (FASTA files are joined line by line when read)."
    if letters <= {"-", ".", "*"}:
        return "These look like alignment gaps or stop marks: remove them."
    return "Allowed: A, C, G, T, U (read as T) and N, in any case."


def _clean_dna_bytes(sequence: str, replace_unknown_with_n: bool, index: int | None) -> bytes:
    where = "DNA sequence" if index is None else f"DNA sequence {index}"
    if not isinstance(sequence, str):
        raise TypeError(f"{where} must be a string of nucleotides, got {type(sequence).__name__}.")
    if not sequence:
        raise ValueError(f"{where} is empty. Pass at least one nucleotide (A, C, G, T or N).")
    cleaned = sequence.encode("ascii", errors="replace").translate(_CLEAN_TABLE)
    if replace_unknown_with_n:
        other_letters = _count_other_letters(sequence)
        if _mostly_other_letters(other_letters, len(cleaned)):
            # The opt-in is for the odd ambiguity code; read as N, a protein would pass as a run of Ns.
            counts = Counter(char for char in sequence if char in string.ascii_letters and char.upper() not in "ACGTNU")
            hint = _alphabet_hint(sequence, counts)
            if "replace_unknown_with_n" in hint:  # the IUPAC hint: the caller already opted in
                hint = "Check that this is a nucleotide sequence."
            raise ValueError(
                f"{where} is mostly letters that are not nucleotides ({other_letters} of {len(cleaned)}: {_shown(counts)}), so "
                f"replace_unknown_with_n would read it as Ns. {hint}"
            )
        cleaned = cleaned.translate(_OTHER_LETTERS_TO_N_TABLE)
    invalid = cleaned.translate(None, b"ACGTN")
    if invalid:
        # The bytes say that something is wrong; the message names the characters of the input.
        counts = Counter(char for char in sequence if char.upper() not in "ACGTNU")
        if replace_unknown_with_n:
            counts = Counter({char: n for char, n in counts.items() if char not in string.ascii_letters})
        raise ValueError(
            f"{where} contains characters that are not nucleotides: {_shown(counts)}. {_alphabet_hint(sequence, counts)}"
        )
    return cleaned


def clean_dna_sequence(sequence: str, replace_unknown_with_n: bool = False, index: int | None = None) -> str:
    """Upper-case a DNA/RNA sequence, turn U into T, and check its alphabet.

    Args:
        sequence: nucleotides, any case; RNA is accepted.
        replace_unknown_with_n: map letters other than ACGTUN (IUPAC codes such as R or Y) to N
            instead of raising, unless they make up most of the sequence (a protein, say).
        index: position of the sequence in a batch, used in error messages.

    Raises:
        ValueError: the sequence is empty, or holds characters that are not nucleotides.
    """
    return _clean_dna_bytes(sequence, replace_unknown_with_n, index).decode("ascii")


# Byte -> code for the vectorised cut: A, T (and U), C, G are their rank in the k-mer alphabet, in
# either case; N is 4; the marker put before each sequence of a batch is 5; anything else is invalid.
_SEQUENCE_START = "|"
_INVALID = 255
_BASE_CODES = bytearray([_INVALID] * 256)
for _code, _bases in enumerate(("Aa", "TtUu", "Cc", "Gg", "Nn", _SEQUENCE_START)):
    for _base in _bases:
        _BASE_CODES[ord(_base)] = _code
_BASE_CODES_UNKNOWN_AS_N = bytearray(_BASE_CODES)
for _letter in _OTHER_LETTERS:
    _BASE_CODES_UNKNOWN_AS_N[_letter] = 4
_BASE_CODES, _BASE_CODES_UNKNOWN_AS_N = bytes(_BASE_CODES), bytes(_BASE_CODES_UNKNOWN_AS_N)


def _kmer_values(codes: np.ndarray, starts: np.ndarray, k_mer: int) -> np.ndarray:
    """Base-4 value (first base most significant, i.e. product order) of the k-mer at each start.

    Short m-mer values are first computed for every position with contiguous byte operations
    (m <= 4 fits a byte); a k-mer is then k/m gathers instead of k.
    """
    piece = max(m for m in (1, 2, 3, 4) if k_mer % m == 0)
    pieces = codes[: len(codes) - piece + 1].copy()
    for offset in range(1, piece):
        pieces <<= 2
        pieces |= codes[offset : len(codes) - piece + 1 + offset]
    values = pieces[starts].astype(np.int32)
    for offset in range(piece, k_mer, piece):
        values <<= 2 * piece
        values |= pieces[starts + offset]
    return values


def kmer_token_ids(
    sequences: list[str], k_mer: int = 6, start_token_id: int | None = None, replace_unknown_with_n: bool = False
) -> list[np.ndarray]:
    """NT token ids of DNA/RNA sequences (any case), for a whole batch at once.

    The batch is joined into one byte string with a marker before each sequence and mapped to base
    codes by one ``bytes.translate`` (which also upper-cases, reads U as T and finds invalid characters).
    Every N or marker ends a run of ACGT. Per run, full k-mers are cut from its start and leftover
    bases become single tokens; each N is a token; each marker becomes ``start_token_id`` (``<cls>``)
    or nothing. The output is assembled in token order with array operations only.

    Raises:
        ValueError: a sequence is empty or holds characters that are not nucleotides.
    """
    def raise_for_first_invalid(check):
        for index, sequence in enumerate(sequences):
            if check(sequence):  # the message numbers the sequence only within a real batch
                _clean_dna_bytes(sequence, replace_unknown_with_n, index if len(sequences) > 1 else None)

    raise_for_first_invalid(lambda sequence: not isinstance(sequence, str) or not sequence)
    if replace_unknown_with_n:
        raise_for_first_invalid(lambda sequence: _mostly_other_letters(_count_other_letters(sequence), len(sequence)))
    joined = (_SEQUENCE_START + _SEQUENCE_START.join(sequences) + _SEQUENCE_START).encode("ascii", errors="replace")
    codes = np.frombuffer(joined.translate(_BASE_CODES_UNKNOWN_AS_N if replace_unknown_with_n else _BASE_CODES), np.uint8)
    if codes.max() == _INVALID:
        raise_for_first_invalid(lambda sequence: True)

    # Segment r = the break before run r (an N or a sequence marker), then run r of ACGT bases. In the
    # token list a segment is [break token, if any][its k-mers][its single bases].
    breaks = np.flatnonzero(codes >= 4).astype(np.int32)
    is_marker = codes[breaks] == 5
    run_starts = breaks[:-1] + 1
    kmers_per_run, singles_per_run = np.divmod(breaks[1:] - run_starts, k_mer)
    break_emits = ((~is_marker[:-1]) | (start_token_id is not None)).astype(np.int32)
    tokens_per_segment = break_emits + kmers_per_run + singles_per_run
    segment_offsets = np.cumsum(tokens_per_segment, dtype=np.int32) - tokens_per_segment
    first_single_id = len(SPECIAL_TOKENS) + 4**k_mer
    token_ids = np.empty(int(tokens_per_segment.sum()), dtype=np.int32)

    def place(counts, first_token, first_base, step):
        """Token slots and base positions of item i < counts[r] of every segment r, flattened."""
        # Index arrays are built as intp, the type numpy indexes with, to avoid a conversion per gather.
        before = (np.cumsum(counts) - counts).astype(np.intp)  # items in earlier segments
        item = np.arange(int(counts.sum()), dtype=np.intp)
        # item - before[r] is the index within segment r; the per-segment constants are folded first and
        # repeated once per item (cheaper than gathering them through an owner index).
        slots = item + np.repeat(first_token - before, counts)
        bases = step * item + np.repeat(first_base - step * before, counts)
        return slots, bases

    emits = break_emits.astype(bool)
    break_ids = np.where(is_marker[:-1], -1 if start_token_id is None else start_token_id, first_single_id + 4)
    token_ids[segment_offsets[emits]] = break_ids[emits]
    slots, bases = place(kmers_per_run, segment_offsets + break_emits, run_starts, k_mer)
    token_ids[slots] = len(SPECIAL_TOKENS) + _kmer_values(codes, bases, k_mer)
    slots, bases = place(
        singles_per_run, segment_offsets + break_emits + kmers_per_run, run_starts + k_mer * kmers_per_run, 1
    )
    token_ids[slots] = first_single_id + codes[bases].astype(np.int32)

    # Each marker starts a sequence; its segment offset is where that sequence's tokens begin.
    return np.split(token_ids, segment_offsets[np.flatnonzero(is_marker[:-1])[1:]])


def _build_backend(vocabulary: list[str], k_mer: int) -> Tokenizer:
    backend = Tokenizer(models.WordLevel({token: i for i, token in enumerate(vocabulary)}, unk_token="<unk>"))
    # Leftmost-first alternation: a full k-mer where k bases remain in the run, else one base.
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(f"[ACGT]{{{k_mer}}}|[ACGTN]"), behavior="isolated")
    backend.post_processor = processors.TemplateProcessing(single="<cls> $A", special_tokens=[("<cls>", 3)])
    backend.decoder = decoders.Fuse()
    return backend


def _read_vocabulary(vocab=None, vocab_file=None, tokenizer_file=None) -> list[str] | None:
    if isinstance(vocab, dict):
        return [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    if isinstance(vocab, (list, tuple)):
        return [token[0] if isinstance(token, (list, tuple)) else token for token in vocab]
    if vocab_file is not None and os.path.isfile(vocab_file):
        with open(vocab_file, encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip()]
    if tokenizer_file is not None and os.path.isfile(tokenizer_file):
        with open(tokenizer_file, encoding="utf-8") as handle:
            return _read_vocabulary(vocab=json.load(handle)["model"]["vocab"])
    return None


class NucleotideTransformerTokenizer(PreTrainedTokenizerFast):
    """Fast NT v2 k-mer tokenizer (see the module docstring for the rules).

    Args:
        vocab_file: a ``vocab.txt`` with one token per line (the format of the published NT
            checkpoints); by default the standard NT v2 vocabulary is generated.
        k_mer: k-mer length (6 for NT v2).
        replace_unknown_with_n: default for the per-call option of the same name.
        model_max_length: longest tokenized sequence, ``<cls>`` included (2048 in ChatNT).

    Example:
        >>> from chatnt import NucleotideTransformerTokenizer
        >>> tokenizer = NucleotideTransformerTokenizer()
        >>> tokenizer("ATTCCGATTCCGAAN")["input_ids"]
        [3, 369, 369, 4102, 4102, 4106]
        >>> tokenizer(["acgu", "ACGTACGT"], padding=True, return_tensors="pt")["attention_mask"]
        tensor([[1, 1, 1, 1, 1],
                [1, 1, 1, 1, 0]])
    """

    vocab_files_names = {"vocab_file": "vocab.txt", "tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"

    def __init__(
        self,
        vocab_file: str | None = None,
        tokenizer_file: str | None = None,
        k_mer: int = 6,
        replace_unknown_with_n: bool = False,
        model_max_length: int = 2048,
        **kwargs,
    ):
        # Whatever the source (vocab.txt, tokenizer.json, a vocab dict from transformers' loader), the
        # backend is rebuilt from the vocabulary alone: the cutting rules are fixed by k.
        vocabulary = _read_vocabulary(kwargs.pop("vocab", None), vocab_file, tokenizer_file)
        vocabulary = vocabulary or nucleotide_transformer_vocabulary(k_mer)
        for unused in ("tokenizer_object", "post_processor", "merges"):
            kwargs.pop(unused, None)
        self.k_mer = k_mer
        self.replace_unknown_with_n = replace_unknown_with_n
        for name, token in zip(("unk_token", "pad_token", "mask_token", "cls_token"), SPECIAL_TOKENS[:4]):
            kwargs.setdefault(name, token)
        # Published NT tokenization prepends <cls> and appends nothing.
        kwargs["eos_token"] = None
        kwargs["bos_token"] = None
        super().__init__(
            tokenizer_object=_build_backend(vocabulary, k_mer),
            k_mer=k_mer,
            replace_unknown_with_n=replace_unknown_with_n,
            model_max_length=model_max_length,
            **kwargs,
        )

    def _encode_plus(
        self,
        text,
        text_pair=None,
        add_special_tokens=True,
        padding_strategy=None,
        truncation_strategy=TruncationStrategy.DO_NOT_TRUNCATE,
        max_length=None,
        is_split_into_words=False,
        pad_to_multiple_of=None,
        padding_side=None,
        return_tensors=None,
        return_attention_mask=None,
        return_overflowing_tokens=False,
        return_offsets_mapping=False,
        return_length=False,
        **kwargs,
    ) -> BatchEncoding:
        if text_pair is not None or is_split_into_words:
            raise ValueError("The DNA tokenizer takes one sequence or a list of sequences, not pairs or words.")
        if return_overflowing_tokens or return_offsets_mapping:
            raise ValueError("The DNA tokenizer does not return overflowing tokens or offsets.")
        replace = kwargs.pop("replace_unknown_with_n", self.replace_unknown_with_n)
        is_batched = not isinstance(text, str)
        sequences = list(text) if is_batched else [text]
        token_ids = kmer_token_ids(sequences, self.k_mer, self.cls_token_id if add_special_tokens else None, replace)
        if truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE and max_length is not None:
            keep_last = self.truncation_side == "left"
            token_ids = [ids[-max_length:] if keep_last else ids[:max_length] for ids in token_ids]
        lengths = [len(ids) for ids in token_ids]
        if padding_strategy is None or padding_strategy == PaddingStrategy.DO_NOT_PAD:
            encoded = {"input_ids": [ids.tolist() for ids in token_ids]}
            if return_attention_mask is not False:
                encoded["attention_mask"] = [[1] * length for length in lengths]
        else:
            encoded = self._pad_arrays(token_ids, padding_strategy, max_length, pad_to_multiple_of, padding_side)
            if return_attention_mask is False:
                del encoded["attention_mask"]
            if return_tensors is None:
                encoded = {key: value.tolist() for key, value in encoded.items()}
        if return_length:
            encoded["length"] = lengths
        if not is_batched:
            encoded = {key: value[0] for key, value in encoded.items()}
        return BatchEncoding(encoded, tensor_type=return_tensors, prepend_batch_axis=False)

    def _pad_arrays(self, token_ids, padding_strategy, max_length, pad_to_multiple_of, padding_side):
        """Pads a batch into int64 arrays in one allocation (the generic ``pad`` works per token)."""
        width = max(len(ids) for ids in token_ids)
        if padding_strategy == PaddingStrategy.MAX_LENGTH and max_length is not None:
            width = max(width, max_length)
        if pad_to_multiple_of:
            width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
        input_ids = np.full((len(token_ids), width), self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(token_ids), width), dtype=np.int64)
        left = (padding_side or self.padding_side) == "left"
        for row, ids in enumerate(token_ids):
            columns = slice(width - len(ids), width) if left else slice(0, len(ids))
            input_ids[row, columns] = ids
            attention_mask[row, columns] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def _save_pretrained(self, save_directory, file_names, legacy_format=None, filename_prefix=None):
        file_names = super()._save_pretrained(save_directory, file_names, legacy_format, filename_prefix)
        return file_names + self.save_vocabulary(str(save_directory), filename_prefix)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        """Writes ``vocab.txt`` (one token per line, id order): the published NT format, read by EsmTokenizer."""
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.txt")
        vocabulary = sorted(self._tokenizer.get_vocab(with_added_tokens=False).items(), key=lambda item: item[1])
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(token for token, _ in vocabulary) + "\n")
        return (path,)


NucleotideTransformerTokenizer.register_for_auto_class("AutoTokenizer")

__all__ = ["NucleotideTransformerTokenizer", "clean_dna_sequence", "nucleotide_transformer_vocabulary"]
