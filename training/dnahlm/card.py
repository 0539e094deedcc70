"""The model card of ``checkpoints/dnahlm-mini``, written from its runs.

    python -m chatnt.training.dnahlm.card --out checkpoints/dnahlm-mini --pretrain_run runs/dnahlm-mini-pt \\
        --sft_run runs/dnahlm-mini-sft --evaluation runs/eval-dnahlm-mini

The text is the template ``card_templates/dnahlm-mini.md``; every figure comes from a run file: the exported ``config.json`` and safetensors header, the Trainer's
``trainer_state.json`` / ``eval_results.json`` of both stages, and ``metrics.json`` / ``published.json`` of
``chatnt.training.dnahlm.evaluate``. ``--training_phrasings`` adds the diagnosis of missed scores (the same
records asked in the training phrasings, ``predictions.jsonl``'s unreadable answers); ``--budget_split`` the
measurement that chose how much of the budget went to pre-training (two ``evaluate`` output folders).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from collections import Counter
from pathlib import Path

from chatnt.training.demo_records import pick_records
from chatnt.training.dnahlm.evaluate import DNAHL_TASKS, gue_mean, published_table, unreadable_answers
from chatnt.training.dnahlm.pretrain import PRESETS as PRETRAIN_PRESETS
from chatnt.training.dnahlm.sft import parse_args, parse_fractions
from chatnt.training.evaluate_chatnt import DNAHL_GUE_TASKS, EVALUATED_PER_TASK, markdown_table
from chatnt.training.model_card import (
    chatnt_scores,
    model_card,
    parameter_counts,
    read_json,
    train_runtime,
    write_card_command,
)

README_QUESTION = "Assign this rRNA sequence to one of 16S, 18S, 23S/28S."
# What the evaluation must reach (issue 16).
KMER_MARGIN = 0.05
PARITY_TASKS = ("rrna_type", "oct4_mafk", "fly_promoter_shuffled", "core_promoter")
GC_TARGET = 0.9
MAX_UNREADABLE = 0.01

def targets(summary: dict) -> list[dict]:
    """One ``{"what", "met"}`` per acceptance target: what was measured, and whether it met the target."""
    tasks, baselines = summary["tasks"], summary["baselines"]
    lines = []
    for task in PARITY_TASKS:
        ours, kmer = tasks[task]["value"], baselines[task]["kmer"]["value"]
        lines.append({"what": f"{task}: MCC {ours:.3f} against k-mer {kmer:.3f} (target: within {KMER_MARGIN})",
                      "met": ours >= kmer - KMER_MARGIN})
    gc = tasks["gc_content"]["value"]
    lines.append({"what": f"gc_content: Pearson r {gc:.3f} (target: at least {GC_TARGET})", "met": gc >= GC_TARGET})
    ours, kmer = gue_mean(summary), gue_mean(summary, "kmer")
    lines.append({"what": f"four DNAHL GUE tasks, mean MCC {ours:.3f} against k-mer {kmer:.3f} (target: at least the "
                          "k-mer model's)", "met": ours >= kmer})
    unreadable, total = unreadable_answers(tasks)
    lines.append({"what": f"unreadable answers: {unreadable} of {total} ({unreadable / total:.1%}; target: at most "
                          f"{MAX_UNREADABLE:.0%})", "met": unreadable <= MAX_UNREADABLE * total})
    return lines


def diagnosis_rows(evaluation: Path, training_phrasings: Path) -> list[dict]:
    """Where the held-out score is lost, per task: the same records asked in the training phrasings, and the
    answers the parser could not read, most frequent first."""
    held_out = read_json(evaluation / "metrics.json")["tasks"]
    trained = read_json(training_phrasings / "metrics.json")["tasks"]
    unreadable: dict[str, Counter] = {}
    for line in (evaluation / "predictions.jsonl").read_text(encoding="utf-8").splitlines():
        prediction = json.loads(line)
        if prediction["parsed"] == "":
            unreadable.setdefault(prediction["task"], Counter())[prediction["answer"].strip().rstrip(".").lower()] += 1
    return [
        {"task": task, "metric": result["metric"], "held_out": result["value"], "training": trained[task]["value"],
         "unreadable_held_out": result["n_unparsed"], "unreadable_training": trained[task]["n_unparsed"],
         "common": ", ".join(f'"{answer}" x{count}' for answer, count in unreadable.get(task, Counter()).most_common(2))}
        for task, result in held_out.items()
    ]


def budget_split_rows(no_pretraining: Path, pretrained: Path) -> list[dict]:
    """The measurement behind the pre-training share: the same short tuning from two starts."""
    rows = []
    for start, folder in (("no pre-training (random init)", no_pretraining), ("pre-trained", pretrained)):
        tasks = read_json(folder / "metrics.json")["tasks"]
        unreadable, total = unreadable_answers(tasks)
        rows.append({"start": start, "exact_match": sum(t["exact_match"] for t in tasks.values()) / len(tasks),
                     "unreadable": unreadable, "total": total,
                     "above_chance": sorted(task for task, t in tasks.items() if t["value"] > 0.05)})
    return rows


def tuning_facts(runs: list[Path]) -> dict:
    """Instruction tuning in runs that continue each other (``--model_name_or_path`` the previous run): steps,
    examples, tokens and minutes added up, and the command of each continuation (from its run card)."""
    states = [read_json(run / "trainer_state.json") for run in runs]
    batches = {state["train_batch_size"] for state in states}
    if len(batches) > 1:
        raise ValueError(f"The tuning runs {[str(run) for run in runs]} used different batch sizes {sorted(batches)}.")
    return {
        "steps": sum(state["global_step"] for state in states), "batch": batches.pop(),
        "minutes": sum(train_runtime(state) or 0 for state in states) / 60,
        # TRL logs the tokens a run has trained on so far with every loss.
        "tokens": sum(next((entry["num_tokens"] for entry in reversed(state["log_history"]) if "num_tokens" in entry), 0)
                      for state in states),
        "continuations": [{"number": number, "steps": state["global_step"], **continuation_facts(run_command(run))}
                          for number, run, state in zip(range(2, len(runs) + 1), runs[1:], states[1:])],
    }


def continuation_facts(command: str) -> dict:
    """A continuation's command and what it changed in the data and model, read by the SFT script's own parser."""
    script_args, _ = parse_args(shlex.split(command)[3:])  # after "python -m chatnt.training.dnahlm.sft"
    return {"command": command, "fractions": parse_fractions(script_args.task_fractions), "dropout": script_args.dropout}


def run_command(run: Path) -> str:
    """The command a run's card (``chatnt.training.run_card``) says reproduces it."""
    path = run / "README.md"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: pass the run folder that holds it (see --help).")
    card = path.read_text(encoding="utf-8")
    found = re.search(r"^- Reproduce: `(.+)`$", card, flags=re.MULTILINE)
    if found is None:
        raise ValueError(f"{path} names no command (- Reproduce: `...`): is it a chatnt run card?")
    return found.group(1)


