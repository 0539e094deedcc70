"""Model cards: the one card function's Hub metadata, the shipped cards' YAML, and writing cards from runs."""

import json
import math
from pathlib import Path

import jinja2
import pytest
import torch
from chatnt.training.model_card import Score, model_card
from chatnt.training.dnahlm.card import dnahlm_card
from chatnt.tasks.registry import TASKS
from chatnt.training.write_cards import encoder_card, main, scientific
from huggingface_hub import ModelCard
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(path.parent.name for path in (ROOT / "checkpoints").glob("*/README.md"))


DEMO_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

A demo of {{ steps | fmt(",") }} steps.

## Training

`make train`

## Limitations

Small.
"""


def test_model_card_metadata_round_trips_through_the_hub_loader(tmp_path):
    (tmp_path / "demo.md").write_text(DEMO_TEMPLATE)
    card = model_card(
        "demo-model",
        "demo.md",
        {"title": "Demo (`demo-model`)", "steps": 1200},
        scores=[
            Score("held-out DNA", "accuracy", 0.12345, dataset_type="demo/heldout", split="validation"),
            Score("held-out DNA", "perplexity", 42.0, dataset_type="demo/heldout"),
            Score("held-out DNA", "mcc", math.nan, dataset_type="demo/heldout"),
        ],
        pipeline_tag="fill-mask",
        base_models=["org/base"],
        datasets=["org/data"],
        license="mit",
        tags=["dna"],
        templates=tmp_path,
    )
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    data = loaded.data
    assert (data.library_name, data.pipeline_tag, data.license) == ("transformers", "fill-mask", "mit")
    assert data.base_model == ["org/base"] and data.datasets == ["org/data"] and data.tags == ["dna"]
    results = {(r.dataset_type, r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results}
    # NaN is left out; values are rounded to 4 places.
    assert results == {("demo/heldout", "validation", "accuracy"): 0.1235, ("demo/heldout", "test", "perplexity"): 42.0}
    assert all(r.task_type == "fill-mask" for r in data.eval_results)
    assert loaded.text.startswith("\n# Demo (`demo-model`)\n\nA demo of 1,200 steps.")
    assert loaded.text.index("## Training") < loaded.text.index("## Limitations")


def test_model_card_refuses_a_missing_pipeline_tag_or_value(tmp_path):
    with pytest.raises(ValueError, match="pipeline_tag"):
        model_card("x", "demo.md", {}, scores=[], pipeline_tag="")
    # A figure the code did not pass stops the card instead of leaving a gap in it.
    (tmp_path / "demo.md").write_text(DEMO_TEMPLATE)
    with pytest.raises(jinja2.UndefinedError, match="steps"):
        model_card("x", "demo.md", {"title": "x"}, scores=[], pipeline_tag="fill-mask", templates=tmp_path)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_card_has_the_hub_metadata(name):
    data = ModelCard.load(ROOT / "checkpoints" / name / "README.md").data
    assert data.library_name == "transformers"
    assert data.pipeline_tag in {"text-generation", "fill-mask"}
    assert data.license == "apache-2.0" and data.tags
    assert data.eval_results and all(not math.isnan(result.metric_value) for result in data.eval_results)
    if name == "chatnt-mini":
        assert data.base_model == ["HuggingFaceTB/SmolLM2-135M-Instruct"]


def test_every_checkpoint_is_covered():
    assert {"chatnt-mini", "nt-mini-encoder", "dnahlm-mini"} <= set(SHIPPED)


def test_encoder_card_is_regenerated_exactly_from_the_files_shipped_with_it(tmp_path):
    checkpoint = ROOT / "checkpoints" / "nt-mini-encoder"
    card = encoder_card(checkpoint, checkpoint, card_path=tmp_path / "README.md")
    assert card.read_text() == (checkpoint / "README.md").read_text()


def dnahlm_runs(folder: Path, kmer: float = 0.5) -> dict:
    """Small stand-ins for the files the dnahlm-mini card reads (two training stages, one evaluation)."""
    for stage, minutes in (("pt", 10), ("sft", 50)):
        (folder / stage).mkdir(parents=True)
        state = {"global_step": 100, "train_batch_size": 8,
                 "log_history": [{"num_tokens": 2.0e6, "step": 100}, {"train_runtime": minutes * 60.0, "step": 100}]}
        (folder / stage / "trainer_state.json").write_text(json.dumps(state))
    (folder / "pt" / "eval_results.json").write_text(json.dumps({"english_bits_per_char": 2.5}))
    evaluation = folder / "eval"
    evaluation.mkdir()
    tasks = {task: {"task": task, "metric": spec.metric, "value": 0.4 if spec.type != "regression" else 0.95,
                    "exact_match": 0.6, "n": 10, "n_unparsed": 0} for task, spec in TASKS.items()}
    baselines = {task: {"kmer": {"value": kmer}, "majority": {"value": 0.0}, "n_train": 100 + i} for i, task in enumerate(TASKS)}
    (evaluation / "metrics.json").write_text(json.dumps({"tasks": tasks, "baselines": baselines}))
    published = {task: {"n": 10, "mcc_first_label": 0.7, "mcc_strict": 0.5, "mcc_first_line": 0.2,
                        "unreadable_strict": 0.1, "lenient_accuracy": 0.8}
                 for task in ("core_promoter", "promoter_300", "tf_binding", "splice_site", "promoter_terminator")}
    published["dnahl_gue_mean"] = {"mcc_first_label": 0.688, "mcc_strict": 0.493, "mcc_first_line": 0.209}
    (evaluation / "published.json").write_text(json.dumps(published))
    answers = [{"task": "rrna_type", "answer": "The answer is 23S.", "parsed": ""}] * 3
    answers += [{"task": "rrna_type", "answer": "16S", "parsed": "16S"}]
    (evaluation / "predictions.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    return {"pretrain_run": folder / "pt", "sft_run": folder / "sft", "evaluation": evaluation}


def test_dnahlm_card_reports_stages_scores_baselines_and_each_target(tmp_path):
    runs = dnahlm_runs(tmp_path / "runs")
    card = dnahlm_card(ROOT / "checkpoints" / "dnahlm-mini", **runs, card_path=tmp_path / "README.md")
    text = card.read_text()
    assert "100 steps x 8 blocks = 0.41 M tokens, 10 min" in text and "2.0 M tokens), 50 min" in text
    assert "our TRAIN halves hold 100-104 records per DNAHL task" in text
    assert "| rrna_type | mcc | 0.400 | 0.500 | 0.000 |" in text
    # 0.4 against a k-mer 0.5 is outside the 0.05 margin; r 0.95 meets 0.9; the GUE mean 0.4 misses 0.5.
    assert "- rrna_type: MCC 0.400 against k-mer 0.500 (target: within 0.05): **missed**" in text
    assert "- gc_content: Pearson r 0.950 (target: at least 0.9): **met**" in text
    assert "mean MCC 0.400 against k-mer 0.500" in text and "published 0.688 (first label) / 0.493 (strict)" in text
    data = ModelCard.load(card).data
    assert data.pipeline_tag == "text-generation" and len(data.eval_results) == 20
    easy = dnahlm_runs(tmp_path / "easy", kmer=0.42)
    met = dnahlm_card(ROOT / "checkpoints" / "dnahlm-mini", **easy, card_path=tmp_path / "easy.md",
                      training_phrasings=easy["evaluation"]).read_text()
    assert "- rrna_type: MCC 0.400 against k-mer 0.420 (target: within 0.05): **met**" in met
    assert '| rrna_type | mcc | 0.400 | 0.400 | 0 / 0 | "the answer is 23s" x3 |' in met


def test_dnahlm_card_adds_up_tuning_runs_that_continue_each_other(tmp_path):
    runs = dnahlm_runs(tmp_path / "runs")
    more = tmp_path / "runs" / "sft2"
    more.mkdir()
    state = {"global_step": 300, "train_batch_size": 8,
             "log_history": [{"num_tokens": 3.0e6, "step": 300}, {"train_runtime": 1800.0, "step": 300}]}
    (more / "trainer_state.json").write_text(json.dumps(state))
    command = "python -m chatnt.training.dnahlm.sft --model_name_or_path runs/sft --output_dir runs/sft2 --seed 1"
    (more / "README.md").write_text(f"# sft2\n\n- Reproduce: `{command}`\n")
    text = dnahlm_card(ROOT / "checkpoints" / "dnahlm-mini", **{**runs, "sft_run": [runs["sft_run"], more]},
                       card_path=tmp_path / "README.md").read_text()
    assert "400 steps x 8 examples (3,200 examples, 5.0 M tokens), 80 min in 2 runs" in text
    assert command in text and f"--source {more} --target" in text
    assert "--task_fractions" not in text  # no focus stage, no sentence about one
    focused = f"{command} --dropout 0 --task_fractions rrna_type=0.15 splice_site=0.3"
    (more / "README.md").write_text(f"# sft2\n\n- Reproduce: `{focused}`\n")
    text = dnahlm_card(ROOT / "checkpoints" / "dnahlm-mini", **{**runs, "sft_run": [runs["sft_run"], more]},
                       card_path=tmp_path / "README.md").read_text()
    assert ("Run 2 (300 steps) spent its steps on the tasks not learnt by then: it kept every example of those and a "
            "seeded share of the others' (`--task_fractions`: rrna_type 0.15, splice_site 0.3), so they are still seen "
            "and their answers not forgotten; with dropout 0.0 (`--dropout`).") in text
    (more / "README.md").write_text("# a run card without its command\n")
    with pytest.raises(ValueError, match="names no command"):
        dnahlm_card(ROOT / "checkpoints" / "dnahlm-mini", **{**runs, "sft_run": [runs["sft_run"], more]},
                    card_path=tmp_path / "README.md")


def test_dnahlm_card_names_a_missing_run_file_or_task(tmp_path):
    runs = dnahlm_runs(tmp_path / "runs")
    (runs["sft_run"] / "trainer_state.json").unlink()
    with pytest.raises(FileNotFoundError, match="trainer_state.json"):
        dnahlm_card(ROOT / "checkpoints" / "dnahlm-mini", **runs, card_path=tmp_path / "README.md")
    runs = dnahlm_runs(tmp_path / "partial")
    metrics = json.loads((runs["evaluation"] / "metrics.json").read_text())
    del metrics["tasks"]["tf_binding"]
    (runs["evaluation"] / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ValueError, match="scores no tf_binding"):
        dnahlm_card(ROOT / "checkpoints" / "dnahlm-mini", **runs, card_path=tmp_path / "README.md")


def tiny_encoder_run(folder: Path) -> dict:
    folder.mkdir()
    results = {"eval_ecoli_genome_accuracy": 0.25, "eval_ecoli_genome_perplexity": 12.5, "eval_ecoli_genome_masked_tokens": 40,
               "heldout_accuracy": 0.25, "heldout_perplexity": 12.5, "heldout_masked_tokens": 40}
    (folder / "eval_results.json").write_text(json.dumps(results))
    state = {"global_step": 50, "train_batch_size": 2, "logging_steps": 25,
             "log_history": [{"step": 25, "loss": 3.5}, {"step": 50, "loss": 3.0}, {"step": 50, "train_runtime": 120.0}]}
    (folder / "trainer_state.json").write_text(json.dumps(state))
    config = {"architectures": ["NucleotideTransformerForMaskedLM"], "hidden_size": 8, "num_hidden_layers": 1,
              "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 20, "max_position_embeddings": 34}
    (folder / "config.json").write_text(json.dumps(config))
    save_file({"nucleotide_transformer.embed.weight": torch.zeros(20, 8), "lm_head.decoder.weight": torch.zeros(20, 8)},
              folder / "model.safetensors")
    return results


def test_encoder_card_takes_its_figures_from_the_run(tmp_path):
    results = tiny_encoder_run(tmp_path / "run")
    card = ModelCard.load(encoder_card(tmp_path / "run", tmp_path / "run"))
    values = {(r.dataset_type, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert values[("chatnt/pretraining/ecoli_genome", "perplexity")] == results["eval_ecoli_genome_perplexity"]
    assert values[("chatnt/pretraining/all", "accuracy")] == results["heldout_accuracy"]
    assert card.data.pipeline_tag == "fill-mask"
    assert "| `ecoli_genome` | 40 | 0.250 | 12 |" in card.text  # masked tokens, accuracy, perplexity
    assert "0.00 M (0.00 M encoder + 0.00 M masked-LM head)" in card.text  # 320 + 160 + 160 parameters
    assert "3.50 (mean of steps 1-25) -> 3.00 (mean of steps 26-50)" in card.text
    assert "lr 1e-3" in card.text


def test_card_command_names_a_missing_run_and_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["nt-mini-encoder", "--run", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'nope' / 'eval_results.json'} is missing")


def test_learning_rates_are_written_as_typed():
    assert (scientific(1e-3), scientific(5e-5), scientific(3e-3)) == ("1e-3", "5e-5", "3e-3")


def test_chatnt_card_is_written_from_the_run_files(tmp_path):
    """ship_chatnt's card from an evaluation, a training-phrasings evaluation and a run's Trainer state: the figures
    land in the template's tables, optional sections are left out when their run is not given."""
    from chatnt.training.ship_chatnt import card

    out = tmp_path / "chatnt-mini"
    out.mkdir()
    (out / "config.json").write_text((ROOT / "checkpoints" / "chatnt-mini" / "config.json").read_text())

    def summary(value, exact):
        return {"tasks": {"rrna_type": {"metric": "mcc", "value": value, "exact_match": exact, "n": 500, "n_unparsed": 3}},
                "baselines": {"rrna_type": {"kmer": {"value": 0.961}, "majority": {"value": 0.0}}}}

    (tmp_path / "metrics.json").write_text(json.dumps(summary(0.556, 0.676)))
    (tmp_path / "training.json").write_text(json.dumps(summary(0.611, 0.7)))
    run = tmp_path / "run"
    run.mkdir()
    history = [{"step": 10, "loss": 2.074}, {"step": 3000, "loss": 0.379}, {"step": 3000, "train_runtime": 5280.0}]
    (run / "trainer_state.json").write_text(json.dumps({"global_step": 3000, "train_batch_size": 8, "log_history": history}))
    card(str(out), str(tmp_path / "metrics.json"), str(run), None, "python -m chatnt.training.chatnt_sft ...",
         training_phrasings=str(tmp_path / "training.json"))

    loaded = ModelCard.load(out / "README.md")
    assert loaded.data.eval_results[0].metric_value == 0.556
    text = loaded.text
    assert "| rrna_type | mcc | 0.556 | 0.961 | 0.000 | 0.676 | 500 | 3 |" in text  # test scores
    assert "| rrna_type | mcc | 0.556 | 0.611 | 0.961 | 500 |" in text  # held-out vs training wording
    assert "3000 optimizer steps of 8 conversations on the CPU (bf16 autocast, AMX), no GPU, 88 minutes." in text
    assert "Training loss 2.074 (first logged) to 0.379 (last logged)." in text
    assert "- `rrna_type`: ribosomal RNA gene type" in text and "trained further here" in text
    for left_out in ("## Training, stage 1", "## Calibrated", "## Attribution", "## Ablations", "## Plots"):
        assert left_out not in text
    assert "\n\n\n" not in text  # sections left out leave no gaps


def test_run_card_names_a_hub_start_as_base_model_but_not_a_local_folder(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from chatnt.training.run_card import write_run_card

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "previous").mkdir(parents=True)
    hub_id = "HuggingFaceTB/SmolLM2-135M-Instruct"
    for start, expected in (("runs/previous", None), (hub_id, hub_id)):
        output = tmp_path / "out"
        args = SimpleNamespace(output_dir=str(output), per_device_train_batch_size=8, gradient_accumulation_steps=1,
                               world_size=1)
        state = SimpleNamespace(log_history=[{"loss": 1.0}, {"train_runtime": 60.0}], global_step=10)
        trainer = SimpleNamespace(args=args, state=state, is_world_process_zero=lambda: True)
        output.mkdir(exist_ok=True)
        card = ModelCard.load(write_run_card(trainer, "chatnt.training.dnahlm.sft", start, "12 rows", "python -m x"))
        assert card.data.base_model == expected, start
        assert f"started from {start}" in card.text and "- Reproduce: `python -m x`" in card.text
