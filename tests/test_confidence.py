"""Perplexity-based yes/no classifier, Platt calibration and calibration metrics (chatnt.evaluation.confidence)."""

import json

import numpy as np
import pytest
import torch
from chatnt.evaluation.confidence import (
    CALIBRATION_FILE,
    PerplexityClassifier,
    PlattCalibrator,
    answer_log_likelihoods,
    confidence_metrics,
    expected_calibration_error,
    reliability_diagram,
)
from helpers import random_dna
from sklearn.linear_model import LogisticRegression

# Rows of different prompt, DNA and answer lengths, so that batching pads every kind of input.
ROWS = [
    ("Is <DNA> a promoter?", [random_dna(60, seed=1)], "Yes, that is true."),
    ("Does <DNA> contain a splice donor site?", [random_dna(130, seed=2)], "No."),
    ([{"role": "user", "content": "Is @wt a promoter?"}], {"wt": random_dna(90, seed=3)}, "I believe not, no."),
]


@pytest.fixture
def model(make_model):
    # A wider decoder init than the default so that answers get clearly different likelihoods.
    return make_model(decoder_init_range=0.2)


def test_batched_log_likelihoods_equal_one_by_one(model, make_processor):
    processor = make_processor()
    batched = answer_log_likelihoods(model, processor, *zip(*ROWS))
    one_by_one = torch.cat([answer_log_likelihoods(model, processor, [q], [s], [a]) for q, s, a in ROWS])
    assert batched.shape == (len(ROWS),)
    torch.testing.assert_close(batched, one_by_one)
    assert len(set(batched.tolist())) == len(ROWS)  # the rows were really scored differently


def test_log_likelihood_is_the_negative_training_loss(model, make_processor):
    """The score covers exactly the tokens training puts the loss on (answer + end of turn)."""
    processor = make_processor()
    question, sequences, answer = ROWS[0]
    batch = processor([question], [sequences], answers=[answer], padding_side="right")
    loss = model(**batch).loss
    score = answer_log_likelihoods(model, processor, [question], [sequences], [answer])
    torch.testing.assert_close(score, -loss.detach().reshape(1))


def test_log_likelihoods_refuse_an_existing_assistant_turn(model, make_processor):
    conversation = [{"role": "user", "content": "Is <DNA> a promoter?"}, {"role": "assistant", "content": "yes"}]
    with pytest.raises(ValueError, match="already has an assistant turn"):
        answer_log_likelihoods(model, make_processor(), [conversation], [[random_dna(30)]], ["Yes."])
    with pytest.raises(ValueError, match="one of each per row"):
        answer_log_likelihoods(model, make_processor(), ["Is <DNA> a promoter?"], [], ["Yes."])


def test_classifier_probabilities_are_the_softmax_of_mean_phrasing_scores(model, make_processor):
    processor = make_processor()
    # batch_size 3 splits a question's 5 candidates across forward passes: the reassembly must hold.
    classifier = PerplexityClassifier(
        positive=("Yes.", "Yes, that is true.", "Affirmative."), negative=("No.", "Negative."), batch_size=3
    )
    questions = [row[0] for row in ROWS]
    sequences = [row[1] for row in ROWS]

    scores = classifier.class_scores(model, processor, questions, sequences)
    for row, (question, dna) in enumerate(zip(questions, sequences)):
        for column, phrasings in enumerate((classifier.negative, classifier.positive)):
            n = len(phrasings)
            single = answer_log_likelihoods(model, processor, [question] * n, [dna] * n, phrasings)
            torch.testing.assert_close(scores[row, column], single.mean())

    probs = classifier.predict_proba(model, processor, questions, sequences)
    assert probs.shape == (len(questions),)
    assert bool(((probs >= 0) & (probs <= 1)).all())
    both = scores.softmax(dim=1)
    torch.testing.assert_close(both.sum(dim=1), torch.ones(len(questions)))
    torch.testing.assert_close(probs, both[:, 1])
    torch.testing.assert_close(
        probs, torch.sigmoid(classifier.logit_difference(model, processor, questions, sequences))
    )