def usage_answer(model_dir: Path) -> str:
    """What the card's usage example prints, run on the checkpoint itself."""
    from transformers import pipeline

    record = pick_records("rrna_type", per_label=1)[0]
    generator = pipeline("text-generation", model=str(model_dir))
    messages = [{"role": "user", "content": README_QUESTION, "input": record["sequence"]}]
    prompt = generator.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return generator(prompt, return_full_text=False)[0]["generated_text"]


def dnahlm_card(
    out: str | Path,
    pretrain_run: str | Path,
    sft_run: str | Path | list[str | Path],
    evaluation: str | Path,
    budget_split: tuple[str | Path, str | Path] | None = None,
    training_phrasings: str | Path | None = None,
    card_path: str | Path | None = None,
) -> Path:
    """Write ``<out>/README.md`` (or ``card_path``) for the exported DNAHLM mini model; return its path."""
    out, pretrain_run, evaluation = Path(out), Path(pretrain_run), Path(evaluation)
    sft_runs = [Path(run) for run in ([sft_run] if isinstance(sft_run, (str, Path)) else sft_run)]
    config = read_json(out / "config.json")
    parameters = sum(parameter_counts(out / "model.safetensors").values())
    pretrain_state = read_json(pretrain_run / "trainer_state.json")
    language = read_json(pretrain_run / "eval_results.json")
    summary = read_json(evaluation / "metrics.json")
    summary["published"] = read_json(evaluation / "published.json")
    missing = sorted(set(PARITY_TASKS + DNAHL_GUE_TASKS + ("gc_content",)) - set(summary["tasks"]))
    if missing:
        raise ValueError(f"{evaluation} scores no {', '.join(missing)}: the card needs an evaluation of every task "
                         "(run chatnt.training.dnahlm.evaluate without --tasks).")

    dnahl_train = [summary["baselines"][task]["n_train"] for task in DNAHL_TASKS]
    values = {
        "config": config, "parameters": parameters, "weights_bytes": (out / "model.safetensors").stat().st_size,
        "usage_question": README_QUESTION, "usage_answer": usage_answer(out),
        "block_size": PRETRAIN_PRESETS["mini"]["block_size"],
        "pretraining": {"steps": pretrain_state["global_step"], "batch": pretrain_state["train_batch_size"],
                        "minutes": (train_runtime(pretrain_state) or 0) / 60},
        # TRL logs the tokens trained on so far with every loss.
        "tuning": tuning_facts(sft_runs), "sft_runs": [str(run) for run in sft_runs],
        "n_records": unreadable_answers(summary["tasks"])[1], "evaluated_per_task": EVALUATED_PER_TASK,
        "results_table": markdown_table(summary), "published_table": published_table(summary["published"], summary),
        "published": summary["published"]["dnahl_gue_mean"], "dnahl_train_sizes": f"{min(dnahl_train)}-{max(dnahl_train)}",
        "gue_mean": {"ours": gue_mean(summary), "kmer": gue_mean(summary, "kmer")}, "targets": targets(summary),
        "diagnosis": training_phrasings and {"folder": training_phrasings,
                                             "rows": diagnosis_rows(evaluation, Path(training_phrasings))},
        "budget_split": budget_split and budget_split_rows(*map(Path, budget_split)),
        "english_bits_per_char": language["english_bits_per_char"],
    }
    card = model_card(
        "dnahlm-mini", "dnahlm-mini.md", values,
        scores=chatnt_scores(summary, "DNAHLM genomics instructions, held-out phrasings"),
        pipeline_tag="text-generation",
        tags=["dna", "genomics", "gpt2", "alpaca", "dnahlm"],
    )
    card_path = Path(card_path or out / "README.md")
    card.save(card_path)
    return card_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="checkpoints/dnahlm-mini", help="The exported checkpoint.")
    parser.add_argument("--pretrain_run", default="runs/dnahlm-mini-pt")
    parser.add_argument("--sft_run", default=["runs/dnahlm-mini-sft"], nargs="+",
                        help="The SFT run(s), in order when one continues another.")
    parser.add_argument("--evaluation", default="runs/eval-dnahlm-mini", help="The evaluate command's --output_dir.")
    parser.add_argument("--budget_split", nargs=2, metavar=("NO_PRETRAINING", "PRETRAINED"),
                        help="Two evaluate output folders of the budget-split measurement.")
    parser.add_argument("--training_phrasings", help="The evaluate output folder of --phrasings training.")
    args = parser.parse_args(argv)
    write_card_command(lambda: dnahlm_card(args.out, args.pretrain_run, args.sft_run, args.evaluation,
                                           args.budget_split, args.training_phrasings))


if __name__ == "__main__":
    main()
