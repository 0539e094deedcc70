"""Masked-LM pre-training of the Nucleotide Transformer v2 encoder on real DNA/RNA, with the HF Trainer.

Data: the FASTA files of ``../shared/data`` (E. coli genome, fly upstream regions, 16S/18S/23S-28S
rRNA, human Oct4/Mafk ChIP-seq peaks, yeast ORFs). Every record is cut into segments of
``segment_length`` bp and each segment goes to the training or the held-out side by a hash of its
bases, so the split is the same in every run and no held-out segment is ever trained on. Training
draws random windows from the training segments (a streaming ``datasets.IterableDataset``; files
mixed with probabilities proportional to the square root of their size, so that the 27 kb of yeast
neither vanishes nor dominates); held-out windows are cut consecutively and masked with a fixed seed,
so held-out numbers of different runs compare.

Masking is that of BERT and NT: 15% of the nucleotide tokens are chosen; of those 80% become
``<mask>``, 10% a random nucleotide token and 10% stay unchanged; the loss is on the chosen tokens.
Reported: held-out masked-token accuracy and perplexity (exp of the mean cross-entropy per masked
token), per source and over all sources.

    python -m chatnt.training.encoder_pretraining --preset mini --output_dir runs/nt-mini
    accelerate launch --config_file training/accelerate/ddp.yaml \\
        -m chatnt.training.encoder_pretraining --preset nt-v2-100m --output_dir runs/nt-v2-100m

``mini`` (4.8 M parameters, 19 MB in fp32) trains on one CPU thread in about 25 minutes. ``nt-v2-50m``
and ``nt-v2-100m`` are the published NT v2 50M / 100M shapes with GPU training settings (bf16,
1,000-token windows); they are documented, not run here. ``tiny`` is for tests. Any flag overrides
the preset. ``--resume_from_checkpoint`` continues an interrupted run and ends with the same weights
as an uninterrupted one: windows and masks are functions of the seed and the position in the stream,
which the Trainer replays up to the checkpoint.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, IterableDataset, interleave_datasets
from transformers import (
    DataCollatorForTokenClassification,
    EvalPrediction,
    Trainer,
    TrainingArguments,
    set_seed,
)

from chatnt.configuration_nucleotide_transformer import NucleotideTransformerConfig
from chatnt.modeling_nucleotide_transformer import NucleotideTransformerForMaskedLM
from chatnt.tokenization_nucleotide_transformer import SPECIAL_TOKENS, NucleotideTransformerTokenizer

# The tolerant reader: the LSU rRNA file repeats accessions (multi-copy operons), which chatnt.fasta rejects.
from chatnt.training.dnahlm.corpus import read_fasta
from chatnt.training.presets import parse_with_preset

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Source name -> file in ../shared/data. The janggu *_test files are left out: they are the test
# set of the Oct4-vs-Mafk task.
DEFAULT_SOURCES = {
    "ecoli_genome": "ecoli/NC_008253.fna.gz",
    "fly_upstream": "fly/dm3_upstream2000.fa.gz",
    "rrna_16s": "rrna/rrna_16S_ssu_prokaryote.fa.gz",
    "rrna_18s": "rrna/rrna_18S_ssu_eukaryote.fa.gz",
    "rrna_lsu": "rrna/rrna_lsu_23S_28S.fa.gz",
    "human_oct4_peaks": "janggu/sample.fa",
    "human_mafk_peaks": "janggu/sample2.fa",
    "yeast_orfs": "yeast/someORF.fa",
}

# Training settings shared by the GPU presets (published NT v2 shapes); only the step budget differs.
GPU_TRAINING = {
    "per_device_train_batch_size": 32,
    "gradient_accumulation_steps": 2,
    "learning_rate": 1e-4,
    "warmup_steps": 2000,
    "lr_scheduler_type": "cosine",
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "bf16": True,
    "logging_steps": 100,
    "eval_strategy": "steps",
    "eval_steps": 5000,
    "save_steps": 5000,
    "save_total_limit": 3,
    "dataloader_num_workers": 2,
}

PRESETS = {
    # Seconds on a CPU: for tests.
    "tiny": {
        "model": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64},
        "max_length": 33,
        "training": {
            "per_device_train_batch_size": 8,
            "learning_rate": 3e-3,
            "max_steps": 20,
            "logging_steps": 5,
            "save_steps": 10,
            "eval_strategy": "no",
        },
    },
    # 23.5 minutes on one (shared) CPU thread; 4.8 M parameters with the LM head (3.7 M without).
    "mini": {
        "model": {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 512},
        # 2 kb windows: the longest task sequences (DNAHL promoter vs terminator) are 2 kb.
        "max_length": 343,
        "training": {
            "per_device_train_batch_size": 6,
            "learning_rate": 1e-3,
            "warmup_steps": 60,
            "lr_scheduler_type": "cosine",
            "weight_decay": 0.01,
            "max_grad_norm": 1.0,
            "max_steps": 1200,
            "logging_steps": 25,
            "eval_strategy": "steps",
            "eval_steps": 400,
            "save_steps": 200,
            "save_total_limit": 2,
        },
    },
    # Published NT v2 shapes (InstaDeepAI/nucleotide-transformer-v2-50m / -100m-multi-species) with
    # the NT v2 context of 1,000 tokens (6 kb). For GPUs; about 0.5 M tokens per optimizer step on 8 GPUs.
    "nt-v2-50m": {
        "model": {"hidden_size": 512, "num_hidden_layers": 12, "num_attention_heads": 16, "intermediate_size": 2048},
        "max_length": 1000,
        "training": GPU_TRAINING | {"max_steps": 100_000},
    },
    "nt-v2-100m": {
        "model": {"hidden_size": 512, "num_hidden_layers": 22, "num_attention_heads": 16, "intermediate_size": 2048},
        "max_length": 1000,
        "training": GPU_TRAINING | {"max_steps": 150_000},
    },
}


@dataclass
class ModelArguments:
    """Which NT v2 to train."""

    preset: str = field(default="mini", metadata={"help": f"Model shape and training defaults: one of {sorted(PRESETS)}."})
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Continue from this NT v2 masked-LM checkpoint instead of a fresh model; with --max_steps 0, only evaluate it."},
    )


@dataclass
class DataArguments:
    """The DNA/RNA sources, their split and the window length."""

    sources: list[str] = field(
        default_factory=lambda: [f"{name}={SHARED_DATA / path}" for name, path in DEFAULT_SOURCES.items()],
        metadata={"help": "FASTA files (plain or gzip) as NAME=PATH, or PATH (named after the file)."},
    )
    max_length: int | None = field(default=None, metadata={"help": "Tokens per window, <cls> included (preset default)."})
    segment_length: int = field(default=10_000, metadata={"help": "bp per unit of the train/held-out split."})
    heldout_fraction: float = field(default=0.02, metadata={"help": "Share of segments held out (by hash)."})
    eval_windows_per_source: int = field(default=32, metadata={"help": "Held-out windows per source."})
    mlm_probability: float = field(default=0.15, metadata={"help": "Share of nucleotide tokens chosen for the loss."})


def parse_sources(specs: list[str]) -> dict[str, str]:
    """``["name=path", "path", ...]`` -> ``{name: path}``, checking that names are unique and files exist."""
    sources = {}
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else (None, "", spec)
        name = name or Path(path).name.split(".")[0]
        if name in sources:
            raise ValueError(f"Two sources are named {name!r}; name them explicitly as NAME=PATH.")
        if not Path(path).is_file():
            raise FileNotFoundError(f"DNA source {name!r}: no file at {path}")
        sources[name] = path
    if not sources:
        raise ValueError("No DNA source given (--sources).")
    return sources


def is_heldout(segment: str, heldout_fraction: float) -> bool:
    """Whether a segment is held out: a stable ``heldout_fraction`` of all segments, by sha256 of its bases."""
    return int(hashlib.sha256(segment.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < heldout_fraction


@functools.cache
def load_segments(path: str, segment_length: int, heldout_fraction: float, heldout: bool) -> tuple[str, ...]:
    """The segments of one FASTA file on one side of the split, upper-cased (soft-masking is not sequence).

    The split hashes the segment's own bases, so identical copies (repeated rRNA records, the same
    sequence in two files) always fall on the same side. Cached: the training stream and the
    size-based mixing weights read each file once per process.
    """
    segments = []
    for _, sequence in read_fasta(path):
        sequence = sequence.upper()
        for start in range(0, len(sequence), segment_length):
            piece = sequence[start : start + segment_length]
            if is_heldout(piece, heldout_fraction) == heldout:
                segments.append(piece)
    return tuple(segments)


def window_bp(max_length: int, k_mer: int = 6) -> int:
    """Bases that fill ``max_length`` tokens after the ``<cls>`` (ambiguity codes, read as N, add tokens)."""
    return (max_length - 1) * k_mer


def random_windows(path: str, name: str, window: int, segment_length: int, heldout_fraction: float, seed: int):
    """Endless random windows of ``window`` bp from the training segments of one file.

    A segment is drawn with probability proportional to its length, then a uniform start in it;
    segments shorter than the window are used whole. Seeded per source, so the stream replays exactly.
    """
    segments = load_segments(path, segment_length, heldout_fraction, heldout=False)
    cumulative = list(np.cumsum([len(s) for s in segments]))
    rng = random.Random(f"{seed}:{name}")
    while True:
        segment = segments[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
        start = rng.randint(0, max(len(segment) - window, 0))
        yield {"sequence": segment[start : start + window]}


class NucleotideMasker:
    """BERT/NT masking of one tokenized window: 15% of nucleotide tokens chosen, 80/10/10.

    Only nucleotide tokens are chosen, never ``<cls>``; of the chosen, 80% become ``<mask>``, 10% a
    random nucleotide token (transformers' generic collator draws from the whole vocabulary, special
    tokens included) and 10% stay. The mask is a function of ``(seed, stream, index)``: a resumed run,
    which replays the window stream, masks every window exactly as the uninterrupted run did (masking
    in the collator with the global RNG would not: the Trainer restores that RNG one batch late).

    Example:
        >>> masker = NucleotideMasker(NucleotideTransformerTokenizer())
        >>> row = masker([3, 369, 369, 4102], seed=0, stream=0, index=0)
        >>> sorted(row)
        ['input_ids', 'labels']
    """

    def __init__(self, tokenizer, mlm_probability: float = 0.15):
        if not 0 < mlm_probability < 1:
            raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
        self.mask_token_id = tokenizer.mask_token_id
        self.first_nucleotide_id = len(SPECIAL_TOKENS)
        self.vocab_size = len(tokenizer)
        self.mlm_probability = mlm_probability

    def __call__(self, input_ids: list[int], seed: int, stream: int, index: int) -> dict[str, list[int]]:
        rng = np.random.default_rng([seed, stream, index])
        ids = np.asarray(input_ids, dtype=np.int64)
        chosen = (ids >= self.first_nucleotide_id) & (rng.random(ids.shape) < self.mlm_probability)
        action = rng.random(ids.shape)
        masked = ids.copy()
        masked[chosen & (action < 0.8)] = self.mask_token_id
        to_random = chosen & (action >= 0.8) & (action < 0.9)
        masked[to_random] = rng.integers(self.first_nucleotide_id, self.vocab_size, int(to_random.sum()))
        return {"input_ids": masked.tolist(), "labels": np.where(chosen, ids, -100).tolist()}


# Mask streams: training and held-out windows never share masks for the same index.
TRAIN_STREAM, HELDOUT_STREAM = 0, 1


def training_stream(
    sources: dict[str, str], tokenizer, masker: NucleotideMasker, data_args: DataArguments, max_length: int, seed: int
) -> IterableDataset:
    """Tokenized, masked random training windows, files mixed with probability proportional to sqrt(size)."""
    window = window_bp(max_length)
    streams, sizes = [], []
    for name, path in sources.items():
        segments = load_segments(path, data_args.segment_length, data_args.heldout_fraction, heldout=False)
        if not segments:
            raise ValueError(f"Source {name!r} ({path}) has no training segment: lower --heldout_fraction.")
        sizes.append(sum(len(s) for s in segments))
        streams.append(
            IterableDataset.from_generator(
                random_windows,
                gen_kwargs={
                    "path": path,
                    "name": name,
                    "window": window,
                    "segment_length": data_args.segment_length,
                    "heldout_fraction": data_args.heldout_fraction,
                    "seed": seed,
                },
            )
        )
    weights = np.sqrt(sizes) / np.sqrt(sizes).sum()
    mixed = streams[0] if len(streams) == 1 else interleave_datasets(streams, probabilities=weights.tolist(), seed=seed)

    def tokenize_and_mask(batch, indices):
        # IUPAC ambiguity codes (rRNA) become N: an unknown base, not an error.
        encoded = tokenizer(batch["sequence"], truncation=True, max_length=max_length, replace_unknown_with_n=True)
        rows = [masker(ids, seed, TRAIN_STREAM, index) for ids, index in zip(encoded["input_ids"], indices)]
        return {"input_ids": [row["input_ids"] for row in rows], "labels": [row["labels"] for row in rows]}

    return mixed.map(tokenize_and_mask, batched=True, batch_size=256, with_indices=True, remove_columns=["sequence"])


def heldout_windows(
    path: str, tokenizer, masker: NucleotideMasker, data_args: DataArguments, max_length: int, seed: int
) -> Dataset | None:
    """The first ``eval_windows_per_source`` consecutive held-out windows of one file, masked once.

    ``None`` when the file has no held-out segment (possible for a very small file).
    """
    window = window_bp(max_length)
    segments = load_segments(path, data_args.segment_length, data_args.heldout_fraction, heldout=True)
    sequences = [s[i : i + window] for s in segments for i in range(0, len(s), window)]
    sequences = [s for s in sequences if len(s) >= 6][: data_args.eval_windows_per_source]
    if not sequences:
        return None
    input_ids = tokenizer(sequences, truncation=True, max_length=max_length, replace_unknown_with_n=True)["input_ids"]
    return Dataset.from_list([masker(ids, seed, HELDOUT_STREAM, index) for index, ids in enumerate(input_ids)])


def masked_token_statistics(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per token: the argmax id and the cross-entropy (nats), stacked; keeps evaluation memory small.

    Used as the Trainer's ``preprocess_logits_for_metrics``, so vocabulary-wide logits are never stored.
    """
    nll = torch.nn.functional.cross_entropy(
        logits.float().transpose(1, 2), labels.clamp(min=0), reduction="none"
    )
    return torch.stack([logits.argmax(-1).float(), nll], dim=-1)


