"""Train DNAHLM's single byte-level BPE vocabulary on real DNA and real English, save it for transformers.

One vocabulary covers both languages: DNA lines of 300-1000 bp become long nucleotide tokens and English
keeps GPT-2-like word pieces. The GPT-2 pre-tokenizer regex leaves a DNA line whole (it is one run of
letters), so merges can grow DNA tokens of tens of bp while English words stay separate.

    python -m chatnt.tokenizer.train_bpe --output_dir runs/tokenizer-50k --vocab_size 50000

It refuses to write over a tokenizer already in ``--output_dir`` (such as the committed ``tokenizer/``)
unless ``--overwrite true`` is given.

The result loads with ``AutoTokenizer.from_pretrained(output_dir)``; ``tokenizer.json`` is kept as
trained (a ``PreTrainedTokenizerFast``, not ``GPT2TokenizerFast``, which would rebuild GPT-2's own
pre-tokenizer on reload).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import HfArgumentParser, PreTrainedTokenizerFast

from chatnt.tasks.dnahl import ALPACA_PREAMBLE
from chatnt.training.dnahlm.corpus import (
    DEFAULT_DNA_FILES,
    DEFAULT_ENGLISH_FILES,
    default_paths,
    round_robin,
    source_lines,
)

EOS_TOKEN = "<|endoftext|>"
# A pad token distinct from EOS: with pad == eos, masking pads also masks the EOS the model must learn.
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = [EOS_TOKEN, PAD_TOKEN]

# Renders chat messages in the Alpaca format the model is tuned on. A user message may carry an
# "input" field (the DNA sequence), rendered as the "### Input:" block; a system message replaces the
# preamble. Each assistant turn ends with the EOS token the model learns to emit.
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' -%}{{ messages[0]['content'] }}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{{ '" + ALPACA_PREAMBLE + "' }}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{ '\\n\\n### Instruction:\\n' + message['content'] }}"
    "{%- if message.get('input') -%}{{ '\\n\\n### Input:\\n' + message['input'] }}{%- endif -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '\\n\\n### Response:\\n' + message['content'] + eos_token }}"
    "{%- else -%}{{ raise_exception('Roles must be system (first only), user or assistant') }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '\\n\\n### Response:\\n' }}{%- endif -%}"
)


@dataclass
class BPETrainingArguments:
    """Options of :func:`train_bpe`; the defaults follow the published DNAHLM tokenizer."""

    output_dir: str = field(default="runs/tokenizer", metadata={"help": "Where to save the transformers tokenizer."})
    overwrite: bool = field(
        default=False, metadata={"help": "Replace a tokenizer already in output_dir (e.g. the committed tokenizer/)."}
    )
    vocab_size: int = field(default=50_000, metadata={"help": "Total vocabulary size, special tokens included."})
    corpus_chars: int = field(default=40_000_000, metadata={"help": "Characters of training text in all."})
    dna_fraction: float = field(default=0.5, metadata={"help": "Share of corpus_chars that is DNA."})
    min_frequency: int = field(default=2, metadata={"help": "Minimum pair count for a merge."})
    max_token_length: int | None = field(
        default=64,
        metadata={
            "help": "Longest token in characters. Longer DNA tokens only memorise repeated sequences (e.g. "
            "duplicated rRNA operons); the published tokenizer's longest is 70 bp."
        },
    )
    dna_files: list[str] = field(
        default_factory=lambda: default_paths(DEFAULT_DNA_FILES), metadata={"help": "FASTA files (.gz ok)."}
    )
    english_files: list[str] = field(
        default_factory=lambda: default_paths(DEFAULT_ENGLISH_FILES), metadata={"help": "Text files (.gz ok)."}
    )
    heldout_fraction: float = field(default=0.01, metadata={"help": "Share of lines kept out of training."})
    seed: int = field(default=0, metadata={"help": "Seed of the DNA line cutting."})
    compare: bool = field(default=True, metadata={"help": "Print the comparison with the reference tokenizers."})


def take_chars(lines: Iterable[str], budget: int) -> Iterator[str]:
    """Yield lines until ``budget`` characters have been yielded (the last line may cross it)."""
    used = 0
    for line in lines:
        if used >= budget:
            return
        used += len(line)
        yield line


def training_lines(args: BPETrainingArguments) -> Iterator[str]:
    """The tokenizer's training text: DNA and English ``train``-split lines within the character budgets.

    The two sources alternate line by line, so any prefix of the stream holds both.
    """
    if not 0.0 <= args.dna_fraction <= 1.0:
        raise ValueError(f"dna_fraction must be in [0, 1], got {args.dna_fraction}")
    dna_budget = int(args.corpus_chars * args.dna_fraction)
    dna = take_chars(source_lines("dna", args.dna_files, "train", args.heldout_fraction, args.seed), dna_budget)
    english = take_chars(
        source_lines("english", args.english_files, "train", args.heldout_fraction),
        args.corpus_chars - dna_budget,
    )
    return round_robin([dna, english])


def build_bpe_tokenizer(
    lines: Iterable[str], vocab_size: int, min_frequency: int = 2, max_token_length: int | None = 64
) -> Tokenizer:
    """Train a byte-level BPE ``tokenizers.Tokenizer`` on ``lines``, with EOS and pad as ids 0 and 1."""
    byte_alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(byte_alphabet) + len(SPECIAL_TOKENS):
        raise ValueError(
            f"vocab_size must be at least {len(byte_alphabet) + len(SPECIAL_TOKENS)} "
            f"(256 bytes + {len(SPECIAL_TOKENS)} special tokens), got {vocab_size}"
        )
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=byte_alphabet,
        max_token_length=max_token_length,
        show_progress=False,
    )
    counted = _CountingIterator(lines)
    tokenizer.train_from_iterator(counted, trainer=trainer)
    if counted.count == 0:
        raise ValueError("The tokenizer training corpus is empty: check the DNA and English file paths.")
    return tokenizer


class _CountingIterator:
    """Wraps an iterator and counts its items, to detect an empty corpus after training."""

    def __init__(self, items: Iterable[str]):
        self._items = iter(items)
        self.count = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        item = next(self._items)
        self.count += 1
        return item


def to_transformers(tokenizer: Tokenizer, model_max_length: int = 1024) -> PreTrainedTokenizerFast:
    """Wrap a trained ``tokenizers.Tokenizer`` for transformers, with EOS, pad and the Alpaca chat template."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        unk_token=None,
        pad_token=PAD_TOKEN,
        model_max_length=model_max_length,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def train_bpe(args: BPETrainingArguments) -> PreTrainedTokenizerFast:
    """Train the tokenizer described by ``args`` and save it to ``args.output_dir``."""
    tokenizer = to_transformers(
        build_bpe_tokenizer(training_lines(args), args.vocab_size, args.min_frequency, args.max_token_length)
    )
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(args.output_dir)
    return tokenizer


def main(argv: list[str] | None = None) -> None:
    parser = HfArgumentParser(BPETrainingArguments)
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    existing = Path(args.output_dir) / "tokenizer.json"
    if existing.exists() and not args.overwrite:
        # Checked before training: the committed tokenizer/ is what the shipped models were built with.
        parser.error(f"{existing} exists; choose another --output_dir (e.g. runs/tokenizer-8k) or pass --overwrite true.")
    train_bpe(args)
    print(f"saved: {args.output_dir}")
    if args.compare:
        # compare.py imports this module, so it can only be imported here.
        from chatnt.tokenizer.compare import compare_tokenizers, format_table

        rows = compare_tokenizers(
            {"ours": args.output_dir},
            dna_files=args.dna_files,
            english_files=args.english_files,
            heldout_fraction=args.heldout_fraction,
            seed=args.seed,
        )
        print(format_table(rows))


if __name__ == "__main__":
    main()
