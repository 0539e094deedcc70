"""Write the model card of ``checkpoints/nt-mini-encoder`` from its run.

    python -m chatnt.training.write_cards nt-mini-encoder --run runs/nt-mini --out checkpoints/nt-mini-encoder

(``chatnt-mini``'s card is written by ``python -m chatnt.training.ship_chatnt card``, ``dnahlm-mini``'s by
``python -m chatnt.training.dnahlm.card``.) The text is the template
``card_templates/nt-mini-encoder.md``; every figure comes from the run's files: the Trainer's
``eval_results.json`` / ``trainer_state.json``, the model's ``config.json`` and safetensors header. Figures
that no run file holds (the data-set sizes of the corpora, the unigram baseline of the encoder) are kept as
fixed text, marked as such here and in the template.
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
    sources = [name for name in DEFAULT_SOURCES if f"eval_{name}_accuracy" in results]

    rows, scores = [], []
    for name in sources:
        row = {"name": name, "tokens": results[f"eval_{name}_masked_tokens"], "accuracy": results[f"eval_{name}_accuracy"],
               "perplexity": results[f"eval_{name}_perplexity"], "unigram_perplexity": UNIGRAM_BASELINE_PERPLEXITY[name]}
        rows.append(row)
        dataset = {"dataset_name": f"held-out pre-training windows: {name}", "dataset_type": f"chatnt/pretraining/{name}"}
        scores += [Score(metric="accuracy", value=row["accuracy"], metric_name=f"masked-token accuracy ({name})", **dataset),
                   Score(metric="perplexity", value=row["perplexity"], metric_name=f"masked-token perplexity ({name})", **dataset)]
    overall = {"tokens": results["heldout_masked_tokens"], "accuracy": results["heldout_accuracy"],
               "perplexity": results["heldout_perplexity"], "unigram_perplexity": UNIGRAM_BASELINE_PERPLEXITY["all"]}
    dataset = {"dataset_name": "held-out pre-training windows: all sources", "dataset_type": "chatnt/pretraining/all"}
    scores = [Score(metric="accuracy", value=overall["accuracy"], metric_name="masked-token accuracy (all)", **dataset),
              Score(metric="perplexity", value=overall["perplexity"], metric_name="masked-token perplexity (all)", **dataset),
              *scores]
    values = {
        "title": "NT v2 mini encoder (`nt-mini-encoder`)", "config": config, "preset": preset, "settings": settings,
        "learning_rate": scientific(settings["learning_rate"]), "max_length": PRESETS[preset]["max_length"],
        "parameters": total, "head_parameters": head, "weights_bytes": weights.stat().st_size,
        "steps": state["global_step"], "batch": state["train_batch_size"], "runtime": train_runtime(state),
        "logging_steps": state["logging_steps"], "first_loss": losses[0], "last_loss": losses[-1],
        "uniform_loss": math.log(config["vocab_size"]), "tokens_seen": ENCODER_TOKENS_SEEN,
        "sources": rows, "overall": overall, "unigram_accuracy": UNIGRAM_BASELINE_ACCURACY,
    }
    card = model_card(
        "nt-mini-encoder", "nt-mini-encoder.md", values, scores, pipeline_tag="fill-mask",
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
