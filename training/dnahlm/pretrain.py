"""Pre-train DNAHLM, a GPT-2 from scratch on the mixed DNA + English corpus, with the HF Trainer.

The corpus streams (``datasets`` iterable), is tokenized on the fly with the unified BPE and packed into
blocks of ``block_size`` tokens with an EOS after every line. Held-out perplexity is reported
separately for DNA and for English.

    python -m chatnt.training.dnahlm.pretrain --preset mini --output_dir runs/dnahlm-mini-pt
    accelerate launch --config_file training/accelerate/ddp.yaml \\
        -m chatnt.training.dnahlm.pretrain --preset small --output_dir runs/dnahlm-small-pt

A preset sets the model shape, the block size and training defaults; any flag given on the command line
overrides them. ``mini`` (about 5.5 M parameters) is the CPU recipe: bf16 autocast on the CPU, about 15
minutes on 2 cores (``--use_cpu false`` runs it on a GPU); ``small`` is GPT-2 small (117 M, context 1024) for a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import chain, islice

from datasets import Dataset, IterableDataset
from transformers import (
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)

from chatnt.training.dnahlm.corpus import DEFAULT_DNA_FILES, DEFAULT_ENGLISH_FILES, default_paths, mixed_text_dataset
from chatnt.training.presets import parse_with_preset

PRESETS = {
    # For smoke tests: seconds on a CPU.
    "tiny": {
        "model": {"n_layer": 2, "n_embd": 32, "n_head": 2, "n_positions": 256},
        "block_size": 64,
        "training": {
            "per_device_train_batch_size": 4,
            "learning_rate": 3e-3,
            "max_steps": 20,
            "logging_steps": 5,
            "save_steps": 10,
        },
    },
    "mini": {
        "model": {"n_layer": 4, "n_embd": 256, "n_head": 4, "n_positions": 1024},
        "block_size": 512,
        "training": {
            "per_device_train_batch_size": 8,
            "learning_rate": 1e-3,
            "warmup_steps": 50,
            "max_steps": 700,
            "lr_scheduler_type": "cosine",
            "weight_decay": 0.1,
            "logging_steps": 25,
            "save_steps": 100,
            "save_total_limit": 2,
            # The CPU recipe: bf16 autocast is faster on this CPU, and TrainingArguments allows bf16 without a
            # GPU only with use_cpu (pass --use_cpu false to run the preset on a GPU).
            "bf16": True,
            "use_cpu": True,
        },
    },
    "small": {
        "model": {"n_layer": 12, "n_embd": 768, "n_head": 12, "n_positions": 1024},
        "block_size": 1024,
        "training": {
            "per_device_train_batch_size": 16,
            "gradient_accumulation_steps": 4,
            "learning_rate": 6e-4,
            "warmup_steps": 1000,
            "max_steps": 50_000,
            "lr_scheduler_type": "cosine",
            "weight_decay": 0.1,
            "bf16": True,
            "logging_steps": 50,
            "save_steps": 2000,
            "save_total_limit": 3,
        },
    },
}


@dataclass
class ModelArguments:
    """Which GPT-2 to build and with which tokenizer."""

    preset: str = field(default="mini", metadata={"help": f"One of {sorted(PRESETS)}."})
    tokenizer: str = field(default="tokenizer", metadata={"help": "Path of the unified BPE tokenizer."})
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Start from this model instead of a fresh one; with --max_steps 0, only evaluate it (without "
            "it, --max_steps 0 saves the untrained model)."
        },
    )


@dataclass
class DataArguments:
    """The mixed corpus and its packing."""

    dna_files: list[str] = field(default_factory=lambda: default_paths(DEFAULT_DNA_FILES))
    english_files: list[str] = field(default_factory=lambda: default_paths(DEFAULT_ENGLISH_FILES))
    dna_fraction: float = field(default=0.5, metadata={"help": "Probability that the next corpus line is DNA."})
    heldout_fraction: float = field(default=0.01, metadata={"help": "Share of lines held out (by hash)."})
    block_size: int | None = field(default=None, metadata={"help": "Tokens per packed block (preset default)."})
    shuffle_buffer: int = field(default=10_000, metadata={"help": "Lines in the streaming shuffle buffer."})
    eval_blocks: int = field(default=64, metadata={"help": "Held-out blocks per language for perplexity."})


def build_model(preset: str, tokenizer: PreTrainedTokenizerBase) -> GPT2LMHeadModel:
    """A freshly initialised GPT-2 of the preset's shape, sized to the tokenizer's vocabulary."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **PRESETS[preset]["model"],
    )
    return GPT2LMHeadModel(config)


