"""Platt calibration of yes/no probabilities on real task questions (tiny model)."""

import json

import pytest
from chatnt.calibration import PlattCalibrator
from chatnt.training.calibrate_chatnt import calibrate, main, yes_no_questions
from chatnt.tasks.instruction_data import YES_NO_QUESTIONS


def _template_prefix(template: str) -> str:
    return template.split("{")[1].split("}")[1] if template.startswith("{context_prefix}") else template


@pytest.mark.parametrize("split", ["train", "test"])
def test_questions_are_balanced_and_use_the_split_phrasings(split):
    rows = yes_no_questions(["core_promoter", "rrna_type"], split, per_task=6)
    assert len(rows) == 12
    for task in ("core_promoter", "rrna_type"):
        labels = [row["label"] for row in rows if row["task"] == task]
        assert sorted(labels) == [0, 0, 0, 1, 1, 1]
    starts = [template.split("{seq}")[0].replace("{context_prefix}", "") for template in YES_NO_QUESTIONS[split]]
    for row in rows:
        (name,) = row["sequences"]
        assert f"@{name}" in row["question"]
        assert any(start in row["question"] for start in starts), row["question"]


def test_unknown_or_regression_task_is_refused():
    with pytest.raises(ValueError, match="not a classification task"):
        yes_no_questions(["gc_content"], "test", per_task=4)


def test_calibrate_writes_a_loadable_calibrator_and_the_report(tmp_path, make_model, make_processor):
    model, processor = make_model(), make_processor()
    calibrator, report = calibrate(
        model, processor, ["core_promoter", "oct4_mafk"], tmp_path, train_per_task=6, test_per_task=4, batch_size=3
    )
    loaded = PlattCalibrator.load(tmp_path)
    assert (loaded.coef, loaded.intercept) == (calibrator.coef, calibrator.intercept)
    assert report["all"]["n"] == 8 and report["core_promoter"]["n"] == 4
    for when in ("before", "after"):
        assert set(report["all"][when]) == {"auroc", "mcc", "ece"}
        assert 0.0 <= report["all"][when]["ece"] <= 1.0
    predictions = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 8 and all(0.0 <= p["p_yes"] <= 1.0 for p in predictions)
    # Platt scaling is monotone (coef > 0 when fitted on informative scores, here on noise it may flip):
    # the calibrated order follows the raw order, or its reverse.
    raw = [p["p_yes_raw"] for p in predictions]
    calibrated = [p["p_yes"] for p in predictions]
    order = sorted(range(8), key=raw.__getitem__)
    steps = [calibrated[b] - calibrated[a] for a, b in zip(order, order[1:])]
    assert all(s >= -1e-12 for s in steps) or all(s <= 1e-12 for s in steps)
    assert (tmp_path / "reliability.png").stat().st_size > 1000
    assert (tmp_path / "table.csv").read_text().splitlines()[0].startswith("task,n,auroc_before,auroc_after")
    assert "| all | 8 |" in (tmp_path / "table.md").read_text()


def test_command_line_saves_beside_the_model(tmp_path, make_model, make_processor, capsys):
    model_dir = tmp_path / "model"
    make_model().save_pretrained(model_dir)
    make_processor().save_pretrained(model_dir)
    main(["--model", str(model_dir), "--output_dir", str(tmp_path / "out"), "--tasks", "core_promoter",
          "--train_per_task", "4", "--test_per_task", "4", "--save_to_model"])
    assert (model_dir / "calibration.json").is_file()
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines[-6:]] == [
        "auroc_before", "auroc_after", "mcc_before", "mcc_after", "ece_before", "ece_after"]