def test_classifier_rejects_ambiguous_phrasings():
    with pytest.raises(ValueError, match="both positive and negative"):
        PerplexityClassifier(positive=("Yes.", "Maybe."), negative=("No.", "Maybe."))
    with pytest.raises(TypeError, match="lists of phrasings"):
        PerplexityClassifier(positive="Yes.", negative=("No.",))


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Overconfident, shifted logits: labels follow sigmoid(z), the 'model' reports 3 z + 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, size=n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return 3 * z + 1, labels


def test_platt_matches_scikit_learn_and_round_trips_through_json(tmp_path):
    logits, labels = _miscalibrated(400, seed=0)
    calibrator = PlattCalibrator().fit(logits, labels)
    reference = LogisticRegression(C=0.1, solver="lbfgs").fit(logits.reshape(-1, 1), labels)
    np.testing.assert_allclose(calibrator.transform(logits), reference.predict_proba(logits.reshape(-1, 1))[:, 1])

    path = calibrator.save(tmp_path)
    assert path == tmp_path / CALIBRATION_FILE
    assert json.loads(path.read_text())["method"] == "platt"
    loaded = PlattCalibrator.load(tmp_path)
    probe = np.linspace(-20, 20, 101)
    np.testing.assert_array_equal(loaded.transform(probe), calibrator.transform(probe))
    assert (loaded.coef, loaded.intercept, loaded.input_kind) == (calibrator.coef, calibrator.intercept, "logit")


def test_platt_on_probabilities_equals_platt_on_logits():
    logits, labels = _miscalibrated(300, seed=1)
    probs = 1 / (1 + np.exp(-logits))
    from_logits = PlattCalibrator().fit(logits, labels)
    from_probs = PlattCalibrator(input_kind="probability").fit(probs, labels)
    np.testing.assert_allclose(from_probs.transform(probs), from_logits.transform(logits), atol=1e-6)


def test_platt_load_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="No calibration file"):
        PlattCalibrator.load(tmp_path)
    (tmp_path / CALIBRATION_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not a valid Platt calibration file"):
        PlattCalibrator.load(tmp_path)
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a valid Platt calibration file"):
        PlattCalibrator.load(tmp_path)
    with pytest.raises(ValueError, match="not fitted"):
        PlattCalibrator().transform([0.0])
    with pytest.raises(ValueError, match="both classes"):
        PlattCalibrator().fit([0.1, 0.2], [1, 1])


def test_expected_calibration_error_by_hand():
    probs = [0.08, 0.12, 0.18, 0.85, 0.95, 1.0]
    labels = [0, 0, 1, 1, 1, 0]
    # Bins: [0, .1) {0.08 | 0}; [.1, .2) {0.12, 0.18 | 0, 1}; [.8, .9) {0.85 | 1}; [.9, 1] {0.95, 1.0 | 1, 0}.
    by_hand = (1 * abs(0 - 0.08) + 2 * abs(0.5 - 0.15) + 1 * abs(1 - 0.85) + 2 * abs(0.5 - 0.975)) / 6
    assert expected_calibration_error(probs, labels) == pytest.approx(by_hand)
    assert expected_calibration_error([0.25, 0.25, 0.25, 0.25], [1, 0, 0, 0]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        expected_calibration_error([1.5], [1])


def test_platt_lowers_ece_on_held_out_examples():
    train_logits, train_labels = _miscalibrated(2000, seed=2)
    test_logits, test_labels = _miscalibrated(2000, seed=3)
    raw = 1 / (1 + np.exp(-test_logits))
    calibrated = PlattCalibrator().fit(train_logits, train_labels).transform(test_logits)
    before, after = confidence_metrics(raw, test_labels), confidence_metrics(calibrated, test_labels)
    assert before["ece"] > 0.1
    assert after["ece"] < 0.05
    assert after["auroc"] == pytest.approx(before["auroc"])  # Platt is monotone: ranking unchanged
    assert after["mcc"] > before["mcc"]  # the shift (+1) moved the 0.5 threshold; Platt moves it back


def test_reliability_diagram_writes_a_png(tmp_path):
    logits, labels = _miscalibrated(500, seed=4)
    raw = 1 / (1 + np.exp(-logits))
    calibrated = PlattCalibrator().fit(logits, labels).transform(logits)
    path = reliability_diagram(raw, calibrated, labels, tmp_path / "plots" / "reliability.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="values for"):
        reliability_diagram(raw, calibrated[:-1], labels, tmp_path / "bad.png")