def pack(dataset, tokenizer: PreTrainedTokenizerBase, block_size: int):
    """Tokenize ``text`` rows, end each with EOS and cut the concatenation into ``block_size`` blocks.

    Packing is done per map batch of 1,000 lines, so a remainder shorter than a block is dropped there.
    """
    eos = tokenizer.eos_token_id

    def tokenize_and_group(batch):
        ids = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
        stream = list(chain.from_iterable(seq + [eos] for seq in ids))
        usable = len(stream) // block_size * block_size
        blocks = [stream[i : i + block_size] for i in range(0, usable, block_size)]
        return {"input_ids": blocks, "labels": [list(b) for b in blocks]}

    columns = ["text", "source"]
    return dataset.map(tokenize_and_group, batched=True, batch_size=1000, remove_columns=columns)


def heldout_blocks(tokenizer, data_args: DataArguments, block_size: int, source: str) -> Dataset:
    """The first ``eval_blocks`` packed held-out blocks of one language, as an in-memory dataset."""
    stream = mixed_text_dataset(
        data_args.dna_files,
        data_args.english_files,
        dna_fraction=1.0 if source == "dna" else 0.0,
        split="heldout",
        heldout_fraction=data_args.heldout_fraction,
    )
    rows = list(islice(iter(pack(stream, tokenizer, block_size)), data_args.eval_blocks))
    if not rows:
        raise ValueError(f"No held-out {source} block of {block_size} tokens: the corpus is too small")
    return Dataset.from_list(rows)


def training_stream(tokenizer, data_args: DataArguments, block_size: int, seed: int) -> IterableDataset:
    """The shuffled, packed training stream."""
    stream = mixed_text_dataset(
        data_args.dna_files,
        data_args.english_files,
        dna_fraction=data_args.dna_fraction,
        split="train",
        heldout_fraction=data_args.heldout_fraction,
        seed=seed,
    ).shuffle(seed=seed, buffer_size=data_args.shuffle_buffer)
    return pack(stream, tokenizer, block_size)


def pretrain(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments) -> dict:
    """Train, save the model and tokenizer to ``output_dir`` and return the held-out metrics.

    Resuming (``--resume_from_checkpoint``) replays the same stream and RNG states, so an interrupted
    run ends with the same weights as an uninterrupted one.
    """
    set_seed(training_args.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_args.tokenizer)
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ValueError("The tokenizer needs a pad token distinct from its EOS token")
    block_size = data_args.block_size or PRESETS[model_args.preset]["block_size"]
    if model_args.model_name_or_path:
        model = GPT2LMHeadModel.from_pretrained(model_args.model_name_or_path)
    else:
        model = build_model(model_args.preset, tokenizer)
    if block_size > model.config.n_positions:
        raise ValueError(f"block_size {block_size} exceeds the model context {model.config.n_positions}")
    train = training_args.max_steps != 0
    eval_sets = {source: heldout_blocks(tokenizer, data_args, block_size, source) for source in ("dna", "english")}
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=training_stream(tokenizer, data_args, block_size, training_args.seed) if train else None,
        eval_dataset=eval_sets,
        data_collator=default_data_collator,
        processing_class=tokenizer,
    )
    if train:
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.save_model()
        trainer.save_state()
    elif not model_args.model_name_or_path:
        trainer.save_model()  # the untrained model: the start without pre-training, for comparison
    metrics = trainer.evaluate()
    for source, blocks in eval_sets.items():
        loss = metrics[f"eval_{source}_loss"]
        metrics[f"{source}_perplexity"] = math.exp(loss)
        metrics[f"{source}_bits_per_char"] = bits_per_character(loss, blocks["input_ids"], tokenizer)
    trainer.save_metrics("eval", metrics)
    return metrics


def bits_per_character(mean_loss: float, blocks: list[list[int]], tokenizer: PreTrainedTokenizerBase) -> float:
    """Convert a mean next-token loss (nats) over packed ``blocks`` into bits per character of text.

    Per-token perplexities of tokenizers with different compression are not comparable; bits per
    character are (for DNA, bits per bp: 2.0 is a uniform guess over ACGT). Every token but a block's
    first is predicted; EOS tokens are predicted too but count no character.
    """
    predicted = sum(len(ids) - 1 for ids in blocks)
    characters = sum(len(tokenizer.decode(ids[1:], skip_special_tokens=True)) for ids in blocks)
    return mean_loss * predicted / (math.log(2) * characters)


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """Parse the three dataclasses, with the chosen preset's training values as defaults."""
    return parse_with_preset(
        argv, (ModelArguments, DataArguments, TrainingArguments),
        {name: preset["training"] for name, preset in PRESETS.items()},
    )


def main(argv: list[str] | None = None) -> None:
    metrics = pretrain(*parse_args(argv))
    for source in ("dna", "english"):
        print(f"heldout_{source}_loss: {metrics[f'eval_{source}_loss']:.4f}")
        print(f"heldout_{source}_perplexity: {metrics[f'{source}_perplexity']:.2f}")
        print(f"heldout_{source}_bits_per_char: {metrics[f'{source}_bits_per_char']:.3f}")


if __name__ == "__main__":
    main()
