"""The classification-head baseline: per-task data from the fixed split, metrics, and a smoke run."""

import numpy as np
import pytest
from transformers import AutoTokenizer, EvalPrediction, HfArgumentParser, TrainingArguments

from chatnt.tokenizer.train_bpe import BPETrainingArguments, train_bpe
from chatnt.training.dnahlm.classify import (
    TRAINING_DEFAULTS,
    ClassifyArguments,
    compute_metrics,
    task_datasets,
    train_classifier,
)
from chatnt.training.dnahlm.corpus import SHARED_DATA
from chatnt.training.dnahlm.pretrain import build_model


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    english = out / "english.txt"
    wiki = SHARED_DATA / "dnahl" / "wiki.valid.raw"
    english.write_text("".join(wiki.open(encoding="utf-8").readlines()[:200]), encoding="utf-8")
    tokenizer = train_bpe(
        BPETrainingArguments(
            output_dir=str(out / "model"),
            vocab_size=400,
            corpus_chars=40_000,
            dna_files=[str(SHARED_DATA / "yeast" / "someORF.fa")],
            english_files=[str(english)],
            compare=False,
        )
    )
    build_model("tiny", tokenizer).save_pretrained(out / "model")
    return out / "model"


def test_task_data_follows_the_split(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    train, test = task_datasets("tf_binding", tokenizer, max_length=64)
    assert len(train) + len(test) == 182 and len(test) == 103
    assert set(train["labels"]) == {0, 1}
    assert max(len(ids) for ids in test["input_ids"]) <= 64
    with pytest.raises(ValueError, match="not a published"):
        task_datasets("rrna_type", tokenizer, 64)


def test_metrics():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    metrics = compute_metrics(EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 1, 1])))
    assert metrics["accuracy"] == 0.75
    assert metrics["mcc"] == pytest.approx(0.5773502691896258)


def test_classifier_trains_and_scores_the_test_half(tiny_model_dir, tmp_path):
    args = TrainingArguments(
        output_dir=str(tmp_path / "cls"),
        max_steps=4,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=32,
        learning_rate=1e-3,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        dataloader_pin_memory=False,
    )
    metrics = train_classifier("tf_binding", str(tiny_model_dir), args, max_length=64)
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0 and -1.0 <= metrics["eval_mcc"] <= 1.0
    assert metrics["epoch"] > 0


def test_cli_defaults_are_known_training_arguments(tmp_path):
    parser = HfArgumentParser((ClassifyArguments, TrainingArguments))
    parser.set_defaults(**TRAINING_DEFAULTS)
    parsed = parser.parse_args_into_dataclasses(args=["--model_name_or_path", "m", "--output_dir", str(tmp_path)])
    assert len(parsed) == 2 and parsed[1].warmup_steps == TRAINING_DEFAULTS["warmup_steps"]
