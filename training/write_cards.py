"""Write the model cards of ``checkpoints/nt-mini-encoder`` and ``checkpoints/dnahlm-mini`` from their runs.

    python -m chatnt.training.write_cards nt-mini-encoder --run runs/nt-mini --out checkpoints/nt-mini-encoder
    python -m chatnt.training.write_cards dnahlm-mini --out checkpoints/dnahlm-mini \\
        --pretrain_eval runs/dnahlm-mini-pt-eval --pretrain_run runs/dnahlm-mini-pt --sft_run runs/dnahlm-mini-sft \\
        --sft_log runs/sft-mini.log --eval_log runs/eval-mini.log --heldout_eval_log runs/eval-mini-heldout.log --classify_log runs/classify-mini.log

(``chatnt-mini``'s card is written by ``python -m chatnt.training.ship_chatnt card``.) Every figure comes from
the run's files: the Trainer's ``eval_results.json`` / ``trainer_state.json``, the model's ``config.json`` and
safetensors header, and the ``key: value`` lines and tables that ``chatnt.training.dnahlm.evaluate`` and
``classify`` print (their logs). Figures that no run file holds (the data-set sizes of the corpora, the
unigram baseline of the encoder) are kept as fixed text, marked as such in the code.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

from chatnt.training.encoder_pretraining import DEFAULT_SOURCES, PRESETS
from chatnt.training.model_card import Score, logged_losses, model_card, newest_checkpoint_state
from safetensors import safe_open


def read_json(path: Path) -> dict:
    """A JSON file of a run, with a clear error when it is missing."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: pass the run folder that holds it (see --help).")
    return json.loads(path.read_text())


def parameter_counts(weights: Path) -> dict[str, int]:
    """Parameter count per top-level module of a safetensors file (read from its header, no tensors loaded)."""
    counts: dict[str, int] = {}
    with safe_open(str(weights), framework="pt") as handle:
        for key in handle.keys():  # noqa: SIM118 (safe_open is not a dict: it has no __iter__)
            size = 1
            for dim in handle.get_slice(key).get_shape():
                size *= dim
            counts[key.split(".")[0]] = counts.get(key.split(".")[0], 0) + size
    return counts


def train_runtime(state: dict) -> float | None:
    """Seconds of training from a Trainer state's final log entry (None when not logged)."""
    return next((entry["train_runtime"] for entry in state["log_history"] if "train_runtime" in entry), None)


def key_values(log: Path) -> dict[str, float]:
    """The ``key: number`` lines a benchmark or evaluation command printed."""
    if not log.is_file():
        raise FileNotFoundError(f"{log} is missing: pass the log of the command (see --help).")
    values = {}
    for line in log.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+): (-?[0-9.]+(?:e-?[0-9]+)?)", line.strip())
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def markdown_tables(log: Path) -> list[tuple[str, list[str]]]:
    """Markdown tables a command printed: (the bold title line above it or '', its lines)."""
    tables, title, current = [], "", []
    for line in log.read_text().splitlines():
        if line.startswith("|"):
            current.append(line)
            continue
        if current:
            tables.append((title, current))
            title, current = "", []
        if line.startswith("**") and line.endswith("**"):
            title = line.strip("*")
    if current:
        tables.append((title, current))
    return tables


def table_rows(lines: list[str]) -> list[dict[str, str]]:
    """The rows of a markdown table as {column: cell}."""
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]


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


# ---------------------------------------------------------------- dnahlm-mini

def trainer_summary(log: Path) -> dict[str, float]:
    """The final ``{'train_runtime': ...}`` line a Trainer printed into ``log`` (values as floats)."""
    if not log.is_file():
        raise FileNotFoundError(f"{log} is missing: pass the log of the training command (see --help).")
    lines = re.findall(r"\{'train_runtime'[^}]*\}", log.read_text().replace("\r", "\n"))
    if not lines:
        raise ValueError(f"{log} holds no final Trainer summary ('train_runtime'): was the run finished?")
    return {key: float(value) for key, value in re.findall(r"'(\w+)': '?([-0-9.e+]+)'?", lines[-1])}


