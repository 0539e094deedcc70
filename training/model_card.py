"""Hub model cards for trained checkpoints, written from the run's own results.

Metadata (library, pipeline tag, base models, datasets, licence, tags) and the per-task test scores go
into the card's YAML as ``model-index`` entries (``huggingface_hub.EvalResult``), so the Hub shows them;
the body carries the same scores as a table, with the commands that produced them.

Example:
    >>> card = build_model_card(
    ...     "chatnt-mini", summary, base_models=["HuggingFaceTB/SmolLM2-135M-Instruct"],
    ...     description="...", sections={"Training": "..."})
    >>> card.save("checkpoints/chatnt-mini/README.md")
"""

from __future__ import annotations

import math

from chatnt.training.evaluate_chatnt import markdown_table
from chatnt.training.genomic_tasks import get_task
from huggingface_hub import EvalResult, ModelCard, ModelCardData

METRIC_NAMES = {"mcc": "Matthews correlation", "f1": "micro F1", "pearson": "Pearson r", "accuracy": "accuracy"}


def eval_results(summary: dict, dataset_name: str, split: str = "test") -> list[EvalResult]:
    """One Hub evaluation result per task metric and per task exact match (NaN scores are left out)."""
    results = []
    for task, scores in summary["tasks"].items():
        spec = get_task(task)
        for metric, value in ((scores["metric"], scores["value"]), ("exact_match", scores["exact_match"])):
            if value is None or math.isnan(value):
                continue
            results.append(
                EvalResult(
                    task_type="text-generation",
                    dataset_type=f"chatnt/{task}",
                    dataset_name=f"{dataset_name}: {spec.description}",
                    dataset_split=split,
                    metric_type=metric,
                    metric_name=f"{METRIC_NAMES.get(metric, metric.replace('_', ' '))} ({task})",
                    metric_value=round(float(value), 4),
                )
            )
    return results


def build_model_card(
    name: str,
    summary: dict,
    base_models: list[str],
    description: str,
    sections: dict[str, str],
    license: str = "apache-2.0",
    datasets: list[str] | None = None,
    tags: list[str] | None = None,
    dataset_name: str = "ChatNT genomics instructions",
) -> ModelCard:
    """A model card: metadata with the per-task test results, a description, the results table, then
    ``sections`` (``{heading: markdown}``) in order."""
    data = ModelCardData(
        model_name=name,
        license=license,
        library_name="transformers",
        pipeline_tag="text-generation",
        base_model=base_models,
        datasets=datasets,
        tags=["dna", "genomics", "chatnt", "custom_code", *(tags or [])],
        eval_results=eval_results(summary, dataset_name),
    )
    body = [f"# {name}", "", description.strip(), "", "## Test scores", "", markdown_table(summary).strip(), ""]
    for heading, text in sections.items():
        body += [f"## {heading}", "", text.strip(), ""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body))


__all__ = ["build_model_card", "eval_results"]
