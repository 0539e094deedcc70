"""Per-task test scores of generated answers, and the model card built from them."""

import json
import math

import pytest
from chatnt.training.evaluate_chatnt import (
    DNAHL_GUE_TASKS,
    held_out_questions,
    markdown_table,
    summarize,
    task_metrics,
)
from chatnt.tasks.registry import TASKS
from chatnt.tasks.instruction_data import PHRASINGS, normalize_answer
from chatnt.training.model_card import chatnt_scores, model_card
from huggingface_hub import ModelCard
from sklearn.metrics import matthews_corrcoef


def predictions(task, pairs):
    return [{"task": task, "question": "q", "answer": parsed, "parsed": parsed, "gold": gold} for parsed, gold in pairs]


def test_classification_scores_count_unreadable_answers_as_wrong():
    pairs = [("promoter", "promoter"), ("Non-promoter", "Non-promoter"), ("", "promoter"), ("promoter", "Non-promoter")]
    result = task_metrics("core_promoter", predictions("core_promoter", pairs))
    assert result["n"] == 4 and result["n_unparsed"] == 1
    assert result["exact_match"] == 0.5
    # The unreadable answer is a third class, never dropped.
    expected = matthews_corrcoef(["promoter", "Non-promoter", "promoter", "Non-promoter"], ["promoter", "Non-promoter", "", "promoter"])
    assert result["value"] == pytest.approx(expected)
    perfect = task_metrics("core_promoter", predictions("core_promoter", [("promoter", "promoter"), ("Non-promoter", "Non-promoter")]))
    assert perfect["value"] == pytest.approx(1.0) and perfect["metric"] == "mcc"


def test_multilabel_micro_f1_by_hand():
    # gold label sets: {TATA box, Inr}, {} ; predicted: {TATA box}, {GC box}
    pairs = [("TATA box", "TATA box, Inr"), ("GC box", "none")]
    result = task_metrics("promoter_motifs", predictions("promoter_motifs", pairs))
    # true positives 1, false positives 1 (GC box), false negatives 1 (Inr): F1 = 2*1 / (2*1 + 1 + 1) = 0.5
    assert result["value"] == pytest.approx(0.5)
    assert result["exact_match"] == 0.0


def test_regression_pearson_over_parsed_numbers_with_failures_reported():
    pairs = [("40.00", "41.00"), ("50.00", "52.00"), ("60.00", "58.00"), ("", "45.00")]
    result = task_metrics("gc_content", predictions("gc_content", pairs))
    assert result["n_unparsed"] == 1 and result["n"] == 4
    xs, ys = [40, 50, 60], [41, 52, 58]
    mx, my = sum(xs) / 3, sum(ys) / 3
    r = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(
        sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys)
    )
    assert result["value"] == pytest.approx(r)
    constant = task_metrics("gc_content", predictions("gc_content", [("40.00", "41.00")] * 3))
    assert math.isnan(constant["value"])  # no spread, no correlation: reported as n/a, not as 0


# The first task's answers are all one label on purpose; sklearn warns that its MCC (0) rests on one class.
@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
def test_summary_pools_the_dnahl_gue_tasks_and_renders_a_table():
    rows = []
    for index, task in enumerate(DNAHL_GUE_TASKS):
        gold = {"core_promoter": "promoter", "promoter_300": "promoter", "tf_binding": "Binding Sites",
                "splice_site": "Donor Sites"}[task]
        rows += predictions(task, [(gold, gold), ("" if index else gold, gold)])
    summary = summarize(rows)
    assert summary["dnahl_gue_n"] == 8
    assert summary["dnahl_gue_exact_match"] == pytest.approx(5 / 8)
    assert list(summary["tasks"]) == list(DNAHL_GUE_TASKS)
    table = markdown_table(summary)
    assert table.count("\n") == 2 + len(DNAHL_GUE_TASKS)
    assert "| core_promoter | mcc |" in table
    assert "dnahl_gue_exact_match" not in summarize(predictions("core_promoter", [("promoter", "promoter")]))


def test_held_out_questions_are_single_held_out_phrasings_without_system_message():
    rows = held_out_questions(["core_promoter", "oct4_mafk"], max_per_task=5)
    assert [row["task"] for row in rows] == ["core_promoter"] * 5 + ["oct4_mafk"] * 5
    for row in rows:
        assert [message["role"] for message in row["messages"]] == ["user", "assistant"]
        assert row["split"] == "test" and len(row["answers"]) == 1 and len(row["sequences"]) == 1
    train_questions = {template.split("{")[0] for template in PHRASINGS["core_promoter"].questions["train"]}
    assert all(not row["messages"][0]["content"].startswith(tuple(filter(None, train_questions))) for row in rows[:5])
    assert held_out_questions(["core_promoter"], max_per_task=5) == rows[:5]  # seeded