DNAHLM_USE = """```python
from transformers import pipeline

generator = pipeline("text-generation", model="checkpoints/dnahlm-mini")
messages = [{
    "role": "user",
    "content": "Determine the following dna sequence is promoter or terminator",
    "input": "TCTTTCTCTTCTGTATCATTCTACTTCTATGACTGCTCC...",  # the DNA, up to ~4 kb
}]
prompt = generator.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
print(generator(prompt, return_full_text=False)[0]["generated_text"])  # e.g. "promoter"
```

The chat template writes the exact Alpaca prompt of the recipe ("Below is an instruction ...
### Instruction: ... ### Input: ... ### Response:"); the model answers with the label and then emits
`<|endoftext|>`, where generation stops (greedy, `max_new_tokens=32` by default).
`AutoModelForCausalLM` / `AutoTokenizer` load the folder as well."""

# Fixed text: the instruction-data counts and record totals are produced by the data code
# (chatnt.training.dnahlm.instructions) and stored in no run file; kept from the hand-written card.
DNAHLM_DATA = """All data is real and public; nothing is generated. Paths are relative to the repository's
`../shared/data` (see its README for sources and licences).

**Tokenizer and pre-training corpus** (`chatnt.training.dnahlm.corpus`). DNA: the FASTA files below
cut into lines of 300-1000 bp (uppercased). English: one line per paragraph, gloss or entry.

| kind | files |
|---|---|
| DNA | `ecoli/NC_008253.fna.gz` (E. coli 536 genome), `fly/dm3_upstream2000.fa.gz` (D. melanogaster promoter regions), `janggu/sample.fa`, `janggu/sample2.fa` (human hg19 Oct4 / Mafk ChIP-seq peaks), `rrna/*.fa.gz` (16S, 18S, 23S/28S rRNA), `yeast/someORF.fa` |
| English | `dnahl/wiki.valid.raw` (WikiText), `english/wordnet_glosses.txt.gz`, `english/gcide_entries.txt.gz` |

A line is held out when its sha256 falls in the lowest 1%; held-out lines are never trained on and give
the perplexities below. Pre-training drew DNA and English lines with equal probability, in a streaming
shuffle, packed into blocks of {block_size} tokens: {pt_steps} steps x {pt_batch} blocks = {pt_tokens} M tokens.

**Instruction tuning** (`chatnt.training.dnahlm.instructions`), 3,040 prompt-completion examples:

| task | source | examples |
|---|---|---|
| core promoter (70 bp), promoter (300 bp), TF binding (101 bp), splice site (400 bp) | TRAIN half of `dnahl/gpt2-small2-sft3.json` (482 records) | 964 |
| promoter vs terminator (2 kb) | TRAIN half of `dnahl/gpt2-small3-1024.json` (563 records) | 1,126 |
| Oct4 vs Mafk peak (200 bp) | `janggu/sample.fa`, `janggu/sample2.fa` (the `*_test.fa` files are not used) | 300 |
| 16S vs 18S vs 23S/28S rRNA (400 bp windows) | `rrna/*.fa.gz` | 450 |
| define a word (English) | `english/wordnet_synsets.tsv.gz` | 200 |

The published records are split once for all: a record is **TEST** when
`int(sha256(record["input"].encode()).hexdigest(), 16) % 2 == 0`, else TRAIN (TEST: {test_4task} of 1,000 and
{test_pt} of 1,184). Only TRAIN records are trained on (a test checks that no TEST input occurs in the SFT
data). Each TRAIN record appears with its own instruction and with one of our paraphrases; each task
has one more paraphrase that is never trained on, for the held-out-phrasing evaluation. The loss is on
the response only, and every response ends with `<|endoftext|>` (pad is a different token), so the
model learns to stop."""

