"""Judging yes/no confidence: expected calibration error, AUROC/MCC, reliability diagrams.

The perplexity-based classifier and the Platt calibrator themselves live in the remote-code modules
``chatnt.perplexity_classifier`` and ``chatnt.calibration`` (a checkpoint applies them without this package); they are re-exported
here so that evaluation code finds everything about confidence in one place. Typical use::

    classifier = PerplexityClassifier()                        # yes/no phrasings
    train_logits = classifier.logit_difference(model, processor, train_questions, train_sequences)
    calibrator = PlattCalibrator().fit(train_logits, train_labels)
    calibrator.save(model_dir)                                 # model_dir/calibration.json
    test_logits = classifier.logit_difference(model, processor, test_questions, test_sequences)
    raw, calibrated = torch.sigmoid(test_logits).numpy(), calibrator.transform(test_logits)
    confidence_metrics(calibrated, test_labels)                # AUROC, MCC, ECE
    reliability_diagram(raw, calibrated, test_labels, "reliability.png")

Platt scaling is monotone, so AUROC barely moves; MCC at the 0.5 threshold and the expected calibration
error (ECE) are what it improves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import matthews_corrcoef, roc_auc_score

from chatnt.calibration import CALIBRATION_FILE, PlattCalibrator, as_binary_labels, as_probabilities, as_values
from chatnt.perplexity_classifier import NO_PHRASINGS, YES_PHRASINGS, PerplexityClassifier, answer_log_likelihoods

def _bin_index(probs: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins over [0, 1]: [0, 1/bins), ..., [(bins-1)/bins, 1], with 1.0 in the last bin."""
    return np.minimum((probs * bins).astype(int), bins - 1)


def expected_calibration_error(probs, labels, bins: int = 10) -> float:
    """ECE of P(positive): the example-weighted mean gap between predicted and observed frequency.

    Per equal-width bin of predicted P(positive), ``|fraction of positives - mean P(positive)|``,
    weighted by the bin's share of examples. It is measured on the positive class (not on the top-class
    confidence) so that it reads off the same curve as the reliability diagram.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}.")
    probs = as_probabilities(probs)
    targets = as_binary_labels(labels, probs.shape[0])
    if probs.shape[0] == 0:
        raise ValueError("No examples: ECE needs at least one probability.")
    index = _bin_index(probs, bins)
    counts = np.bincount(index, minlength=bins)
    gaps = np.abs(np.bincount(index, targets, minlength=bins) - np.bincount(index, probs, minlength=bins))
    return float(gaps.sum() / counts.sum())  # sum over bins of |Σ labels - Σ probs| / n


def confidence_metrics(probs, labels, bins: int = 10) -> dict[str, float]:
    """AUROC, MCC at the 0.5 threshold and ECE of P(positive): the figures reported before and after Platt."""
    probs = as_probabilities(probs)
    targets = as_binary_labels(labels, probs.shape[0])
    auroc = float(roc_auc_score(targets, probs)) if len(np.unique(targets)) == 2 else float("nan")
    return {
        "auroc": auroc,
        "mcc": float(matthews_corrcoef(targets, (probs >= 0.5).astype(int))),
        "ece": expected_calibration_error(probs, targets, bins),
    }


def reliability_diagram(probs_before, probs_after, labels, path: str | Path, bins: int = 10) -> Path:
    """Draws observed against predicted P(positive) per bin, before and after calibration, as a PNG.

    Each curve joins, per non-empty bin, the mean predicted probability and the fraction of positives;
    a calibrated model lies on the diagonal. The legend gives each curve's ECE.
    """
    labels = as_binary_labels(labels, len(as_values(probs_before, "probs_before")))
    figure = Figure(figsize=(5, 5))
    FigureCanvasAgg(figure)  # render with Agg whatever backend pyplot would pick: no display needed
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for name, probs, marker in (("before", probs_before, "o"), ("after", probs_after, "s")):
        probs = as_probabilities(probs, f"probs_{name}")
        if probs.shape[0] != labels.shape[0]:
            raise ValueError(f"probs_{name} has {probs.shape[0]} values for {labels.shape[0]} labels.")
        index = _bin_index(probs, bins)
        counts = np.bincount(index, minlength=bins)
        filled = counts > 0
        predicted = np.bincount(index, probs, minlength=bins)[filled] / counts[filled]
        observed = np.bincount(index, labels, minlength=bins)[filled] / counts[filled]
        ece = expected_calibration_error(probs, labels, bins)
        axes.plot(predicted, observed, marker=marker, label=f"{name} Platt (ECE {ece:.3f})")
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted P(positive)", ylabel="fraction positive")
    axes.set_title(f"Reliability diagram ({bins} bins)")
    axes.legend(loc="upper left")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path


__all__ = [
    "CALIBRATION_FILE",
    "NO_PHRASINGS",
    "YES_PHRASINGS",
    "PerplexityClassifier",
    "PlattCalibrator",
    "answer_log_likelihoods",
    "confidence_metrics",
    "expected_calibration_error",
    "reliability_diagram",
]