def test_the_training_phrasing_diagnostic_asks_the_same_test_records_in_the_training_templates():
    import re

    def pattern(template):  # a template's fixed words, with any text where its fields go
        return re.compile(".*".join(re.escape(part) for part in re.split(r"\{\w+\}", template)) + "$")

    held_out = held_out_questions(["rrna_type"], max_per_task=8)
    training = held_out_questions(["rrna_type"], max_per_task=8, phrasings="training")
    assert [row["sequences"] for row in training] == [row["sequences"] for row in held_out]
    assert [row["answers"] for row in training] == [row["answers"] for row in held_out]
    for rows, pool in ((training, "train"), (held_out, "test")):
        templates = [pattern(t) for t in PHRASINGS["rrna_type"].questions[pool]]
        assert all(any(t.match(row["messages"][0]["content"]) for t in templates) for row in rows)
    with pytest.raises(ValueError, match="phrasings must be one of"):
        held_out_questions(["rrna_type"], max_per_task=2, phrasings="test")


def test_model_card_carries_the_scores_as_hub_metadata(tmp_path):
    summary = summarize(predictions("core_promoter", [("promoter", "promoter"), ("Non-promoter", "Non-promoter")]))
    (tmp_path / "card.md").write_text("---\n{{ card_data }}\n---\n\n## Test scores\n\n{{ table }}\n## Training\n")
    card = model_card("chatnt-test", "card.md", {"table": markdown_table(summary)}, chatnt_scores(summary, "test"),
                      "text-generation", base_models=["HuggingFaceTB/SmolLM2-135M-Instruct"], templates=tmp_path)
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    assert loaded.data.library_name == "transformers" and loaded.data.pipeline_tag == "text-generation"
    assert loaded.data.base_model == ["HuggingFaceTB/SmolLM2-135M-Instruct"]
    results = {(result.metric_type, result.dataset_type): result.metric_value for result in loaded.data.eval_results}
    assert results == {("mcc", "chatnt/core_promoter"): 1.0, ("exact_match", "chatnt/core_promoter"): 1.0}
    assert "## Test scores" in loaded.text and "## Training" in loaded.text


def test_evaluate_model_writes_predictions_metrics_and_table(tmp_path, make_model, make_processor):
    import json

    from chatnt.training.evaluate_chatnt import evaluate_model

    summary = evaluate_model(make_model(), make_processor(), ["core_promoter"], tmp_path, max_per_task=3, batch_size=2)
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 3
    assert set(json.loads(lines[0])) == {"task", "record_ids", "question", "answer", "parsed", "gold"}
    records = {json.loads(line)["record_ids"][0] for line in lines}  # each answer names its TEST record
    assert len(records) == 3 and all(record.strip() for record in records)
    assert json.loads((tmp_path / "metrics.json").read_text()) == summary
    assert summary["tasks"]["core_promoter"]["n"] == 3
    assert (tmp_path / "table.md").read_text() == markdown_table(summary)
    header, row = (tmp_path / "table.csv").read_text().splitlines()
    assert header == "task,metric,value,kmer_baseline,majority_baseline,exact_match,n,n_unparsed"
    assert row.startswith("core_promoter,mcc,")
    # The baselines are scored on the same 3 TEST records, fitted on TRAIN.
    baselines = summary["baselines"]["core_promoter"]
    assert baselines["kmer"]["n"] == baselines["majority"]["n"] == 3 and baselines["majority"]["mcc"] == 0.0
    assert "| k-mer baseline | majority class |" in markdown_table(summary)


def test_baselines_only_scores_the_records_an_evaluation_would_ask_about(tmp_path, capsys):
    import json

    from chatnt.training.evaluate_chatnt import main

    main(["--baselines_only", "--tasks", "core_promoter", "--max_per_task", "40", "--output_dir", str(tmp_path)])
    baselines = json.loads((tmp_path / "baselines.json").read_text())
    assert baselines["core_promoter"]["kmer"]["n"] == 40
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("core_promoter_kmer_baseline: ")


def test_rescore_rereads_stored_answers_with_the_current_parser(tmp_path):
    import json

    from chatnt.training.evaluate_chatnt import rescore

    stored = [
        {"task": "core_promoter", "question": "q", "answer": "The answer is: NonPromoter", "parsed": "", "gold": "Non-promoter"},
        {"task": "core_promoter", "question": "q", "answer": "It is not a promoter.", "parsed": "", "gold": "Non-promoter"},
        {"task": "core_promoter", "question": "q", "answer": "promoter", "parsed": "promoter", "gold": "promoter"},
    ]
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in stored))
    summary = rescore(tmp_path)
    assert [json.loads(line)["parsed"] for line in (tmp_path / "predictions.jsonl").read_text().splitlines()] == [
        "Non-promoter", "Non-promoter", "promoter"
    ]
    assert summary["tasks"]["core_promoter"]["exact_match"] == 1.0
    assert json.loads((tmp_path / "metrics.json").read_text()) == summary


