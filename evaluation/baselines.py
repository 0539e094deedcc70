"""The baselines every ChatNT and DNAHLM score is read against, fitted on the TRAIN split only.

* ``majority``: the most frequent TRAIN label (for multilabel tasks each label set where more than half the TRAIN
  records have it; for regression the TRAIN mean). Its MCC is 0 by construction; it shows what always answering
  the same way earns in accuracy and F1.
* ``kmer``: counts of every 1- to 6-mer of the sequence (5460 features), L2-normalised, then a logistic
  regression (one per label for multilabel tasks) or, for regression, a ridge regression. Fitted on all TRAIN
  records of the task, in under a minute per task on a 2-core CPU.
* ``token_bag`` (with ``--tokenizer``): the same regression on counts of a language model's own tokens (e.g.
  DNAHLM's byte-level BPE). It reads the sequence as that model sees it, ignoring order: how far a linear reader
  of those tokens gets, to tell a tokenization limit from a training one.

Both are scored by :func:`chatnt.evaluation.metrics.score_task`, as model answers are.

    python -m chatnt.evaluation.baselines [--tasks core_promoter,rrna_type] [--max_per_class N] [--output_dir DIR]
        [--tokenizer checkpoints/dnahlm-mini]

prints a table and ends with ``<task>_kmer: <value>`` and ``<task>_majority: <value>`` lines (and
``<task>_token_bag: <value>`` with a tokenizer): the task's own metric on its whole TEST split.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

from .metrics import score_task

K_MAX = 6
# Every k-mer of length 1..K_MAX over ACGT, in a fixed order: one feature column each.
_KMER_INDEX = {
    "".join(kmer): index
    for index, kmer in enumerate(itertools.chain.from_iterable(itertools.product("ACGT", repeat=k) for k in range(1, K_MAX + 1)))
}


def kmer_features(sequences: Sequence[str]) -> sparse.csr_matrix:
    """Counts of every 1- to 6-mer (k-mers with N or another letter are skipped), each row L2-normalised."""
    rows, columns, values = [], [], []
    for row, sequence in enumerate(sequences):
        sequence = sequence.upper()
        counts = Counter(
            sequence[start : start + k] for k in range(1, K_MAX + 1) for start in range(len(sequence) - k + 1)
        )
        for kmer, count in counts.items():
            column = _KMER_INDEX.get(kmer)
            if column is not None:
                rows.append(row)
                columns.append(column)
                values.append(float(count))
    matrix = sparse.csr_matrix((values, (rows, columns)), shape=(len(sequences), len(_KMER_INDEX)))
    return _l2_normalised(matrix)


def token_bag_features(sequences: Sequence[str], tokenizer) -> sparse.csr_matrix:
    """Counts of each of ``tokenizer``'s tokens in each sequence (no special tokens), each row L2-normalised."""
    rows, columns = [], []
    for row, ids in enumerate(tokenizer(list(sequences), add_special_tokens=False)["input_ids"]):
        rows += [row] * len(ids)
        columns += ids
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(sequences), len(tokenizer)))
    return _l2_normalised(matrix)


def _l2_normalised(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
    return sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ matrix


class MajorityBaseline:
    """Always the most frequent TRAIN answer."""

    def fit(self, task, labels: Sequence) -> MajorityBaseline:
        self.task = task
        if task.type == "regression":
            self.answer = float(np.mean(labels))
        elif task.type == "multilabel":
            self.answer = tuple(label for label in task.labels if np.mean([label in row for row in labels]) > 0.5)
        else:
            self.answer = Counter(labels).most_common(1)[0][0]
        return self

    def predict(self, sequences: Sequence[str]) -> list:
        return [self.answer] * len(sequences)


class KmerBaseline:
    """Logistic (ridge for regression) regression on L2-normalised 1- to 6-mer counts."""

    def __init__(self, C: float = 1.0, alpha: float = 1.0, seed: int = 0):
        self.C, self.alpha, self.seed = C, alpha, seed

    def fit(self, task, sequences: Sequence[str], labels: Sequence) -> KmerBaseline:
        from sklearn.linear_model import LogisticRegression, Ridge

        self.task = task
        features = self.features(sequences)
        if task.type == "regression":
            self.models = [Ridge(alpha=self.alpha).fit(features, np.asarray(labels, dtype=float))]
        elif task.type == "multilabel":
            self.models = []
            for label in task.labels:
                present = np.array([label in row for row in labels])
                # A label present in all or none of the TRAIN records cannot be fitted: it is always or never said.
                model = (
                    LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed).fit(features, present)
                    if 0 < present.sum() < len(present) else bool(present.any())
                )
                self.models.append(model)
        else:
            self.models = [LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed).fit(features, list(labels))]
        return self

    def features(self, sequences: Sequence[str]) -> sparse.csr_matrix:
        return kmer_features(sequences)

    def predict(self, sequences: Sequence[str]) -> list:
        features = self.features(sequences)
        if self.task.type == "regression":
            return [float(value) for value in self.models[0].predict(features)]
        if self.task.type == "multilabel":
            decisions = [
                model.predict(features) if not isinstance(model, bool) else np.full(features.shape[0], model)
                for model in self.models
            ]
            return [tuple(label for label, row in zip(self.task.labels, column) if row) for column in zip(*decisions)]
        return list(self.models[0].predict(features))


