"""The majority-class and k-mer baselines: features, fitting on TRAIN only, scoring like model answers."""

import random
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from chatnt.evaluation.baselines import KmerBaseline, MajorityBaseline, baseline_scores, kmer_features, token_bag_features
from chatnt.tasks.registry import gc_content, get_task

PROMOTER = get_task("core_promoter")
DNAHLM_TOKENIZER = Path(__file__).resolve().parents[1] / "checkpoints" / "dnahlm-mini"


def random_dna(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


def planted_rows(n: int, seed: int) -> list[dict]:
    """Promoters carry TATAAAA somewhere; the others are random (and never contain it)."""
    rng = random.Random(seed)
    rows = []
    for index in range(n):
        sequence = random_dna(rng, 70).replace("TATAAAA", "TAGAAAA")
        if index % 2:
            start = rng.randrange(0, 63)
            sequence = sequence[:start] + "TATAAAA" + sequence[start + 7 :]
        rows.append({"sequence": sequence, "label": PROMOTER.labels[index % 2]})
    return rows


def as_columns(rows: list[dict]) -> dict[str, list]:
    return {"sequence": [row["sequence"] for row in rows], "label": [row["label"] for row in rows]}


def test_kmer_features_count_every_1_to_6_mer_and_skip_other_letters():
    features = kmer_features(["ACGT", "ACNGT", ""]).toarray()
    assert features.shape == (3, 4 + 16 + 64 + 256 + 1024 + 4096)
    # ACGT: 4 one-mers, 3 two-mers, 2 three-mers, 1 four-mer, each once: 10 ones before normalisation.
    np.testing.assert_allclose(features[0][features[0] > 0], 1 / np.sqrt(10))
    assert np.count_nonzero(features[1]) == 4 + 2  # A, C, G, T; AC, GT (k-mers across the N are skipped)
    np.testing.assert_allclose(np.linalg.norm(features[:2], axis=1), 1.0)
    assert not features[2].any()  # an empty sequence is a zero row, not NaN


def test_kmer_model_finds_a_planted_motif_and_the_majority_class_cannot():
    scores = baseline_scores(PROMOTER, as_columns(planted_rows(400, seed=0)), as_columns(planted_rows(200, seed=1)))
    assert scores["kmer"]["mcc"] > 0.6
    assert scores["majority"]["mcc"] == 0.0 and scores["majority"]["value"] == 0.0
    assert scores["kmer"]["n"] == scores["majority"]["n"] == 200


def test_the_baselines_never_see_test_labels():
    train, test = as_columns(planted_rows(400, seed=0)), as_columns(planted_rows(50, seed=1))
    model = KmerBaseline().fit(PROMOTER, train["sequence"], train["label"])
    assert model.predict(test["sequence"]) == KmerBaseline().fit(PROMOTER, train["sequence"], train["label"]).predict(test["sequence"])
    flipped = {**test, "label": [PROMOTER.labels[1 - PROMOTER.labels.index(label)] for label in test["label"]]}
    assert baseline_scores(PROMOTER, train, flipped)["kmer"]["mcc"] == pytest.approx(-baseline_scores(PROMOTER, train, test)["kmer"]["mcc"])


def test_regression_uses_ridge_and_majority_the_train_mean():
    task = get_task("gc_content")
    rng = random.Random(0)
    sequences = ["".join(rng.choice("GC" if rng.random() < p else "AT") for _ in range(100))
                 for p in [rng.random() for _ in range(300)]]
    rows = {"sequence": sequences, "label": [gc_content(sequence) for sequence in sequences]}
    train = {key: value[:200] for key, value in rows.items()}
    test = {key: value[200:] for key, value in rows.items()}
    assert baseline_scores(task, train, test)["kmer"]["pearson"] > 0.95
    assert MajorityBaseline().fit(task, train["label"]).predict(["ACGT"]) == [pytest.approx(np.mean(train["label"]))]


def test_multilabel_predicts_label_sets_and_the_majority_set_holds_labels_most_records_have():
    task = get_task("promoter_motifs")
    rng = random.Random(0)
    rows = []
    for _ in range(300):
        tata, caat = rng.random() < 0.3, True
        sequence = random_dna(rng, 60).replace("TATAAA", "TAGAAA")
        if tata:
            sequence = sequence[:10] + "TATAAA" + sequence[16:]
        rows.append({"sequence": sequence, "label": [name for name, present in (("TATA box", tata), ("CAAT box", caat)) if present]})
    train, test = as_columns(rows[:200]), as_columns(rows[200:])
    assert MajorityBaseline().fit(task, [tuple(label) for label in train["label"]]).answer == ("CAAT box",)
    predictions = KmerBaseline().fit(task, train["sequence"], [tuple(label) for label in train["label"]]).predict(test["sequence"])
    assert all(isinstance(prediction, tuple) and "CAAT box" in prediction for prediction in predictions)
    assert baseline_scores(task, train, test)["kmer"]["f1"] > 0.9


def test_token_bag_counts_the_tokenizers_own_tokens():
    tokenizer = AutoTokenizer.from_pretrained(DNAHLM_TOKENIZER)
    sequences = ["ACGTACGTTTGACCA", "TATAAAAGGC", ""]
    features = token_bag_features(sequences, tokenizer).toarray()
    assert features.shape == (3, len(tokenizer))
    for row, sequence in zip(features[:2], sequences):
        ids = tokenizer(sequence, add_special_tokens=False)["input_ids"]
        counts = np.bincount(ids, minlength=len(tokenizer))
        np.testing.assert_allclose(row, counts / np.linalg.norm(counts))
    assert not features[2].any()


def test_token_bag_baseline_is_added_with_a_tokenizer_and_finds_a_planted_motif():
    tokenizer = AutoTokenizer.from_pretrained(DNAHLM_TOKENIZER)
    train, test = as_columns(planted_rows(400, seed=0)), as_columns(planted_rows(200, seed=1))
    assert "token_bag" not in baseline_scores(PROMOTER, train, test)
    scores = baseline_scores(PROMOTER, train, test, tokenizer)
    # BPE cuts the motif differently in each context, so a bag of tokens sees it less well than 6-mers do.
    assert 0.4 < scores["token_bag"]["mcc"] <= scores["kmer"]["mcc"]
    assert scores["token_bag"]["n"] == 200