DNAHLM_COMMANDS = """From the repository root, on one CPU thread (`OMP_NUM_THREADS=1`) of a shared 2-core machine:

```bash
# 1. Tokenizer, 8,192 tokens (1-2 min)
python -m chatnt.tokenizer.train_bpe --output_dir runs/tokenizer-8k --vocab_size 8192 --compare false
# 2. Pre-training, mini preset: {pt_steps} steps x {pt_batch} x {block_size} tokens ({pt_minutes:.0f} min)
python -m chatnt.training.dnahlm.pretrain --preset mini --tokenizer runs/tokenizer-8k \\
    --output_dir runs/dnahlm-mini-pt --report_to none --use_cpu true --dataloader_pin_memory false
# 3. Alpaca SFT with TRL, mini preset, {sft_epochs:g} epochs = {sft_steps} steps of {sft_batch} ({sft_minutes:.0f} min)
python -m chatnt.training.dnahlm.sft --model_name_or_path runs/dnahlm-mini-pt \\
    --output_dir runs/dnahlm-mini-sft --num_train_epochs 1.5 --report_to none --use_cpu true \\
    --dataloader_pin_memory false
# 4. Export (safetensors and configs only)
python -m chatnt.training.dnahlm.export --source runs/dnahlm-mini-sft --target checkpoints/dnahlm-mini
# 5. Evaluation (and the classification baseline below)
python -m chatnt.training.dnahlm.pretrain --preset mini --tokenizer runs/tokenizer-8k \\
    --model_name_or_path runs/dnahlm-mini-pt --max_steps 0 --output_dir runs/dnahlm-mini-pt-eval \\
    --report_to none --use_cpu true --dataloader_pin_memory false
python -m chatnt.training.dnahlm.evaluate --model checkpoints/dnahlm-mini
python -m chatnt.training.dnahlm.evaluate --model checkpoints/dnahlm-mini --phrasing heldout
# 6. This card
python -m chatnt.training.write_cards dnahlm-mini --out checkpoints/dnahlm-mini \\
    --pretrain_eval runs/dnahlm-mini-pt-eval --pretrain_run runs/dnahlm-mini-pt --sft_run runs/dnahlm-mini-sft \\
    --sft_log runs/sft-mini.log \\
    --eval_log runs/eval-mini.log --heldout_eval_log runs/eval-mini-heldout.log --classify_log runs/classify-mini.log
```

Seeds are the defaults: 42 for training, data order and SFT sampling; 0 for the tokenizer's DNA line cutting. Resuming an interrupted run from one
of its checkpoints (`--resume_from_checkpoint`) ends with the same weights (tested)."""

DNAHLM_LIMITATIONS = """A research artefact for testing the recipe end to end on a CPU, not a usable DNA classifier. English
generation is poor ({english_bpc:.1f} bits per character). Do not use it for any biological or medical decision."""

# The two DNAHL record files the evaluation scores, by the stem the evaluate command prints.
DNAHL_FILES = {"gpt2-small2-sft3": "4-task file (`gpt2-small2-sft3.json`)",
               "gpt2-small3-1024": "Promoter vs terminator (`gpt2-small3-1024.json`)"}


def evaluation_tables(log: Path) -> dict[str, list[dict[str, str]]]:
    """{record file stem: table rows} of a ``dnahlm.evaluate`` log."""
    tables = {}
    for title, lines in markdown_tables(log):
        stem = title.split(" ")[0]
        if stem in DNAHL_FILES:
            tables[stem] = table_rows(lines)
    if set(tables) != set(DNAHL_FILES):
        raise ValueError(f"{log} lacks the tables of {sorted(set(DNAHL_FILES) - set(tables))}: pass the log of "
                         "`python -m chatnt.training.dnahlm.evaluate`.")
    return tables


