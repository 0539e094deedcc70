"""The model card of a training run's output folder, in place of TRL's draft.

TRL writes a draft card at every save ("This model is a fine-tuned version of [None]" when the start is a local
folder). A run's folder gets this one instead, from a huggingface_hub template filled with what the trainer
recorded: the recipe, where the run started, its data, steps, losses and runtime. A run is not a shipped model: the
card says that its scores come from the evaluation scripts, not from training.
"""

from __future__ import annotations

import re
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

RUN_CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

A training run of the `{{ recipe }}` recipe of chatnt, started from {{ start }}.

## Training

- Data: {{ data }}
- Steps: {{ steps }} ({{ examples }} examples per step on each process, {{ processes }} process(es)), {{ runtime }}
- Training loss: {{ losses }}
- Reproduce: `{{ command }}`

## Evaluation

Not evaluated by the recipe. Score it against the majority-class and k-mer baselines on the TEST split with
`python -m chatnt.training.evaluate_chatnt --model <this folder> --output_dir <results>` (ChatNT and RNA-GPT runs)
or `python -m chatnt.training.dnahlm.evaluate --model <this folder> --output_dir <results>` (DNAHLM runs).
"""
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_model(start: str) -> bool:
    """Whether a run started from a Hub model (``owner/name`` that is not a local folder: ``runs/x`` is spelled
    like a Hub id too), the card's ``base_model``."""
    return bool(_HUB_ID.match(start)) and not Path(start).exists()


def write_run_card(trainer, recipe: str, start: str, data: str, command: str | None, tags: list[str] | None = None) -> Path:
    """Writes ``README.md`` into the run's output folder (main process only); returns its path.

    Args:
        trainer: the finished ``Trainer``/``SFTTrainer`` (its state and arguments are read).
        recipe: the module that trained, e.g. ``chatnt.training.chatnt_sft``.
        start: what the run started from (a Hub id, a folder, or "random weights").
        data: the training data in words, with its size.
        command: the command line that reproduces the run (``None``: the run was started from Python).
    """
    arguments, state = trainer.args, trainer.state
    path = Path(arguments.output_dir) / "README.md"
    if not trainer.is_world_process_zero():
        return path
    losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
    runtime = next((entry["train_runtime"] for entry in reversed(state.log_history) if "train_runtime" in entry), None)
    card_data = ModelCardData(
        model_name=path.parent.name, library_name="transformers", pipeline_tag="text-generation",
        base_model=start if is_hub_model(start) else None, tags=["chatnt", *(tags or [])],
    )
    card = ModelCard.from_template(
        card_data, template_str=RUN_CARD_TEMPLATE, model_name=path.parent.name, recipe=recipe, start=start, data=data,
        steps=state.global_step, examples=arguments.per_device_train_batch_size * arguments.gradient_accumulation_steps,
        processes=arguments.world_size, runtime=f"{runtime / 60:.1f} min" if runtime else "runtime not logged",
        losses=f"first logged {losses[0]:.4f}, last {losses[-1]:.4f}" if losses else "not logged",
        command=command or "started from Python, not from a command line",
    )
    card.save(path)
    return path


__all__ = ["RUN_CARD_TEMPLATE", "write_run_card"]