class TokenBagBaseline(KmerBaseline):
    """The k-mer model's regression on counts of a tokenizer's tokens instead of k-mers."""

    def __init__(self, tokenizer, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer

    def features(self, sequences: Sequence[str]) -> sparse.csr_matrix:
        return token_bag_features(sequences, self.tokenizer)


def baseline_scores(task, train, test, tokenizer=None) -> dict[str, dict]:
    """``{"majority": metrics, "kmer": metrics}`` of ``task`` on ``test``, both fitted on ``train``, and
    ``"token_bag"`` when a ``tokenizer`` is given.

    ``train`` and ``test`` hold ``sequence`` and ``label`` columns (``load_task`` datasets or lists of dicts).
    """
    train_sequences, train_labels = list(train["sequence"]), [_gold(task, label) for label in train["label"]]
    test_sequences, gold = list(test["sequence"]), [_gold(task, label) for label in test["label"]]
    majority = MajorityBaseline().fit(task, train_labels).predict(test_sequences)
    kmer = KmerBaseline().fit(task, train_sequences, train_labels).predict(test_sequences)
    scores = {"majority": score_task(task, gold, majority), "kmer": score_task(task, gold, kmer)}
    if tokenizer is not None:
        token_bag = TokenBagBaseline(tokenizer).fit(task, train_sequences, train_labels).predict(test_sequences)
        scores["token_bag"] = score_task(task, gold, token_bag)
    return scores


def _gold(task, label):
    return tuple(label) if task.type == "multilabel" else label


def main(argv: list[str] | None = None) -> None:
    from ..tasks.registry import TASKS, get_task, load_task

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names (default: all)")
    parser.add_argument("--max_per_class", type=int, default=None,
                        help="cap per class and split (default: each task's own cap, as the evaluation loads it)")
    parser.add_argument("--output_dir", help="where to write baselines.json")
    parser.add_argument("--tokenizer", help="a tokenizer folder (e.g. checkpoints/dnahlm-mini): adds the token_bag baseline")
    args = parser.parse_args(argv)
    tokenizer = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    results = {}
    for name in args.tasks.split(","):
        task = get_task(name)
        cap = "default" if args.max_per_class is None else args.max_per_class
        data = load_task(name, max_per_class=cap)
        train, test = data.filter(lambda row: row["split"] == "train"), data.filter(lambda row: row["split"] == "test")
        results[name] = {"metric": task.metric, "n_train": train.num_rows, "n_test": test.num_rows,
                         **baseline_scores(task, train, test, tokenizer)}
        token_bag = f", token bag {results[name]['token_bag']['value']:.3f}" if tokenizer else ""
        print(f"{name}: train {train.num_rows}, test {test.num_rows}, {task.metric} "
              f"majority {results[name]['majority']['value']:.3f}, k-mer {results[name]['kmer']['value']:.3f}"
              f"{token_bag}", flush=True)
    if args.output_dir:
        Path(args.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.output_dir) / "baselines.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    for name, result in results.items():
        print(f"{name}_kmer: {result['kmer']['value']:.3f}")
        print(f"{name}_majority: {result['majority']['value']:.3f}")
        if tokenizer:
            print(f"{name}_token_bag: {result['token_bag']['value']:.3f}")


if __name__ == "__main__":
    main()
