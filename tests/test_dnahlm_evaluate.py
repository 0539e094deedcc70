"""The fixed sha256 split of the published records, the published model's readings and the evaluation of every task."""

import hashlib

import pytest

from chatnt.training.dnahlm import evaluate as dnahlm_evaluate
from chatnt.training.dnahlm.evaluate import alpaca_questions, evaluate, headline, published_scores
from chatnt.training.evaluate_chatnt import held_out_questions
from chatnt.tasks.dnahl import (
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


def test_published_model_read_three_ways_on_the_test_halves():
    scores = published_scores()
    assert [scores[t]["n"] for t in ("core_promoter", "promoter_300", "tf_binding", "splice_site")] == [151, 144, 103, 120]
    assert scores["dnahl_gue_mean"]["mcc_first_label"] == pytest.approx(0.688, abs=5e-4)
    assert scores["dnahl_gue_mean"]["mcc_strict"] == pytest.approx(0.493, abs=5e-4)
    assert scores["dnahl_gue_mean"]["mcc_first_line"] == pytest.approx(0.209, abs=5e-4)
    assert scores["promoter_terminator"]["mcc_first_label"] == pytest.approx(0.426, abs=5e-4)
    assert scores["promoter_terminator"]["lenient_accuracy"] == pytest.approx(0.728, abs=5e-4)
    # Echoed option lists ("Non-promoter, promoter") are unreadable strictly, not by the first label.
    assert scores["core_promoter"]["unreadable_strict"] > 0.5


@pytest.fixture(scope="module")
def rows():
    return held_out_questions(["core_promoter", "rrna_type", "gc_content"], max_per_task=12, seed=0)


def test_questions_are_the_chatnt_held_out_ones_in_alpaca_form(rows):
    records = alpaca_questions(rows)
    assert len(records) == len(rows)
    for record, row in zip(records, rows):
        assert record["input"] == row["sequences"][0]["sequence"] and record["task"] == row["task"]
        assert "@" not in record["instruction"] and "the input sequence" in record["instruction"].lower()
    # The same records asked in the training templates share no question with the evaluation.
    tasks = ["core_promoter", "rrna_type", "gc_content"]
    training = alpaca_questions(held_out_questions(tasks, max_per_task=12, seed=0, phrasings="training"))
    assert not {r["instruction"] for r in records} & {r["instruction"] for r in training}


def _answer_with(monkeypatch, answer_of):
    monkeypatch.setattr(dnahlm_evaluate, "generate_answers", lambda model, tok, prompts, *a, **k: [answer_of(p) for p in prompts])


def test_oracle_answers_score_perfectly_beside_the_baselines(rows, monkeypatch, tmp_path):
    gold = {r["sequences"][0]["sequence"]: r["answers"][0] for r in rows}
    _answer_with(monkeypatch, lambda prompt: gold[prompt.split("### Input:\n")[1].split("\n\n### Response")[0]] + ".")
    summary = evaluate(None, None, tmp_path, ["core_promoter", "rrna_type", "gc_content"], 12, (), "held_out")
    assert summary["tasks"]["core_promoter"]["value"] == pytest.approx(1.0)
    assert summary["tasks"]["gc_content"]["value"] == pytest.approx(1.0)
    assert all(summary["tasks"][t]["n_unparsed"] == 0 for t in summary["tasks"])
    assert set(summary["baselines"]) == {"core_promoter", "rrna_type", "gc_content"}
    for name in ("predictions.jsonl", "metrics.json", "table.md", "published.json"):
        assert (tmp_path / name).is_file()
    lines = headline(summary)
    assert "unreadable_answers: 0 of 36" in lines and any(line.startswith("rrna_type_kmer_baseline: ") for line in lines)


def test_unreadable_answers_are_counted_not_dropped(rows, monkeypatch, tmp_path):
    _answer_with(monkeypatch, lambda prompt: "I cannot tell.")
    summary = evaluate(None, None, tmp_path, ["core_promoter", "rrna_type", "gc_content"], 12, (), "held_out")
    assert [summary["tasks"][t]["n_unparsed"] for t in ("core_promoter", "rrna_type", "gc_content")] == [12, 12, 12]
    assert "unreadable_answers: 36 of 36" in headline(summary)
