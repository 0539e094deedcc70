"""Plots of per-task test results: confusion matrices for classification, predicted vs observed for regression.

They read the same predictions :mod:`chatnt.training.evaluate_chatnt` writes (``task``, ``gold``, ``parsed``:
canonical answer strings, ``""`` when the answer was unreadable), so a stored run can be re-plotted.
Rendering uses matplotlib's Agg canvas directly: no display and no global pyplot state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import pearsonr

from chatnt.training.genomic_tasks import get_task

UNREADABLE = "(unreadable)"


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure).print_png(str(path))
    return path


def confusion_matrix_plot(task: str, predictions: list[dict], path: str | Path) -> Path:
    """Counts of (true label, answered label) for a binary or multiclass task; unreadable answers get a column."""
    spec = get_task(task)
    if not spec.is_classification or spec.type == "multilabel":
        raise ValueError(f"Task {task!r} is {spec.type}: a confusion matrix needs a binary or multiclass task.")
    rows, columns = list(spec.labels), [*spec.labels, UNREADABLE]
    counts = np.zeros((len(rows), len(columns)), dtype=int)
    for prediction in predictions:
        answered = prediction["parsed"] or UNREADABLE
        counts[rows.index(prediction["gold"]), columns.index(answered)] += 1
    figure = Figure(figsize=(1.6 + 1.2 * len(columns), 1.4 + 0.8 * len(rows)))
    axes = figure.add_subplot()
    axes.imshow(counts, cmap="Blues")
    axes.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set_xlabel("answer")
    axes.set_ylabel("truth")
    for (row, column), count in np.ndenumerate(counts):
        axes.text(column, row, str(count), ha="center", va="center", color="black")
    axes.set_title(f"{task} (n = {counts.sum()})")
    figure.tight_layout()
    return _save(figure, path)


def regression_scatter(task: str, predictions: list[dict], path: str | Path) -> Path:
    """Predicted against observed values with Pearson r; unreadable answers are counted in the title."""
    spec = get_task(task)
    if spec.type != "regression":
        raise ValueError(f"Task {task!r} is {spec.type}: a predicted-vs-observed plot needs a regression task.")
    pairs = [(float(p["gold"]), float(p["parsed"])) for p in predictions if p["parsed"]]
    unreadable = len(predictions) - len(pairs)
    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.add_subplot()
    low, high = spec.value_range or (0.0, 1.0)
    axes.plot([low, high], [low, high], color="grey", linewidth=1)
    title = f"{task}: n = {len(pairs)}, unreadable {unreadable}"
    if pairs:
        observed, predicted = zip(*pairs)
        axes.scatter(observed, predicted, s=8, alpha=0.6)
        if len(pairs) >= 3 and len(set(predicted)) > 1 and len(set(observed)) > 1:
            title += f", r = {pearsonr(observed, predicted)[0]:.2f}"
    axes.set_xlabel(f"observed {spec.unit}".strip())
    axes.set_ylabel(f"predicted {spec.unit}".strip())
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def plot_predictions(predictions: list[dict], directory: str | Path) -> list[Path]:
    """One plot per task that has one (multilabel tasks have none): ``<directory>/<task>.png``."""
    written = []
    for task in dict.fromkeys(prediction["task"] for prediction in predictions):
        spec = get_task(task)
        rows = [prediction for prediction in predictions if prediction["task"] == task]
        if spec.type == "regression":
            written.append(regression_scatter(task, rows, Path(directory) / f"{task}.png"))
        elif spec.type != "multilabel":
            written.append(confusion_matrix_plot(task, rows, Path(directory) / f"{task}.png"))
    return written


__all__ = ["confusion_matrix_plot", "plot_predictions", "regression_scatter"]