def masked_lm_metrics(prediction: EvalPrediction) -> dict[str, float]:
    """Masked-token accuracy, perplexity (exp of the mean per-token cross-entropy) and token count."""
    statistics, labels = prediction.predictions, prediction.label_ids
    chosen = labels != -100
    if not chosen.any():
        raise ValueError("The evaluation set has no masked token.")
    predicted, nll = statistics[..., 0][chosen], statistics[..., 1][chosen]
    return {
        "accuracy": float((predicted == labels[chosen]).mean()),
        "perplexity": float(np.exp(nll.mean())),
        "mean_nll": float(nll.mean()),
        "masked_tokens": int(chosen.sum()),
    }


def overall_metrics(metrics: dict[str, float], source_names: list[str]) -> dict[str, float]:
    """Pool per-source held-out metrics into token-weighted totals (``heldout_accuracy``, ...)."""
    counts = {name: metrics[f"eval_{name}_masked_tokens"] for name in source_names}
    total = sum(counts.values())
    accuracy = sum(metrics[f"eval_{name}_accuracy"] * counts[name] for name in source_names) / total
    nll = sum(metrics[f"eval_{name}_mean_nll"] * counts[name] for name in source_names) / total
    return {"heldout_accuracy": accuracy, "heldout_perplexity": math.exp(nll), "heldout_masked_tokens": total}


