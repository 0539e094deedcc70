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
from matplotlib.ticker import MaxNLocator
from scipy.stats import pearsonr

from chatnt.tasks.registry import get_task

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


# Attribution plots (chatnt.evaluation.attribution): where along a sequence the first answer token's
# gradient x input lies, the bases around its peak as a logo, and which k-mers recur per label.

_POSITIVE, _NEGATIVE, _HIGHLIGHT = "#c0392b", "#2e86c1", "#f5b041"


def attribution_track(sequence_attribution, path: str | Path, title: str | None = None) -> Path:
    """Per-base gradient x input along a sequence: bars (red pushes the answer's first token up, blue
    down), the peak base marked, and the top-5 non-overlapping 6-mer windows shaded.

    Args:
        sequence_attribution: a :class:`~chatnt.evaluation.attribution.SequenceAttribution`.
        path: the PNG to write (its folder is created).
        title: default: the sequence's name and length.
    """
    scores = np.asarray(sequence_attribution.base_scores, dtype=float)
    positions = np.arange(len(scores))
    figure = Figure(figsize=(min(14.0, 4.0 + len(scores) / 40), 2.8), dpi=100)
    axes = figure.add_subplot()
    for start, kmer, _ in sequence_attribution.top_kmers(6, 5):
        axes.axvspan(start - 0.5, start + len(kmer) - 0.5, color=_HIGHLIGHT, alpha=0.35, linewidth=0)
        axes.text(start + len(kmer) / 2 - 0.5, 1.0, kmer, transform=axes.get_xaxis_transform(), ha="center",
                  va="bottom", fontsize=7, family="monospace")
    axes.bar(positions, scores, width=1.0, color=np.where(scores >= 0, _POSITIVE, _NEGATIVE), linewidth=0)
    axes.axhline(0, color="black", linewidth=0.5)
    peak = sequence_attribution.peak()
    axes.plot([peak], [scores[peak]], marker="v" if scores[peak] >= 0 else "^", color="black", markersize=6)
    axes.annotate(f"peak {peak}", (peak, scores[peak]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axes.set_xlim(-0.5, len(scores) - 0.5)
    axes.set_xlabel("position (bp)")
    axes.set_ylabel("gradient x input")
    axes.set_title(title or f"{sequence_attribution.name} ({len(scores)} bp)", fontsize=9, pad=14)
    figure.tight_layout()
    return _save(figure, path)


def attribution_logo(sequence_attribution, path: str | Path, window: int = 20, title: str | None = None) -> Path:
    """Sequence logo of ``window`` bases around the attribution peak: each base's letter is as tall as its
    score, negative letters below the axis (Logomaker on a one-hot x score matrix). N bases stay blank.

    Args:
        sequence_attribution: a :class:`~chatnt.evaluation.attribution.SequenceAttribution`.
        path: the PNG to write.
        window: bases shown (fewer when the sequence is shorter).
        title: default: the sequence's name and the window's coordinates.
    """
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # logomaker imports pyplot; keep it off any display
        matplotlib.use("Agg")
    import logomaker
    import pandas as pd

    if window < 1:
        raise ValueError(f"window must be at least 1 base, got {window}.")
    scores = np.asarray(sequence_attribution.base_scores, dtype=float)
    sequence = sequence_attribution.sequence
    window = min(window, len(sequence))
    start = min(max(0, sequence_attribution.peak() - window // 2), len(sequence) - window)
    end = start + window
    matrix = pd.DataFrame(0.0, index=pd.RangeIndex(start, end, name="pos"), columns=list("ACGT"))
    for position in range(start, end):
        if sequence[position] in "ACGT":
            matrix.loc[position, sequence[position]] = scores[position]
    figure = Figure(figsize=(max(3.0, 0.35 * window + 1.2), 2.4), dpi=100)
    axes = figure.add_subplot()
    logomaker.Logo(matrix, ax=axes, color_scheme="classic", flip_below=False)
    low, high = min(0.0, matrix.values.min()), max(0.0, matrix.values.max())
    margin = 0.05 * (high - low) or 1.0  # an all-zero window still gets an axis
    axes.set_ylim(low - margin, high + margin)
    axes.axhline(0, color="black", linewidth=0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("position (bp)")
    axes.set_ylabel("gradient x input")
    axes.set_title(title or f"{sequence_attribution.name}: bases {start}-{end - 1}", fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def kmer_frequency_plot(counter_by_label: dict, path: str | Path, top: int = 15) -> Path:
    """The ``top`` most frequent top-window k-mers per label, one horizontal bar panel per label.

    Args:
        counter_by_label: ``{label: Counter(k-mer -> count)}``, as
            :func:`~chatnt.evaluation.attribution.aggregate_by_label` returns.
        path: the PNG to write.
    """
    if not counter_by_label:
        raise ValueError("kmer_frequency_plot needs at least one label with k-mer counts.")
    labels = list(counter_by_label)
    figure = Figure(figsize=(3.2 * len(labels), 0.8 + 0.22 * top), dpi=100)
    for index, label in enumerate(labels):
        axes = figure.add_subplot(1, len(labels), index + 1)
        common = counter_by_label[label].most_common(top)[::-1]  # largest at the top
        axes.barh([kmer for kmer, _ in common], [count for _, count in common], color=_POSITIVE)
        axes.tick_params(axis="y", labelsize=7)
        for tick in axes.get_yticklabels():
            tick.set_family("monospace")
        axes.set_xlabel("sequences")
        axes.set_title(str(label), fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


__all__ = [
    "attribution_logo",
    "attribution_track",
    "confusion_matrix_plot",
    "kmer_frequency_plot",
    "plot_predictions",
    "regression_scatter",
]
