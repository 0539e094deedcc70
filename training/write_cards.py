"""Write the model card of ``checkpoints/nt-mini-encoder`` from its run.

    python -m chatnt.training.write_cards nt-mini-encoder --run runs/nt-mini --out checkpoints/nt-mini-encoder

(``chatnt-mini``'s card is written by ``python -m chatnt.training.ship_chatnt card``, ``dnahlm-mini``'s by
``python -m chatnt.training.dnahlm.card``.) Every figure comes from the run's files: the Trainer's
``eval_results.json`` / ``trainer_state.json``, the model's ``config.json`` and safetensors header. Figures
that no run file holds (the data-set sizes of the corpora, the unigram baseline of the encoder) are kept as
fixed text, marked as such in the code.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from chatnt.training.encoder_pretraining import DEFAULT_SOURCES, PRESETS
from chatnt.training.model_card import (
    Score,
    logged_losses,
    model_card,
    parameter_counts,
    read_json,
    train_runtime,
    write_card_command,
)


def scientific(value: float) -> str:
    """A learning rate the way it is typed on a command line: 1e-3, 5e-5."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


# ---------------------------------------------------------------- nt-mini-encoder

ENCODER_USE = """```python
import chatnt  # registers the NT v2 classes with the Auto classes
from transformers import AutoModelForMaskedLM, AutoTokenizer

model = AutoModelForMaskedLM.from_pretrained("checkpoints/nt-mini-encoder")
tokenizer = AutoTokenizer.from_pretrained("checkpoints/nt-mini-encoder")
logits = model(**tokenizer(["ACGTTGCAAGGCTTAGCTAGG"], return_tensors="pt")).logits

# As ChatNT's encoder (the LM head is dropped):
from chatnt import ChatNTForConditionalGeneration
from chatnt.offline_models import smollm2_instruct
chat, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
    "checkpoints/nt-mini-encoder", smollm2_instruct())
```

Without the `chatnt` package, `trust_remote_code=True` loads the copies of the model and tokenizer code
stored here."""

# Fixed text: the base-pair counts of the data split are computed by the data code at training time and
# no run file stores them; kept from the hand-written card.
ENCODER_DATA = """The FASTA files of `../shared/data` (see its README for sources and licences). Each record is cut into
10 kb segments; a segment is held out when the sha256 of its bases falls in the lowest 2% (identical
segments always land on the same side). Training windows are random 2,052 bp stretches (342 6-mers +
`<cls>`) of the training segments; records shorter than that are used whole. Files are mixed with
probabilities proportional to the square root of their training size.

| Source | File | Training bp | Held-out segments | Held-out bp |
|---|---|---:|---:|---:|
| `ecoli_genome` | `ecoli/NC_008253.fna.gz` (E. coli 536 genome) | 4,798,920 | 14 | 140,000 |
| `fly_upstream` | `fly/dm3_upstream2000.fa.gz` (D. melanogaster promoter regions) | 51,778,706 | 563 | 1,126,000 |
| `rrna_16s` | `rrna/rrna_16S_ssu_prokaryote.fa.gz` | 20,800,245 | 287 | 406,519 |
| `rrna_18s` | `rrna/rrna_18S_ssu_eukaryote.fa.gz` | 25,708,360 | 306 | 535,212 |
| `rrna_lsu` | `rrna/rrna_lsu_23S_28S.fa.gz` | 26,432,390 | 172 | 499,703 |
| `human_oct4_peaks` | `janggu/sample.fa` (hg19 Oct4 ChIP-seq peaks, 200 bp) | 763,800 | 78 | 15,600 |
| `human_mafk_peaks` | `janggu/sample2.fa` (hg19 Mafk ChIP-seq peaks, 200 bp) | 767,200 | 64 | 12,800 |
| `yeast_orfs` | `yeast/someORF.fa` (7 S. cerevisiae ORF regions) | 26,339 | 0 | 0 |

The janggu `*_test.fa` files (the test set of the Oct4-vs-Mafk task) are not used. The other task
sequences of ChatNT's instruction data (rRNA types, fly promoters) come from these files: pre-training
saw them without labels, the test halves of those tasks included."""

# Fixed text: the unigram baseline was computed once by hand and no run file stores it; kept from the
# hand-written card, per source, in the order of DEFAULT_SOURCES.
UNIGRAM_BASELINE_PERPLEXITY = {
    "ecoli_genome": "4,014", "fly_upstream": "3,895", "rrna_16s": "3,569", "rrna_18s": "3,295", "rrna_lsu": "3,855",
    "human_oct4_peaks": "3,446", "human_mafk_peaks": "3,538", "all": "3,735",
}
UNIGRAM_BASELINE_ACCURACY = "0.0004"
# Fixed text: the count of non-padding tokens trained on was measured by hand (the Trainer state's
# num_input_tokens_seen is 0: not tracked); kept from the hand-written card.
ENCODER_TOKENS_SEEN = "2.12 M"

