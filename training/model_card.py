"""Hub model cards for trained checkpoints: a Jinja template per card, figures read from the run's own files.

One function, :func:`model_card`, writes the card of every shipped checkpoint (``chatnt-mini``,
``nt-mini-encoder``, ``dnahlm-mini``): metadata (library, pipeline tag, base models, datasets, licence,
tags) and the run's scores as ``model-index`` entries (``huggingface_hub.EvalResult``, so the Hub shows
them) in the YAML front matter, then the body of the checkpoint's template in ``card_templates/`` (the form
of huggingface_hub's ``ModelCard.from_template``: ``{{ card_data }}`` between the ``---`` lines). The code that
gathers each card's figures: ``ship_chatnt card`` (chatnt-mini), ``write_cards`` (nt-mini-encoder),
``dnahlm.card`` (dnahlm-mini).

Example:
    >>> card = model_card(
    ...     "nt-mini-encoder", "nt-mini-encoder.md", {"steps": 1200, ...}, pipeline_tag="fill-mask",
    ...     scores=[Score("held-out DNA", "accuracy", 0.003, dataset_type="chatnt/heldout")])
    >>> card.save("checkpoints/nt-mini-encoder/README.md")
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
from chatnt.tasks.registry import get_task
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from safetensors import safe_open

METRIC_NAMES = {"mcc": "Matthews correlation", "f1": "micro F1", "pearson": "Pearson r", "accuracy": "accuracy"}


@dataclass(frozen=True)
class Score:
    """One evaluation figure of a checkpoint, as it goes into the card's ``model-index``.

    Args:
        dataset_name: human-readable name of what was scored (e.g. ``"DNAHL TEST half: splice_site"``).
        metric: metric id (``"mcc"``, ``"accuracy"``, ``"perplexity"``, ``"exact_match"`` ...).
        value: the figure; NaN or None entries are left out of the card.
        dataset_type: machine id of the data set (``"dnahl/gpt2-small2-sft3"``); defaults to ``dataset_name``.
        split: the split scored.
        metric_name: display name; defaults to the metric's readable name.
        task_type: Hub task of the evaluation; defaults to the card's pipeline tag.
    """

    dataset_name: str
    metric: str
    value: float | None
    dataset_type: str | None = None
    split: str = "test"
    metric_name: str | None = None
    task_type: str | None = None


def score_results(scores: list[Score], task_type: str, digits: int = 4) -> list[EvalResult]:
    """Hub evaluation results for ``scores`` (NaN/None values are left out; values rounded to ``digits``).

    Args:
        scores: the figures, in the order the card lists them.
        task_type: Hub task used where a score names none.
        digits: decimal places kept.

    Returns:
        One ``EvalResult`` per kept score.
    """
    results = []
    for score in scores:
        if score.value is None or math.isnan(score.value):
            continue
        results.append(
            EvalResult(
                task_type=score.task_type or task_type,
                dataset_type=score.dataset_type or score.dataset_name,
                dataset_name=score.dataset_name,
                dataset_split=score.split,
                metric_type=score.metric,
                metric_name=score.metric_name or METRIC_NAMES.get(score.metric, score.metric.replace("_", " ")),
                metric_value=round(float(score.value), digits),
            )
        )
    return results


# The cards' text, one Jinja template per shipped checkpoint (the code gathers the figures, the template says them).
CARD_TEMPLATES = Path(__file__).with_name("card_templates")


def _format(value, spec: str = "") -> str:
    """Python's ``format``; for a value the code did not pass, jinja2's UndefinedError naming it (not a TypeError)."""
    return format(str(value) if isinstance(value, jinja2.Undefined) else value, spec)


def render_card(template: str, card_data: ModelCardData, templates: Path = CARD_TEMPLATES, **values) -> ModelCard:
    """The Hub card written by ``<templates>/<template>`` (default: ``card_templates/``) from ``values``, with ``card_data`` as its YAML front
    matter (``{{ card_data }}``, the form of huggingface_hub's ``ModelCard.from_template``).

    Rendered with block lines trimmed, so ``{% for %}``/``{% if %}`` lines leave no blank lines, and strict
    undefined values: a figure the code did not pass stops the card instead of leaving a gap. The filter
    ``fmt`` is Python's ``format`` (``{{ steps | fmt(",") }}`` writes 1,200).
    """
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates), trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
    )
    environment.filters["fmt"] = _format
    return ModelCard(environment.get_template(template).render(card_data=card_data.to_yaml(), **values))


def model_card(
    name: str,
    template: str,
    values: dict,
    scores: list[Score],
    pipeline_tag: str,
    library_name: str = "transformers",
    base_models: list[str] | None = None,
    datasets: list[str] | None = None,
    license: str = "apache-2.0",
    tags: list[str] | None = None,
    templates: Path = CARD_TEMPLATES,
) -> ModelCard:
    """A Hub model card: YAML metadata with ``scores`` as ``model-index`` results, then the body of ``template``.

    Args:
        name: the model's name (``model-index`` name; ``{{ name }}`` in the template).
        template: the file in ``card_templates/`` that writes the body.
        values: what the template reads (figures from the run's files).
        scores: the evaluation figures of the run (see :class:`Score`); may be empty.
        pipeline_tag: Hub pipeline tag (``"text-generation"``, ``"fill-mask"`` ...).
        library_name: library that loads the weights.
        base_models: Hub ids the model was fine-tuned from; None or empty for a model trained from scratch.
        datasets: Hub data set ids trained on, where the data has one.
        license: licence id of the weights.
        tags: Hub tags.
        templates: the folder of ``template``.

    Returns:
        The card; ``card.save(path)`` writes it.

    Raises:
        ValueError: when ``name`` or ``pipeline_tag`` is empty, or a score names no metric.
    """
    if not name or not pipeline_tag:
        raise ValueError("model_card needs a name and a pipeline_tag (e.g. 'text-generation', 'fill-mask').")
    if any(not score.metric for score in scores):
        raise ValueError("every Score needs a metric id (e.g. 'accuracy'); fill Score.metric.")
    results = score_results(scores, pipeline_tag)
    data = ModelCardData(
        model_name=name,
        license=license,
        library_name=library_name,
        pipeline_tag=pipeline_tag,
        base_model=base_models or None,
        datasets=datasets or None,
        tags=list(tags or []) or None,
        eval_results=results or None,
    )
    return render_card(template, data, templates, name=name, **values)


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


def write_card_command(write: Callable[[], Path]) -> None:
    """Run a card-writing command: print the card's path, or one line naming the missing or bad run file and
    exit 2."""
    try:
        path = write()
    except (FileNotFoundError, KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"card: {path}")


def newest_checkpoint_state(run: str | Path) -> dict | None:
    """The Trainer state of a run's newest ``checkpoint-*`` (by step), or ``None`` when it saved none."""
    states = sorted(Path(run).glob("checkpoint-*/trainer_state.json"), key=lambda path: int(path.parent.name.split("-")[1]))
    return json.loads(states[-1].read_text()) if states else None


def logged_losses(state: dict) -> list[tuple[int, float]]:
    """(step, loss) of every logged training loss of a Trainer state."""
    return [(entry["step"], entry["loss"]) for entry in state["log_history"] if "loss" in entry]


def chatnt_scores(summary: dict, dataset_name: str, split: str = "test") -> list[Score]:
    """Per-task metric and exact match of an ``evaluate_chatnt`` summary as :class:`Score` entries."""
    scores = []
    for task, figures in summary["tasks"].items():
        spec = get_task(task)
        for metric, value in ((figures["metric"], figures["value"]), ("exact_match", figures["exact_match"])):
            scores.append(
                Score(
                    dataset_name=f"{dataset_name}: {spec.description}",
                    dataset_type=f"chatnt/{task}",
                    split=split,
                    metric=metric,
                    metric_name=f"{METRIC_NAMES.get(metric, metric.replace('_', ' '))} ({task})",
                    value=value,
                )
            )
    return scores


__all__ = [
    "Score",
    "chatnt_scores",
    "logged_losses",
    "model_card",
    "render_card",
    "newest_checkpoint_state",
    "parameter_counts",
    "read_json",
    "score_results",
    "train_runtime",
    "write_card_command",
]
