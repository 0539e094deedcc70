"""Supervised multi-task warm-up of the encoder: mixture, label coding, TRAIN-only data, and a short real run."""

import json
from collections import Counter

import numpy as np
import pytest
import torch
from chatnt.modeling_chatnt import ChatNTForConditionalGeneration
from chatnt.modeling_nucleotide_transformer import NucleotideTransformerModel
from chatnt.training.encoder_multitask import (
    LabelCoder,
    MultiTaskEncoder,
    draw_mixture,
    main,
    split_records,
    task_loss,
)
from chatnt.tasks.registry import TASKS, load_task
from safetensors.torch import load_file


def test_the_mixture_draws_tasks_by_size_to_the_temperature_and_cycles_each_task_before_repeating():
    sizes = [100, 400, 10]
    pairs = draw_mixture(sizes, draws=30_000, temperature=0.5, seed=0)
    counts = Counter(task for task, _ in pairs)
    # Square-root weights 10 : 20 : 3.16.
    assert counts[1] / counts[0] == pytest.approx(2.0, rel=0.05)
    assert counts[2] / counts[0] == pytest.approx(0.316, rel=0.1)
    first_hundred = [record for task, record in pairs if task == 0][:100]
    assert sorted(first_hundred) == list(range(100))  # every record once before any repeat
    assert draw_mixture(sizes, 50, 0.5, seed=1) == draw_mixture(sizes, 50, 0.5, seed=1)


@pytest.mark.parametrize("name", ["core_promoter", "splice_site", "promoter_motifs", "gc_content"])
def test_labels_survive_the_round_trip_through_the_training_rows(name):
    task = TASKS[name]
    examples = {"binary": "promoter", "multiclass": "Donor Sites", "multilabel": ("TATA box", "Inr"), "regression": 42.5}
    label = examples[task.type]
    coder = LabelCoder(list(TASKS.values()), {"gc_content": [40.0, 50.0, 60.0]})
    row = coder.encode(task, label)
    assert len(row) == coder.width
    decoded = coder.label(task, np.array(row))
    assert decoded == pytest.approx(label) if task.type == "regression" else decoded == label


def test_each_row_is_scored_by_its_own_task_head_only():
    torch.manual_seed(0)
    from chatnt.configuration_nucleotide_transformer import NucleotideTransformerConfig

    encoder = NucleotideTransformerModel(NucleotideTransformerConfig(
        vocab_size=4107, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, pad_token_id=1))
    tasks = [TASKS["core_promoter"], TASKS["gc_content"]]
    model = MultiTaskEncoder(encoder, tasks)
    ids = torch.randint(5, 4000, (4, 7))
    mask = torch.ones_like(ids)
    labels = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.3, 0.0], [-1.2, 0.0]])
    task_index = torch.tensor([0, 0, 1, 1])
    out = model(ids, mask, task_index, labels)
    pooled = encoder(input_ids=ids, attention_mask=mask).last_hidden_state.mean(1)
    expected = (task_loss(tasks[0], model.heads[0](pooled[:2]), labels[:2])
                + task_loss(tasks[1], model.heads[1](pooled[2:]), labels[2:])) / 4
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert out["logits"][2:, 1].abs().sum() == 0  # the regression head is one column wide


def test_validation_is_a_hashed_share_of_train_and_test_records_stay_test():
    data = load_task("core_promoter")
    parts = split_records(data, validation_fraction=0.1)
    ids = {split: {record["id"] for record in records} for split, records in parts.items()}
    assert ids["test"] == {r["id"] for r in data if r["split"] == "test"}
    assert not ids["validation"] & ids["train"]
    assert ids["validation"] | ids["train"] == {r["id"] for r in data if r["split"] == "train"}
    assert 0.04 < len(ids["validation"]) / (len(ids["validation"]) + len(ids["train"])) < 0.2


def test_a_short_warm_up_trains_and_saves_an_encoder_chatnt_can_be_built_on(parts, tmp_path, capsys):
    out = tmp_path / "warm"
    main([
        "--encoder", parts["encoder"], "--tasks", "core_promoter,gc_content", "--draws", "96",
        "--per_device_train_batch_size", "16", "--eval_strategy", "no", "--save_strategy", "no",
        "--output_dir", str(out), "--report_to", "none", "--bf16", "False", "--disable_tqdm", "True",
    ])
    printed = capsys.readouterr().out
    assert "core_promoter_test:" in printed and "gc_content_validation:" in printed
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores["test"]) == {"core_promoter", "gc_content"} and scores["steps"] == 6
    before = load_file(f"{parts['encoder']}/model.safetensors")
    after = load_file(out / "model.safetensors")
    assert set(after) == set(before)  # the encoder alone: the heads are not saved
    assert any(not torch.equal(before[name], after[name]) for name in before)
    assert NucleotideTransformerModel.from_pretrained(out).config.hidden_dropout_prob == 0.0
    model, _ = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(str(out), parts["decoder"], num_latents=4)
    assert torch.equal(model.model.dna_encoder.embeddings.word_embeddings.weight, after["embeddings.word_embeddings.weight"])
