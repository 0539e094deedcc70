"""GPT-2 pre-training on the mixed corpus: smoke run (loss goes down) and resume equivalence."""

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from chatnt.tokenizer.train_bpe import BPETrainingArguments, train_bpe
from chatnt.training.dnahlm.corpus import SHARED_DATA
from chatnt.training.dnahlm.pretrain import bits_per_character, parse_args, pretrain

YEAST = SHARED_DATA / "yeast" / "someORF.fa"
WIKI = SHARED_DATA / "dnahl" / "wiki.valid.raw"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pt")
    english = root / "english.txt"
    english.write_text("".join(WIKI.open(encoding="utf-8").readlines()[:600]), encoding="utf-8")
    tokenizer_dir = root / "tokenizer"
    train_bpe(
        BPETrainingArguments(
            output_dir=str(tokenizer_dir),
            vocab_size=400,
            corpus_chars=80_000,
            dna_files=[str(YEAST)],
            english_files=[str(english)],
            compare=False,
        )
    )
    return {"root": root, "tokenizer": str(tokenizer_dir), "dna": str(YEAST), "english": str(english)}


def run(corpus, output_dir: Path, *extra: str):
    argv = [
        "--preset",
        "tiny",
        "--tokenizer",
        corpus["tokenizer"],
        "--dna_files",
        corpus["dna"],
        "--english_files",
        corpus["english"],
        "--heldout_fraction",
        "0.1",
        "--eval_blocks",
        "4",
        "--shuffle_buffer",
        "50",
        "--output_dir",
        str(output_dir),
        "--report_to",
        "none",
        "--seed",
        "3",
        "--use_cpu",
        "true",
        "--dataloader_pin_memory",
        "false",
        *extra,
    ]
    return pretrain(*parse_args(argv))


def test_loss_goes_down_and_perplexity_is_reported(corpus):
    out = corpus["root"] / "smoke"
    metrics = run(corpus, out, "--max_steps", "30", "--logging_steps", "5", "--save_steps", "100")
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) >= 4
    assert losses[-1] < losses[0] - 0.5
    for source in ("dna", "english"):
        assert metrics[f"{source}_perplexity"] == pytest.approx(
            torch.tensor(metrics[f"eval_{source}_loss"]).exp().item()
        )
        assert metrics[f"{source}_perplexity"] < 400  # below the uniform guess over the 400-token vocabulary
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    # Evaluating the saved model alone (--max_steps 0) reproduces the end-of-training figures.
    again = run(corpus, corpus["root"] / "eval-only", "--model_name_or_path", str(out), "--max_steps", "0")
    assert again["eval_dna_loss"] == pytest.approx(metrics["eval_dna_loss"], rel=1e-5)
    assert 0 < again["dna_bits_per_char"] < metrics["eval_dna_loss"] / math.log(2)


def test_zero_steps_without_a_model_saves_the_untrained_start(corpus):
    out = corpus["root"] / "untrained"
    metrics = run(corpus, out, "--max_steps", "0")
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert metrics["dna_perplexity"] > 100  # untrained: near the uniform guess over 400 tokens


def test_bits_per_character():
    class OneCharPerToken:
        def decode(self, ids, skip_special_tokens=True):
            return "x" * len(ids)

    # Loss ln(4) nats per token, one character per token: 2 bits per character.
    assert bits_per_character(math.log(4), [[1, 2, 3], [4, 5, 6]], OneCharPerToken()) == pytest.approx(2.0)


def test_resume_gives_the_same_weights(corpus):
    full = corpus["root"] / "full"
    run(corpus, full, "--max_steps", "8", "--save_steps", "4")
    resumed = corpus["root"] / "resumed"
    run(
        corpus, resumed, "--max_steps", "8", "--save_steps", "4", "--resume_from_checkpoint", str(full / "checkpoint-4")
    )
    uninterrupted = load_file(full / "model.safetensors")
    after_resume = load_file(resumed / "model.safetensors")
    assert uninterrupted.keys() == after_resume.keys()
    for name in uninterrupted:
        torch.testing.assert_close(after_resume[name], uninterrupted[name], rtol=0, atol=1e-6)
    # And resuming is not trivially equal: the checkpoint it started from differs from the end state.
    halfway = load_file(full / "checkpoint-4" / "model.safetensors")
    assert any(not torch.equal(halfway[n], uninterrupted[n]) for n in halfway)


@pytest.mark.parametrize("preset", ["tiny", "mini", "small"])
def test_every_preset_parses_into_known_arguments(preset, tmp_path):
    # An unknown key in a preset would come back as a fourth, unnamed namespace.
    parsed = parse_args(["--preset", preset, "--output_dir", str(tmp_path), "--bf16", "false", "--use_cpu", "true"])
    assert len(parsed) == 3 and parsed[0].preset == preset
