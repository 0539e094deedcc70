"""NT v2 masked-LM pre-training: BERT masking rates, the held-out split, a smoke run, resume equivalence."""

import json
import random

import pytest
import torch
from chatnt import NucleotideTransformerTokenizer
from chatnt.training.encoder_pretraining import (
    NucleotideMasker,
    load_segments,
    main,
    parse_args,
    parse_sources,
    pretrain,
)
from safetensors.torch import load_file


@pytest.fixture(scope="module")
def fasta(tmp_path_factory) -> str:
    """Records assembled from 8 random 60 bp motifs: little entropy, so a tiny model learns in a few steps."""
    rng = random.Random(0)
    motifs = ["".join(rng.choice("ACGT") for _ in range(60)) for _ in range(8)]
    path = tmp_path_factory.mktemp("dna") / "motifs.fa"
    with open(path, "w") as handle:
        handle.writelines(f">r{index}\n" + "".join(rng.choice(motifs) for _ in range(30)) + "\n" for index in range(40))
    return str(path)


def tiny_argv(fasta: str, output_dir, *extra: str) -> list[str]:
    return [
        "--preset", "tiny",
        "--sources", f"motifs={fasta}",
        "--segment_length", "600",
        "--heldout_fraction", "0.2",
        "--eval_windows_per_source", "8",
        "--output_dir", str(output_dir),
        "--report_to", "none",
        "--use_cpu",
        "--disable_tqdm", "true",
        "--seed", "7",
        *extra,
    ]


def test_masking_chooses_15_percent_of_nucleotides_and_splits_them_80_10_10():
    tokenizer = NucleotideTransformerTokenizer()
    masker = NucleotideMasker(tokenizer)
    rng = random.Random(0)
    windows = [[tokenizer.cls_token_id] + [rng.randrange(6, 4107) for _ in range(rng.randint(300, 400))] for _ in range(64)]
    rows = [masker(ids, seed=0, stream=0, index=index) for index, ids in enumerate(windows)]
    original = torch.tensor([ids for window in windows for ids in window])
    ids = torch.tensor([token for row in rows for token in row["input_ids"]])
    labels = torch.tensor([label for row in rows for label in row["labels"]])
    chosen = labels != -100
    assert not chosen[original < 6].any(), "<cls> was chosen"
    assert torch.equal(labels[chosen], original[chosen])
    assert abs(chosen.sum() / (original >= 6).sum() - 0.15) < 0.01
    masked = chosen & (ids == tokenizer.mask_token_id)
    unchanged = chosen & (ids == original)
    replaced = chosen & ~masked & ~unchanged
    assert abs(masked.sum() / chosen.sum() - 0.8) < 0.02
    assert abs(replaced.sum() / chosen.sum() - 0.1) < 0.02
    assert abs(unchanged.sum() / chosen.sum() - 0.1) < 0.02
    assert (ids[replaced] >= 6).all(), "a random replacement was a special token"
    assert torch.equal(ids[~chosen], original[~chosen])


def test_masks_depend_on_seed_stream_and_index_only():
    masker = NucleotideMasker(NucleotideTransformerTokenizer())
    window = [3] + list(range(100, 400))
    assert masker(window, seed=1, stream=0, index=5) == masker(list(window), seed=1, stream=0, index=5)
    for other in ({"seed": 2, "stream": 0, "index": 5}, {"seed": 1, "stream": 1, "index": 5}, {"seed": 1, "stream": 0, "index": 6}):
        assert masker(window, **other)["labels"] != masker(window, seed=1, stream=0, index=5)["labels"]


def test_heldout_split_is_disjoint_complete_and_keeps_identical_segments_together(tmp_path):
    path = tmp_path / "split.fa"
    repeated = "ACGTTGCA" * 25
    rng = random.Random(1)
    records = [repeated, repeated] + ["".join(rng.choice("ACGT") for _ in range(200)) for _ in range(60)]
    path.write_text("".join(f">dup\n{sequence}\n" for sequence in records))  # repeated ids are read too
    train = load_segments(str(path), 200, 0.3, heldout=False)
    heldout = load_segments(str(path), 200, 0.3, heldout=True)
    assert sorted(train + heldout) == sorted(records)
    assert not set(train) & set(heldout)
    assert 5 <= len(heldout) <= 35
    assert load_segments.__wrapped__(str(path), 200, 0.3, heldout=True) == heldout


def test_sources_need_unique_names_and_existing_files(fasta):
    assert parse_sources([fasta]) == {"motifs": fasta}
    with pytest.raises(ValueError, match="Two sources are named"):
        parse_sources([fasta, f"motifs={fasta}"])
    with pytest.raises(FileNotFoundError, match="no file at"):
        parse_sources(["missing=/nonexistent.fa"])


def test_pretraining_lowers_the_loss_and_reports_heldout_accuracy_and_perplexity(fasta, tmp_path, capsys):
    main(tiny_argv(fasta, tmp_path, "--max_steps", "30", "--save_steps", "100"))
    printed = dict(line.split(": ") for line in capsys.readouterr().out.splitlines() if line.startswith("heldout_"))
    history = json.loads((tmp_path / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert losses[0] - losses[-1] > 0.4, losses
    assert 0.0 <= float(printed["heldout_masked_accuracy"]) <= 1.0
    # Below the uniform guess over the vocabulary (4107) once the motifs' 6-mers are learnt.
    assert float(printed["heldout_perplexity"]) < 3500
    assert int(printed["heldout_masked_tokens"]) > 20
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "vocab.txt").is_file()


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_run(fasta, tmp_path):
    full = tmp_path / "full"
    pretrain(*parse_args(tiny_argv(fasta, full, "--max_steps", "8", "--save_steps", "4")))
    resumed = tmp_path / "resumed"
    pretrain(*parse_args(tiny_argv(fasta, resumed, "--max_steps", "8", "--save_steps", "4",
                                   "--resume_from_checkpoint", str(full / "checkpoint-4"))))
    expected, actual = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert expected.keys() == actual.keys()
    halfway = load_file(full / "checkpoint-4" / "model.safetensors")
    assert any(not torch.equal(halfway[name], expected[name]) for name in expected), "the second half trained nothing"
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