ENCODER_LIMITATIONS = """- Two orders of magnitude too little pre-training: NT v2 models see ~10^11 tokens; this one saw
  2 x 10^6. Predicting a masked 6-mer from context only starts once the model memorises recurring
  sequence (rRNA, human repeats): the first gains are on exactly those sources. Continue it with
  `--model_name_or_path checkpoints/nt-mini-encoder --max_steps N`, or run `--preset nt-v2-50m` on a GPU.
- The random window start shifts the 6-mer frame, so the same locus appears as six different token
  strings; this is the NT v2 tokenization, kept for compatibility with the published checkpoints.
- Training windows are 2 kb; longer inputs use rotary positions beyond the trained range."""


def encoder_card(run: str | Path, out: str | Path, preset: str = "mini", card_path: str | Path | None = None) -> Path:
    """Write ``<out>/README.md`` for the NT v2 encoder pre-trained by ``encoder_pretraining`` in ``run``.

    Args:
        run: the run folder (``eval_results.json``, ``trainer_state.json``, ``config.json``); the shipped
            checkpoint folder holds copies of these, so it works as ``run`` too.
        out: the shipped checkpoint folder (its ``model.safetensors`` gives the parameter counts).
        preset: the ``encoder_pretraining`` preset the run used (its training settings go into the card).
        card_path: where to write the card; defaults to ``<out>/README.md``.

    Returns:
        The path of the written card.
    """
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}: pass the one the run used, one of {sorted(PRESETS)}.")
    run, out = Path(run), Path(out)
    results = read_json(run / "eval_results.json")
    state = read_json(run / "trainer_state.json")
    config = read_json(run / "config.json")
    settings = PRESETS[preset]["training"]
    weights = out / "model.safetensors"
    counts = parameter_counts(weights)
    total = sum(counts.values())
    head = sum(count for module, count in counts.items() if module.startswith("lm_head"))
    losses = logged_losses(state)
    logging_steps = state["logging_steps"]
    steps, batch = state["global_step"], state["train_batch_size"]
    runtime = train_runtime(state)
    sources = [name for name in DEFAULT_SOURCES if f"eval_{name}_accuracy" in results]

    rows = []
    scores = []
    for name in sources:
        tokens, accuracy = results[f"eval_{name}_masked_tokens"], results[f"eval_{name}_accuracy"]
        perplexity = results[f"eval_{name}_perplexity"]
        rows.append(f"| `{name}` | {tokens:,} | {accuracy:.3f} | {perplexity:,.0f} | {UNIGRAM_BASELINE_PERPLEXITY[name]} |")
        dataset = {"dataset_name": f"held-out pre-training windows: {name}", "dataset_type": f"chatnt/pretraining/{name}"}
        scores += [Score(metric="accuracy", value=accuracy, metric_name=f"masked-token accuracy ({name})", **dataset),
                   Score(metric="perplexity", value=perplexity, metric_name=f"masked-token perplexity ({name})", **dataset)]
    rows.append(
        f"| **All (token-weighted)** | **{results['heldout_masked_tokens']:,}** | **{results['heldout_accuracy']:.4f}** "
        f"| **{results['heldout_perplexity']:,.0f}** | **{UNIGRAM_BASELINE_PERPLEXITY['all']}** |"
    )
    overall = {"dataset_name": "held-out pre-training windows: all sources", "dataset_type": "chatnt/pretraining/all"}
    scores = [Score(metric="accuracy", value=results["heldout_accuracy"], metric_name="masked-token accuracy (all)", **overall),
              Score(metric="perplexity", value=results["heldout_perplexity"], metric_name="masked-token perplexity (all)", **overall),
              *scores]

    first_loss, last_loss = losses[0], losses[-1]
    sections = {
        "Use": ENCODER_USE,
        "Training data": ENCODER_DATA,
        "Training": (
            "```bash\nOMP_NUM_THREADS=1 python -m chatnt.training.encoder_pretraining --preset mini --output_dir runs/nt-mini \\\n"
            "    --report_to none --use_cpu --disable_tqdm true\n```\n\n"
            "Masking as in BERT / NT: 15% of the nucleotide tokens chosen (never `<cls>` or padding), of which 80%\n"
            "become `<mask>`, 10% a random nucleotide token and 10% stay; loss on the chosen tokens. Masks are a\n"
            "function of (seed, position in the stream), so `--resume_from_checkpoint` reproduces an uninterrupted run.\n\n"
            "| | |\n|---|---|\n"
            f"| Steps | {steps:,} (batch {batch} windows of up to {PRESETS[preset]['max_length']} tokens; "
            f"{steps * batch:,} windows, {ENCODER_TOKENS_SEEN} 6-mer tokens) |\n"
            f"| Optimizer | AdamW, lr {scientific(settings['learning_rate'])}, {settings['warmup_steps']} warm-up steps then "
            f"{settings['lr_scheduler_type']} decay, weight decay {settings['weight_decay']}, gradient clipping "
            f"{settings['max_grad_norm']} |\n"
            f"| Precision / hardware | fp32, 1 CPU thread (shared with two other jobs), {runtime:,.0f} s "
            f"({runtime / 60:.1f} min) of training |\n"
            "| Seed | 42 |\n"
            f"| Training loss | {first_loss[1]:.2f} (mean of steps 1-{first_loss[0]}) -> {last_loss[1]:.2f} (mean of steps "
            f"{last_loss[0] - logging_steps + 1:,}-{last_loss[0]:,}); a uniform guess scores ln {config['vocab_size']} = "
            f"{math.log(config['vocab_size']):.2f} |\n\n"
            "`trainer_state.json` holds the full loss curve."
        ),
        "Held-out evaluation": (
            "32 consecutive held-out windows per source (yeast has no held-out segment), masked once with the\n"
            "seed; accuracy = masked tokens whose argmax is the original token; perplexity = exp of the mean\n"
            "cross-entropy per masked token (`eval_results.json`). The baseline is a context-free unigram model: 6-mer\n"
            f"frequencies of the same {steps * batch:,} training windows (add-one smoothed), scored on the same masked "
            "tokens\n(computed once; its figures are stored in no run file).\n\n"
            "| Source | Masked tokens | Accuracy | Perplexity | Unigram-baseline perplexity |\n"
            "|---|---:|---:|---:|---:|\n" + "\n".join(rows)
            + f"\n\nThe unigram baseline's accuracy (always the most frequent 6-mer) is {UNIGRAM_BASELINE_ACCURACY}."
        ),
        "Limitations and what would make it useful": ENCODER_LIMITATIONS,
        "Regenerate this card": (
            "```bash\npython -m chatnt.training.write_cards nt-mini-encoder --run runs/nt-mini --out checkpoints/nt-mini-encoder\n```"
        ),
    }
    description = (
        "A small Nucleotide Transformer v2 (rotary positions, SwiGLU feed-forward without bias, pre-LayerNorm,\n"
        f"6-mer vocabulary of {config['vocab_size']:,} tokens) pre-trained from scratch by masked-language modelling "
        "on the real\nDNA/RNA of `../shared/data`, on one CPU thread. It is the DNA encoder of the `mini` ChatNT preset\n"
        "(`python -m chatnt.training.chatnt_sft --preset mini`); ChatNT instruction tuning trains it further.\n\n"
        f"**Read the numbers below before using it for anything else**: {steps:,} optimizer steps ({ENCODER_TOKENS_SEEN} tokens,\n"
        "about 13 Mbp) are a very short pre-training. The model does a little better than a context-free 6-mer\n"
        "frequency model, not much more.\n\n"
        "| | |\n|---|---|\n"
        f"| Architecture | `{config['architectures'][0]}`: hidden {config['hidden_size']}, {config['num_hidden_layers']} layers, "
        f"{config['num_attention_heads']} heads, SwiGLU FFN {config['intermediate_size']}, vocab {config['vocab_size']:,}, "
        f"`max_position_embeddings` {config['max_position_embeddings']} |\n"
        f"| Parameters | {total / 1e6:.2f} M ({(total - head) / 1e6:.2f} M encoder + {head / 1e6:.2f} M masked-LM head) |\n"
        f"| Weights | `model.safetensors`, {config.get('dtype', 'float32').replace('float32', 'fp32')}, "
        f"{weights.stat().st_size / 1e6:.1f} MB |\n"
        "| Tokenizer | NT v2 6-mer tokenizer (`vocab.txt`, `tokenizer.json`); `<cls>` prepended; IUPAC codes read as N in training |\n"
        f"| Code | `chatnt.training.encoder_pretraining`, preset `{preset}` (the commit that adds this folder) |"
    )
    card = model_card(
        "nt-mini-encoder",
        description=description,
        sections=sections,
        scores=scores,
        pipeline_tag="fill-mask",
        title="NT v2 mini encoder (`nt-mini-encoder`)",
        tags=["nucleotide-transformer", "dna", "genomics", "masked-lm", "chatnt", "custom_code"],
    )
    card_path = Path(card_path or out / "README.md")
    card.save(card_path)
    return card_path


def main(argv: list[str] | None = None) -> None:
    """``python -m chatnt.training.write_cards nt-mini-encoder ...``: write the card."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    encoder = commands.add_parser("nt-mini-encoder", help="card of the NT v2 encoder pre-trained by encoder_pretraining")
    encoder.add_argument("--run", default="runs/nt-mini", help="the pre-training run (or the checkpoint, which holds copies of its results)")
    encoder.add_argument("--out", default="checkpoints/nt-mini-encoder")
    encoder.add_argument("--preset", default="mini", choices=sorted(PRESETS))
    args = parser.parse_args(argv)
    write_card_command(lambda: encoder_card(args.run, args.out, args.preset))


if __name__ == "__main__":
    main()