def evaluation_markdown(rows: list[dict[str, str]], bold: str, drop_overall: bool) -> str:
    """A ``dnahlm.evaluate`` table re-printed for the card (overall row in bold, or dropped for one task)."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(column.replace(" mcc", " MCC") for column in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        if row["task"] == "overall" and drop_overall:
            continue
        cells = [row[column] for column in columns]
        if row["task"] == "overall":
            cells[0] = "**overall**"
        if row["task"] == "overall" or drop_overall:
            cells[columns.index(bold)] = f"**{row[bold]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dnahlm_card(
    out: str | Path,
    pretrain_eval: str | Path,
    pretrain_run: str | Path,
    sft_run: str | Path,
    sft_log: str | Path,
    eval_log: str | Path,
    heldout_eval_log: str | Path,
    classify_log: str | Path,
    card_path: str | Path | None = None,
) -> Path:
    """Write ``<out>/README.md`` for the DNAHLM mini recipe's exported SFT model.

    Args:
        out: the exported checkpoint (``config.json``, ``model.safetensors``).
        pretrain_eval: the ``--max_steps 0`` evaluation run of the pre-trained model (``eval_results.json``).
        pretrain_run: the pre-training run (``trainer_state.json``).
        sft_run: the SFT run (the ``trainer_state.json`` of its newest ``checkpoint-*``).
        sft_log: the SFT command's log (its final Trainer summary).
        eval_log: the log of ``dnahlm.evaluate`` (published phrasing).
        heldout_eval_log: the log of ``dnahlm.evaluate --phrasing heldout``.
        classify_log: the log of ``dnahlm.classify``.
        card_path: where to write the card; defaults to ``<out>/README.md``.

    Returns:
        The path of the written card.
    """
    out = Path(out)
    config = read_json(out / "config.json")
    weights = out / "model.safetensors"
    parameters = sum(parameter_counts(weights).values())
    lm = read_json(Path(pretrain_eval) / "eval_results.json")
    pretrain_state = read_json(Path(pretrain_run) / "trainer_state.json")
    sft = trainer_summary(Path(sft_log))
    ours, heldout = evaluation_tables(Path(eval_log)), evaluation_tables(Path(heldout_eval_log))
    figures, heldout_figures = key_values(Path(eval_log)), key_values(Path(heldout_eval_log))
    classify_table = next((lines for _, lines in markdown_tables(Path(classify_log)) if "accuracy" in lines[0]), None)
    if classify_table is None:
        raise ValueError(f"{classify_log} holds no results table: pass the log of `python -m chatnt.training.dnahlm.classify`.")

    block_size = 512  # the mini preset's block size (chatnt.training.dnahlm.pretrain.PRESETS)
    pt_steps, pt_batch = pretrain_state["global_step"], pretrain_state["train_batch_size"]
    sft_state = newest_checkpoint_state(sft_run)
    if sft_state is None:
        raise FileNotFoundError(f"{sft_run} holds no checkpoint-*/trainer_state.json: pass the SFT run's output_dir.")
    sft_steps = sft_state["global_step"]
    numbers = {
        "block_size": block_size, "pt_steps": pt_steps, "pt_batch": pt_batch,
        "pt_tokens": f"{pt_steps * pt_batch * block_size / 1e6:.2f}", "pt_tokens_short": f"{pt_steps * pt_batch * block_size / 1e6:.1f}", "pt_minutes": train_runtime(pretrain_state) / 60,
        "sft_epochs": sft["epoch"], "sft_steps": sft_steps, "sft_batch": sft_state["train_batch_size"], "sft_minutes": sft["train_runtime"] / 60,
        "test_4task": next(r["n"] for r in ours["gpt2-small2-sft3"] if r["task"] == "overall"),
        "test_pt": next(r["n"] for r in ours["gpt2-small3-1024"] if r["task"] == "overall"),
    }
    dna_bpc, english_bpc = lm["dna_bits_per_char"], lm["english_bits_per_char"]
    four, pt = ours["gpt2-small2-sft3"], ours["gpt2-small3-1024"]
    overall_4 = next(r for r in four if r["task"] == "overall")
    overall_pt = next(r for r in pt if r["task"] == "overall")
    heldout_4 = {r["task"]: r for r in heldout["gpt2-small2-sft3"]}
    classify_rows = table_rows(classify_table)
    by_mcc = sorted(classify_rows, key=lambda row: float(row["MCC"]), reverse=True)[:2]

    scores = []
    for stem, rows in ours.items():
        for row in rows:
            if row["task"] == "overall" and stem == "gpt2-small3-1024":
                continue  # one task: its overall row repeats it
            dataset = {"dataset_name": f"DNAHL {stem}.json, TEST half", "dataset_type": f"dnahl/{stem}"}
            for metric, column in (("exact_match", "ours exact"), ("accuracy", "ours lenient"), ("mcc", "ours mcc")):
                name = {"exact_match": "exact match", "accuracy": "lenient accuracy", "mcc": "Matthews correlation"}[metric]
                scores.append(Score(metric=metric, value=float(row[column]), metric_name=f"{name} ({row['task']})", **dataset))
    # The held-out perplexities are of the pre-trained model, not of this one: body only, not model-index.

    lm_table = (
        "| held-out text | loss (nats/token) | perplexity | bits per character |\n|---|---|---|---|\n"
        f"| DNA | {lm['eval_dna_loss']:.3f} | {lm['dna_perplexity']:.1f} | {dna_bpc:.3f} bits/bp |\n"
        f"| English | {lm['eval_english_loss']:.3f} | {lm['english_perplexity']:.1f} | {english_bpc:.3f} |"
    )
    published_exact_4, published_exact_pt = figures["gpt2-small2-sft3_published_exact"], figures["gpt2-small3-1024_published_exact"]
    sections = {
        "Model": (
            "| | |\n|---|---|\n"
            f"| architecture | `{config['architectures'][0]}`: {config['n_layer']} layers, hidden {config['n_embd']}, "
            f"{config['n_head']} heads, context {config['n_positions']}, "
            f"{'tied' if config.get('tie_word_embeddings') else 'untied'} embeddings |\n"
            f"| parameters | {parameters:,} ({weights.stat().st_size / 1e6:.1f} MB in float32 safetensors) |\n"
            f"| tokenizer | byte-level BPE, {config['vocab_size']:,} tokens, trained on the same mixed corpus (`tokenizer/README.md`); "
            f"`<|endoftext|>` = {config['eos_token_id']} (EOS), `<|pad|>` = {config['pad_token_id']} (pad, distinct) |\n\n"
            f"The {config['vocab_size']:,}-token vocabulary (instead of the recipe's default 50,000, which is committed in "
            "`tokenizer/`)\nkeeps the file under 25 MB: a 50k vocabulary alone would take 51 MB of embeddings at this width."
        ),
        "Training data and splits": DNAHLM_DATA.format(**numbers),
        "How it was made": DNAHLM_COMMANDS.format(**numbers),
        "Results": (
            "### Held-out language modelling (pre-trained model, before SFT)\n\n"
            f"64 held-out blocks of {block_size} tokens per language (step 5, first command):\n\n" + lm_table + "\n\n"
            f"{dna_bpc:.2f} bits per bp is {'*worse*' if dna_bpc > 2 else 'better'} than a uniform guess over ACGT (2.0)"
            + (f": after {numbers['pt_tokens_short']} M tokens this model has\nlearnt the format of DNA lines but nothing "
               "about their content." if dna_bpc > 2 else ".")
            + "\n\n### Published DNAHL test records, TEST half\n\n"
            "`python -m chatnt.training.dnahlm.evaluate --model checkpoints/dnahlm-mini` (greedy). Published = the\n"
            "DNAHLM GPT-2 small's own answers stored in the records (`model_response`). **exact**: the whole\n"
            "answer, whitespace/punctuation trimmed, is the label. **lenient**: the published rule, the label occurs\n"
            "in the answer (so \"Non-promoter, promoter\" counts as right for both labels); **lenient_prefix**: the\n"
            "answer starts with the label. **MCC**: of the answer's first line read as a label (anything else is\n"
            "its own class), per task; overall = mean of the task MCCs. A TRAIN-majority-label guess scores "
            f"{figures['gpt2-small2-sft3_train_majority_label_exact']:.3f}\nexact (4-task) and "
            f"{figures['gpt2-small3-1024_train_majority_label_exact']:.3f} (promoter/terminator), MCC 0.\n\n"
            f"{DNAHL_FILES['gpt2-small2-sft3']}:\n\n" + evaluation_markdown(four, "ours exact", drop_overall=False) + "\n\n"
            f"{DNAHL_FILES['gpt2-small3-1024']}:\n\n" + evaluation_markdown(pt, "ours exact", drop_overall=True) + "\n\n"
            f"With the never-trained instruction phrasings (`--phrasing heldout`), overall exact is "
            f"{heldout_figures['gpt2-small2-sft3_ours_exact']:.3f} (4-task)\nand "
            f"{heldout_figures['gpt2-small3-1024_ours_exact']:.3f} (promoter/terminator): the model keeps the answer "
            "format but mixes up the tasks' label sets\n"
            f"(splice site {heldout_4['splice_site']['ours exact']}, TF binding {heldout_4['tf_binding']['ours exact']}).\n\n"
            "### Classification-head baseline\n\n"
            "One `GPT2ForSequenceClassification` per task, initialised from the same pre-trained mini model\n"
            "(`runs/dnahlm-mini-pt`), trained on the task's TRAIN half for 2 epochs and scored on its TEST half:\n\n"
            "```bash\npython -m chatnt.training.dnahlm.classify --model_name_or_path runs/dnahlm-mini-pt \\\n"
            "    --output_dir runs/dnahlm-mini-cls --num_train_epochs 2 --use_cpu true --dataloader_pin_memory false\n```\n\n"
            + "\n".join(classify_table) + "\n\n"
            f"The heads find some signal for the `{by_mcc[0]['task']}` and `{by_mcc[1]['task']}` tasks (MCC "
            f"{float(by_mcc[0]['MCC']):.2f} and {float(by_mcc[1]['MCC']):.2f}) that the\ngenerative model, tuned on the "
            "same records, does not show. The paper's classification heads on the\n117 M model reach about 0.76-0.88 accuracy.\n\n"
            "### What this shows, honestly\n\n"
            "* The recipe's fixes work: every answer is one label followed by `<|endoftext|>` (exact = lenient),\n"
            f"  where the published model's answers are exact only {published_exact_4:.1%} / {published_exact_pt:.1%} of the "
            "time and score mostly by\n  echoing the option list (MCC "
            f"{figures['gpt2-small2-sft3_published_mcc']:.2f} / {figures['gpt2-small3-1024_published_mcc']:.2f}).\n"
            "* This mini model has **no discriminative skill**: its MCCs are about 0 and its exact accuracy is at or\n"
            "  below the majority-label guess. It falls far short of the goal (exact >= the published model's\n"
            f"  {float(overall_4['published lenient_prefix']):.3f} (4-task, lenient_prefix) / "
            f"{float(overall_pt['published lenient']):.3f} (promoter/terminator, lenient)).\n"
            "* What would close the gap, in order of expected effect: (1) task data: the published model was tuned\n"
            "  on about 178k multi-task instructions plus 10.6k promoter/terminator pairs (the full GUE task\n"
            "  sets), we had the 1,045 TRAIN records of these files; (2) a pre-trained model that has learnt DNA at\n"
            "  all (below 2 bits/bp): the published run used 150 MB DNA + 150 MB English for 3-5 epochs on a\n"
            f"  117 M-parameter GPT-2, ours saw {numbers['pt_tokens_short']} M tokens on {parameters / 1e6:.1f} M parameters; "
            "(3) GPU time: the `small` preset\n"
            "  (`--preset small`, GPT-2 117 M, context 1024, bf16) with the same commands under\n"
            "  `accelerate launch --config_file training/accelerate/ddp.yaml` (or `fsdp.yaml`,\n"
            "  `deepspeed_zero2.yaml`)."
        ),
        "Limitations": DNAHLM_LIMITATIONS.format(english_bpc=english_bpc),
    }
    description = (
        f"A {parameters / 1e6:.1f} M-parameter GPT-2 that reads DNA and English with one byte-level BPE vocabulary and "
        "answers\nAlpaca-format questions about DNA sequences. It is the CPU-sized (`mini`) run of this repository's\n"
        "DNAHLM recipe (a re-implementation of DNAHLM, \"DNA sequence and Human Language mixed large language\n"
        "model\"); the recipe's `small` preset is the paper's GPT-2 small (117 M) for a GPU.\n\n" + DNAHLM_USE
    )
    card = model_card(
        "dnahlm-mini",
        description=description,
        sections=sections,
        scores=scores,
        pipeline_tag="text-generation",
        tags=["dna", "genomics", "gpt2", "alpaca", "dnahlm"],
    )
    card_path = Path(card_path or out / "README.md")
    card.save(card_path)
    return card_path


def main(argv: list[str] | None = None) -> None:
    """``python -m chatnt.training.write_cards {nt-mini-encoder,dnahlm-mini} ...``: write one card."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    encoder = commands.add_parser("nt-mini-encoder", help="card of the NT v2 encoder pre-trained by encoder_pretraining")
    encoder.add_argument("--run", default="runs/nt-mini", help="the pre-training run (or the checkpoint, which holds copies of its results)")
    encoder.add_argument("--out", default="checkpoints/nt-mini-encoder")
    encoder.add_argument("--preset", default="mini", choices=sorted(PRESETS))
    dnahlm = commands.add_parser("dnahlm-mini", help="card of the DNAHLM mini model exported by dnahlm.export")
    dnahlm.add_argument("--out", default="checkpoints/dnahlm-mini")
    dnahlm.add_argument("--pretrain_eval", default="runs/dnahlm-mini-pt-eval")
    dnahlm.add_argument("--pretrain_run", default="runs/dnahlm-mini-pt")
    dnahlm.add_argument("--sft_run", default="runs/dnahlm-mini-sft")
    dnahlm.add_argument("--sft_log", default="runs/sft-mini.log")
    dnahlm.add_argument("--eval_log", default="runs/eval-mini.log")
    dnahlm.add_argument("--heldout_eval_log", default="runs/eval-mini-heldout.log")
    dnahlm.add_argument("--classify_log", default="runs/classify-mini.log")
    args = parser.parse_args(argv)
    try:
        if args.command == "nt-mini-encoder":
            path = encoder_card(args.run, args.out, args.preset)
        else:
            path = dnahlm_card(args.out, args.pretrain_eval, args.pretrain_run, args.sft_run, args.sft_log, args.eval_log,
                               args.heldout_eval_log, args.classify_log)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"card: {path}")


if __name__ == "__main__":
    main()
