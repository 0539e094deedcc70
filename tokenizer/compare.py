"""Compare DNA+English tokenizers on held-out real text: vocabulary make-up, compression and speed.

Compared by default: a trained DNAHLM tokenizer (a transformers folder), the published DNAHL tokenizer
(``../shared/data/dnahl/dna_eng_bpe_dict.json``) and the Nucleotide Transformer 6-mer rule (non-overlapping
6-mers from the left, single nucleotides where no full ACGT 6-mer fits, everything else ``<unk>``).

    python -m chatnt.tokenizer.compare --tokenizers ours=tokenizer

Held-out text is the ``heldout`` split of :mod:`chatnt.training.dnahlm.corpus`, never seen in training.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import HfArgumentParser

from chatnt.tokenizer.train_bpe import take_chars
from chatnt.training.dnahlm.corpus import (
    DEFAULT_DNA_FILES,
    DEFAULT_ENGLISH_FILES,
    SHARED_DATA,
    default_paths,
    source_lines,
)
from chatnt.tasks.dnahl import FOUR_TASK_FILE, PROMOTER_TERMINATOR_FILE, load_published_records

PUBLISHED_TOKENIZER = str(SHARED_DATA / "dnahl" / "dna_eng_bpe_dict.json")
NT_SPECIAL_TOKENS = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"]
_PURE_DNA = re.compile(r"[ACGT]+")


def nucleotide_transformer_6mer() -> Tokenizer:
    """The Nucleotide Transformer's 6-mer tokenizer as a ``tokenizers.Tokenizer`` (4,107 tokens).

    Built in the Rust engine like the BPEs, so the throughput comparison measures the rule, not the runtime.
    """
    kmers = ["".join(p) for p in itertools.product("ATCG", repeat=6)]
    vocab = {token: i for i, token in enumerate(NT_SPECIAL_TOKENS + kmers + list("ATCGN"))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[ACGT]{6}|[\s\S]"), behavior="isolated")
    return tokenizer


def load_tokenizer(path: str) -> Tokenizer:
    """Load a ``tokenizers.Tokenizer`` from a ``tokenizer.json`` file or a transformers tokenizer folder."""
    path_obj = Path(path)
    if path_obj.is_dir():
        path_obj = path_obj / "tokenizer.json"
    if not path_obj.is_file():
        raise FileNotFoundError(f"No tokenizer.json at {path_obj}")
    return Tokenizer.from_file(str(path_obj))


@dataclass
class TokenizerStats:
    """The comparison figures for one tokenizer."""

    name: str
    vocab_size: int
    dna_token_share: float
    longest_dna_token: int
    dna_bp_per_token: float
    dnahl_bp_per_token: float
    english_chars_per_token: float
    english_unk_share: float
    dna_mb_per_s: float
    english_mb_per_s: float


def _unk_id(tokenizer: Tokenizer) -> int | None:
    return tokenizer.token_to_id("<unk>")


def _throughput(tokenizer: Tokenizer, texts: list[str], repeats: int = 3) -> float:
    """Encode throughput in MB/s (UTF-8 bytes), the best of ``repeats`` ``encode_batch`` passes."""
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        tokenizer.encode_batch(texts, add_special_tokens=False)
        best = min(best, time.perf_counter() - start)
    return megabytes / best


def _bp_per_token(tokenizer: Tokenizer, texts: list[str]) -> float:
    return sum(map(len, texts)) / sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))


def tokenizer_stats(
    name: str,
    tokenizer: Tokenizer,
    dna_texts: list[str],
    english_texts: list[str],
    dnahl_texts: list[str] | None = None,
) -> TokenizerStats:
    """Measure one tokenizer on held-out DNA and English texts (and optionally on the DNAHL records' DNA)."""
    if not dna_texts or not english_texts:
        raise ValueError("Need non-empty held-out DNA and English texts to compare tokenizers")
    # ACGT are their own byte-level symbols, so pure-DNA tokens read the same in the raw vocabulary.
    vocab = list(tokenizer.get_vocab())
    dna_tokens = [t for t in vocab if _PURE_DNA.fullmatch(t)]
    english_ids = tokenizer.encode_batch(english_texts, add_special_tokens=False)
    english_token_count = sum(len(e.ids) for e in english_ids)
    unk = _unk_id(tokenizer)
    english_unks = sum(e.ids.count(unk) for e in english_ids) if unk is not None else 0
    return TokenizerStats(
        name=name,
        vocab_size=tokenizer.get_vocab_size(),
        dna_token_share=len(dna_tokens) / len(vocab),
        longest_dna_token=max((len(t) for t in dna_tokens), default=0),
        dna_bp_per_token=_bp_per_token(tokenizer, dna_texts),
        dnahl_bp_per_token=_bp_per_token(tokenizer, dnahl_texts) if dnahl_texts else float("nan"),
        english_chars_per_token=sum(map(len, english_texts)) / english_token_count,
        english_unk_share=english_unks / english_token_count,
        dna_mb_per_s=_throughput(tokenizer, dna_texts),
        english_mb_per_s=_throughput(tokenizer, english_texts),
    )


def heldout_texts(
    dna_files: list[str], english_files: list[str], heldout_fraction: float, seed: int, max_chars: int
) -> tuple[list[str], list[str]]:
    """Up to ``max_chars`` characters each of held-out DNA and English lines."""
    dna = list(take_chars(source_lines("dna", dna_files, "heldout", heldout_fraction, seed), max_chars))
    english = list(take_chars(source_lines("english", english_files, "heldout", heldout_fraction), max_chars))
    return dna, english


def compare_tokenizers(
    tokenizers: dict[str, str],
    dna_files: list[str] | None = None,
    english_files: list[str] | None = None,
    heldout_fraction: float = 0.01,
    seed: int = 0,
    max_chars: int = 1_000_000,
    include_references: bool = True,
) -> list[TokenizerStats]:
    """Stats for each named tokenizer path, then (by default) for the published DNAHL and NT 6-mer ones."""
    dna, english = heldout_texts(
        dna_files or default_paths(DEFAULT_DNA_FILES),
        english_files or default_paths(DEFAULT_ENGLISH_FILES),
        heldout_fraction,
        seed,
        max_chars,
    )
    named = {name: load_tokenizer(path) for name, path in tokenizers.items()}
    if include_references:
        named["published DNAHL"] = load_tokenizer(PUBLISHED_TOKENIZER)
        named["NT 6-mer"] = nucleotide_transformer_6mer()
    # The published tokenizer's own domain (human GUE-style sequences): the TRAIN-half inputs of its records.
    dnahl = [r["input"] for f in (FOUR_TASK_FILE, PROMOTER_TERMINATOR_FILE) for r in load_published_records(f, "train")]
    return [tokenizer_stats(name, tok, dna, english, dnahl) for name, tok in named.items()]


def format_table(rows: list[TokenizerStats]) -> str:
    """A Markdown table of the stats, one tokenizer per row."""
    lines = [
        "| tokenizer | vocab | pure-DNA tokens | other tokens | longest DNA token (bp) | DNA bp/token "
        "| DNAHL-record DNA bp/token | English chars/token | English <unk> share | DNA encode MB/s "
        "| English encode MB/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.vocab_size} | {r.dna_token_share:.1%} | {1 - r.dna_token_share:.1%} "
            f"| {r.longest_dna_token} | {r.dna_bp_per_token:.2f} | {r.dnahl_bp_per_token:.2f} "
            f"| {r.english_chars_per_token:.2f} "
            f"| {r.english_unk_share:.1%} | {r.dna_mb_per_s:.2f} | {r.english_mb_per_s:.2f} |"
        )
    return "\n".join(lines)


@dataclass
class CompareArguments:
    tokenizers: list[str] = field(
        default_factory=lambda: ["ours=tokenizer"],
        metadata={"help": "name=path pairs (transformers folder or tokenizer.json)."},
    )
    max_chars: int = field(default=1_000_000, metadata={"help": "Held-out characters per language."})
    heldout_fraction: float = field(default=0.01, metadata={"help": "Must match the tokenizer's training."})


def main(argv: list[str] | None = None) -> None:
    (args,) = HfArgumentParser(CompareArguments).parse_args_into_dataclasses(args=argv)
    pairs = dict(item.split("=", 1) for item in args.tokenizers)
    rows = compare_tokenizers(pairs, heldout_fraction=args.heldout_fraction, max_chars=args.max_chars)
    print(format_table(rows))
    for r in rows:
        key = r.name.replace(" ", "_")
        print(f"{key}_dna_bp_per_token: {r.dna_bp_per_token:.3f}")
        print(f"{key}_dnahl_record_bp_per_token: {r.dnahl_bp_per_token:.3f}")
        print(f"{key}_english_chars_per_token: {r.english_chars_per_token:.3f}")


if __name__ == "__main__":
    main()
