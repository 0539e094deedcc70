"""Platt scaling of yes/no probabilities, stored beside a checkpoint as ``calibration.json``.

A perplexity-based classifier's raw P(yes) is rarely calibrated (a 0.8 is not right 80% of the time).
Platt scaling, a one-feature logistic regression (``C=0.1``, lbfgs, as in the ChatNT paper) fitted on
TRAINING-split examples, maps it to a calibrated probability. The model loads a checkpoint's calibrator with
its weights (``model.calibrator``), so this file is remote code at the bottom of the package: it needs only
numpy (and torch tensors as inputs); scikit-learn is imported to fit a calibrator, never to apply one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

CALIBRATION_FILE = "calibration.json"
CALIBRATION_FORMAT = "chatnt-platt-calibration"

# Probabilities are read as logits for Platt scaling; 0 and 1 would be infinite.
_PROBABILITY_EPS = 1e-7


def as_values(values, name: str) -> np.ndarray:
    array = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one value per example (1-D), got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values.")
    return array


def as_binary_labels(labels, size: int) -> np.ndarray:
    array = as_values(labels, "labels")
    if array.shape[0] != size:
        raise ValueError(f"Got {array.shape[0]} labels for {size} scores; pass one 0/1 label per example.")
    if not np.isin(array, (0, 1)).all():
        raise ValueError("labels must be 0 (negative) or 1 (positive).")
    return array.astype(int)


def as_probabilities(probs, name: str = "probs") -> np.ndarray:
    array = as_values(probs, name)
    if ((array < 0) | (array > 1)).any():
        raise ValueError(f"{name} must lie in [0, 1]; pass probabilities, not logits.")
    return array


class PlattCalibrator:
    """Platt scaling: ``P(positive) = sigmoid(coef * x + intercept)`` fitted by logistic regression.

    ``x`` is the classifier's logit difference (``input_kind="logit"``) or its raw P(positive)
    (``input_kind="probability"``), which is first turned back into a logit so both inputs give the same
    calibration. Fit it on TRAINING-split examples: fitted on the test split it would report its own
    fit. Stored as plain JSON (no pickle: loading it runs no code), and applied with the formula above
    rather than with scikit-learn, so a loaded calibrator gives exactly the same outputs.

    Args:
        input_kind: ``"logit"`` or ``"probability"``.
        C: inverse regularization strength of the logistic regression (0.1 in the ChatNT paper).
    """

    def __init__(self, input_kind: str = "logit", C: float = 0.1):
        if input_kind not in ("logit", "probability"):
            raise ValueError(f"input_kind must be 'logit' or 'probability', got {input_kind!r}.")
        self.input_kind = input_kind
        self.C = C
        self.coef: float | None = None
        self.intercept: float | None = None

    def _feature(self, scores) -> np.ndarray:
        if self.input_kind == "logit":
            return as_values(scores, "scores")
        probs = np.clip(as_probabilities(scores, "scores"), _PROBABILITY_EPS, 1 - _PROBABILITY_EPS)
        return np.log(probs) - np.log1p(-probs)

    def fit(self, scores, labels) -> PlattCalibrator:
        """Fits on training-split scores and their 0/1 labels; returns ``self``."""
        feature = self._feature(scores)
        targets = as_binary_labels(labels, feature.shape[0])
        if len(np.unique(targets)) < 2:
            raise ValueError("Platt scaling needs examples of both classes; the labels hold only one.")
        from sklearn.linear_model import LogisticRegression  # only to fit: applying needs numpy alone

        regression = LogisticRegression(C=self.C, solver="lbfgs").fit(feature.reshape(-1, 1), targets)
        self.coef, self.intercept = float(regression.coef_[0, 0]), float(regression.intercept_[0])
        return self

    def transform(self, scores) -> np.ndarray:
        """Calibrated P(positive) for scores of the kind it was fitted on."""
        if self.coef is None:
            raise ValueError(
                "The calibrator is not fitted: call fit(scores, labels) or PlattCalibrator.load(directory)."
            )
        z = self.coef * self._feature(scores) + self.intercept
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid without overflow warnings for large |z|

    def save(self, directory: str | Path) -> Path:
        """Writes ``calibration.json`` into ``directory`` (e.g. next to the model) and returns its path."""
        if self.coef is None:
            raise ValueError("Nothing to save: the calibrator is not fitted.")
        path = Path(directory) / CALIBRATION_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "format": CALIBRATION_FORMAT,
            "method": "platt",
            "input_kind": self.input_kind,
            "C": self.C,
            "coef": self.coef,  # Python floats round-trip exactly through JSON
            "intercept": self.intercept,
        }
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> PlattCalibrator:
        """Reads ``calibration.json`` from ``directory`` (or that file's own path)."""
        path = Path(directory)
        path = path / CALIBRATION_FILE if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(
                f"No calibration file at {path}. Fit one with PlattCalibrator().fit(...) on training-split "
                "examples and save it with .save(directory)."
            )
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("format") != CALIBRATION_FORMAT:
                raise ValueError(f"format is {record.get('format')!r}, expected {CALIBRATION_FORMAT!r}")
            calibrator = cls(input_kind=record["input_kind"], C=float(record["C"]))
            coef, intercept = record["coef"], record["intercept"]
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (coef, intercept)):
                raise ValueError("coef and intercept must be finite numbers")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path} is not a valid Platt calibration file ({error}); re-fit and save it.") from None
        calibrator.coef, calibrator.intercept = float(coef), float(intercept)
        return calibrator


__all__ = ["CALIBRATION_FILE", "PlattCalibrator", "as_binary_labels", "as_probabilities", "as_values"]