def test_uncapped_tasks_keep_every_test_record():
    capped = held_out_questions(["core_promoter", "oct4_mafk"], max_per_task=5, uncapped=("oct4_mafk",))
    assert sum(row["task"] == "core_promoter" for row in capped) == 5
    assert sum(row["task"] == "oct4_mafk" for row in capped) == 200  # its whole test split


def test_plots_are_written_per_task_and_refuse_the_wrong_task_type(tmp_path):
    from chatnt.evaluation.plots import confusion_matrix_plot, plot_predictions, regression_scatter

    rows = (
        predictions("core_promoter", [("promoter", "promoter"), ("", "Non-promoter")])
        + predictions("gc_content", [("40.00", "41.00"), ("50.00", "52.00"), ("60.00", "58.00"), ("", "45.00")])
        + predictions("promoter_motifs", [("TATA box", "TATA box")])
    )
    written = plot_predictions(rows, tmp_path)
    assert sorted(path.name for path in written) == ["core_promoter.png", "gc_content.png"]  # no multilabel plot
    for path in written:
        assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="regression"):
        confusion_matrix_plot("gc_content", rows, tmp_path / "x.png")
    with pytest.raises(ValueError, match="regression task"):
        regression_scatter("core_promoter", rows, tmp_path / "y.png")


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("answer", ["", "The answer is  .", "This sequence is classified as ."])
def test_an_answer_that_says_nothing_counts_as_unreadable(task, answer):
    spec = TASKS[task]
    gold = "41.00" if spec.type == "regression" else spec.labels[0]
    rows = [{"task": task, "answer": answer, "parsed": normalize_answer(task, answer, gold), "gold": gold}]
    assert rows[0]["parsed"] == "" and task_metrics(task, rows)["n_unparsed"] == 1


def test_the_card_puts_held_out_and_training_wording_side_by_side_with_the_k_mer_baseline():
    from chatnt.training.ship_chatnt import wording_rows

    def summary(value):
        return {"tasks": {"rrna_type": {"metric": "mcc", "value": value, "n": 500}}}

    held_out = summary(0.028) | {"baselines": {"rrna_type": {"kmer": {"value": 0.961}}}}
    rows = wording_rows(held_out, summary(0.431))
    assert rows == [{"task": "rrna_type", "metric": "mcc", "held_out": 0.028, "training": 0.431, "kmer": 0.961, "n": 500}]


def test_the_card_adds_up_stage_two_runs_that_continue_each_other(tmp_path):
    from chatnt.training.ship_chatnt import _runs_facts

    def run(name, steps, losses, runtime):
        folder = tmp_path / name
        folder.mkdir()
        history = [{"step": 10 * (i + 1), "loss": loss} for i, loss in enumerate(losses)]
        history.append({"step": steps, "train_runtime": runtime})
        state = {"global_step": steps, "train_batch_size": 8, "log_history": history}
        (folder / "trainer_state.json").write_text(json.dumps(state))
        return folder

    facts = _runs_facts([run("first", 1000, [2.0, 0.5], 1668.0), run("second", 2000, [0.6, 0.3], 3600.0)])
    assert facts == {"steps": 3000, "batch_size": 8, "first_loss": 2.0, "last_loss": 0.3, "runtime_s": 5268.0,
                     "runs": 2}
    assert _runs_facts([tmp_path / "missing"]) == {}


def test_metrics_json_is_strict_json_and_chatnt_evaluate_takes_hyphenated_options(tmp_path):
    from chatnt.cli import main
    from chatnt.training.evaluate_chatnt import _json_ready

    assert _json_ready({"a": float("nan"), "b": [1.0, float("inf")], "c": "x"}) == {"a": None, "b": [1.0, None], "c": "x"}
    rows = [{"task": "rrna_type", "question": "Which rRNA is @seq?", "answer": label, "parsed": label, "gold": label}
            for label in ("16S", "18S", "16S")]
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["evaluate", "--rescore", "--output-dir", str(tmp_path)]) == 0  # the chatnt commands' spelling
    text = (tmp_path / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda name: pytest.fail(f"metrics.json holds {name}"))
    assert metrics["tasks"]["rrna_type"]["n"] == 3
