"""The fixed sha256 split of the published records and the evaluation metrics."""

import hashlib

import pytest

from chatnt.training.dnahlm.evaluate import (
    INVALID,
    evaluate_file,
    kmer_answers,
    is_exact,
    is_first_line_exact,
    is_lenient,
    is_lenient_prefix,
    majority_answers,
    predicted_label,
    score,
)
from chatnt.training.dnahlm.instructions import (
    FOUR_TASK_FILE,
    PROMOTER_TERMINATOR_FILE,
    is_test_record,
    load_published_records,
)


def test_split_rule_matches_its_definition():
    for seq in ("ACGT", "GATTACA", "TTTT", "CCGGAA"):
        expected = int(hashlib.sha256(seq.encode()).hexdigest(), 16) % 2 == 0
        assert is_test_record({"input": seq}) is expected


@pytest.mark.parametrize("path, n_test, n_all", [(FOUR_TASK_FILE, 518, 1000), (PROMOTER_TERMINATOR_FILE, 621, 1184)])
def test_split_sizes_and_disjointness(path, n_test, n_all):
    test = load_published_records(path, "test")
    train = load_published_records(path, "train")
    assert len(test) == n_test and len(train) == n_all - n_test
    assert not {r["input"] for r in test} & {r["input"] for r in train}


def test_unknown_split_and_missing_file_raise(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_published_records(FOUR_TASK_FILE, "valid")
    with pytest.raises(FileNotFoundError):
        load_published_records(tmp_path / "none.json")


def test_answer_rules():
    assert is_exact(" promoter.\n", "promoter")
    assert not is_exact("promoter\npromoter", "promoter")
    assert is_first_line_exact("promoter\nterminator", "promoter")
    assert not is_exact("Non-promoter, promoter", "promoter")
    assert is_lenient("Non-promoter, promoter", "promoter")
    assert not is_lenient_prefix("Non-promoter, promoter", "promoter")
    assert predicted_label("Donor Sites\nDonor", ("Acceptor Sites", "Donor Sites")) == "Donor Sites"
    assert predicted_label("Non-promoter, promoter", ("Non-promoter", "promoter")) == INVALID


def test_score_per_task_and_overall():
    records = [
        {"task": "promoter_terminator", "output": "promoter"},
        {"task": "promoter_terminator", "output": "terminator"},
        {"task": "promoter_terminator", "output": "terminator"},
        {"task": "promoter_terminator", "output": "promoter"},
    ]
    result = score(["promoter", "terminator", "promoter or terminator", "terminator"], records)
    row = result["promoter_terminator"]
    assert row["n"] == 4 and row["exact"] == 0.5 and row["lenient"] == 0.75
    assert result["overall"]["exact"] == 0.5
    perfect = score(["promoter", "terminator", "terminator", "promoter"], records)
    assert perfect["overall"]["mcc"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="answers"):
        score(["promoter"], records)


def test_published_model_figures_on_the_test_halves():
    four_task, _, _ = evaluate_file(FOUR_TASK_FILE)
    assert four_task["overall"]["n"] == 518
    assert four_task["overall"]["exact"] == pytest.approx(0.116, abs=5e-4)
    assert four_task["overall"]["lenient_prefix"] == pytest.approx(0.846, abs=5e-4)
    pvt, _, _ = evaluate_file(PROMOTER_TERMINATOR_FILE)
    assert pvt["overall"]["lenient"] == pytest.approx(0.728, abs=5e-4)
    assert pvt["overall"]["exact"] == 0.0


def test_majority_baseline_uses_the_train_half_only():
    test = load_published_records(FOUR_TASK_FILE, "test")
    answers = majority_answers(FOUR_TASK_FILE, test)
    train = load_published_records(FOUR_TASK_FILE, "train")
    for record, answer in zip(test, answers):
        labels = [r["output"] for r in train if r["task"] == record["task"]]
        assert labels.count(answer) == max(labels.count(label) for label in set(labels))
    assert score(answers, test)["overall"]["mcc"] == 0.0


def test_kmer_baseline_answers_the_same_test_records_fitted_on_the_train_half():
    test = load_published_records(FOUR_TASK_FILE, "test")
    answers = kmer_answers(FOUR_TASK_FILE, test)
    assert len(answers) == len(test) and all(answers)
    scores = score(answers, test)
    assert scores["core_promoter"]["mcc"] == pytest.approx(0.508, abs=5e-4)
    assert scores["overall"]["mcc"] == pytest.approx(0.173, abs=5e-3)