def build_model(preset: str, tokenizer) -> NucleotideTransformerForMaskedLM:
    """A freshly initialised NT v2 masked LM of the preset's shape, sized to the tokenizer's vocabulary."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    config = NucleotideTransformerConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        mask_token_id=tokenizer.mask_token_id,
        **PRESETS[preset]["model"],
    )
    return NucleotideTransformerForMaskedLM(config)


def pretrain(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments) -> dict:
    """Train, save model + tokenizer to ``output_dir`` and return the held-out metrics."""
    set_seed(training_args.seed)
    tokenizer = NucleotideTransformerTokenizer()
    max_length = data_args.max_length or PRESETS[model_args.preset]["max_length"]
    if model_args.model_name_or_path:
        model = NucleotideTransformerForMaskedLM.from_pretrained(model_args.model_name_or_path)
    else:
        model = build_model(model_args.preset, tokenizer)
    if max_length > model.config.max_position_embeddings:
        raise ValueError(f"max_length {max_length} exceeds the encoder's {model.config.max_position_embeddings} positions")
    sources = parse_sources(data_args.sources)
    masker = NucleotideMasker(tokenizer, data_args.mlm_probability)
    eval_sets = {}
    for name, path in sources.items():
        windows = heldout_windows(path, tokenizer, masker, data_args, max_length, training_args.seed)
        if windows is None:
            print(f"Source {name!r} has no held-out segment; it is trained on but not evaluated.")
        else:
            eval_sets[name] = windows
    if not eval_sets:
        raise ValueError("No source has a held-out segment: raise --heldout_fraction.")
    train = training_args.max_steps != 0
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=(
            training_stream(sources, tokenizer, masker, data_args, max_length, training_args.seed) if train else None
        ),
        eval_dataset=eval_sets,
        # Rows arrive masked; the collator pads input ids with <pad> and labels with -100.
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=masked_lm_metrics,
        preprocess_logits_for_metrics=masked_token_statistics,
    )
    if train:
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.save_model()
        trainer.save_state()
    metrics = trainer.evaluate()
    metrics |= overall_metrics(metrics, list(eval_sets))
    trainer.save_metrics("eval", metrics)
    return metrics


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """Parse the three dataclasses, with the chosen preset's training values as defaults."""
    return parse_with_preset(
        argv, (ModelArguments, DataArguments, TrainingArguments),
        {name: preset["training"] for name, preset in PRESETS.items()},
    )


def main(argv: list[str] | None = None) -> None:
    metrics = pretrain(*parse_args(argv))
    print(f"heldout_masked_accuracy: {metrics['heldout_accuracy']:.4f}")
    print(f"heldout_perplexity: {metrics['heldout_perplexity']:.2f}")
    print(f"heldout_masked_tokens: {metrics['heldout_masked_tokens']}")


if __name__ == "__main__":
    main()
