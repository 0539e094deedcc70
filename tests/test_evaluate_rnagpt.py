"""RNA-GPT evaluation table: held-out record choice, the raw-sequence prompt, and end-to-end runs of the
three systems on tiny stage-1/stage-2 checkpoints over a tiny rRNA folder laid out like the shared data."""

import contextlib
import csv
import gzip
import io
import json

import pytest
import torch
from chatnt.evaluation.metrics import rouge_scores
from chatnt.training import evaluate_rnagpt
from chatnt.training.chatnt_sft import lora_config
from chatnt.training.evaluate_rnagpt import (
    held_out_records,
    main,
    raw_sequence_question,
    stage1_data_settings,
)
from chatnt.training.rnagpt import (
    RRNA_FILES,
    RnaRecord,
    accession_split,
    build_stage1_model,
    load_stage1,
)
from helpers import random_dna
from peft import get_peft_model

torch.set_num_threads(1)

TITLES = {
    "16S": "{organism} strain {n} 16S ribosomal RNA gene, partial sequence.",
    "18S": "{organism} 18S ribosomal RNA gene, complete sequence.",
    "LSU": "{organism} clone c{n} 23S ribosomal RNA gene, partial sequence.",
}
ORGANISMS = ["Bacillus subtilis", "Achelia echinata", "Pseudomonas sp.", "Uncultured bacterium"]


def accessions(split: str, count: int, prefix: str) -> list[str]:
    """The first ``count`` accessions ``<prefix>00000``, ``<prefix>00001``, ... that fall in ``split``."""
    found, index = [], 0
    while len(found) < count:
        accession = f"{prefix}{index:05d}"
        if accession_split(accession) == split:
            found.append(accession)
        index += 1
    return found


@pytest.fixture(scope="module")
def rrna_dir(tmp_path_factory):
    """Three gzipped FASTA files named as in the shared data: per file 3 test and 4 train accessions,
    120-nt sequences, one test accession with a second (operon) copy."""
    root = tmp_path_factory.mktemp("data")
    (root / "rrna").mkdir()
    for file_index, (source, name) in enumerate(RRNA_FILES.items()):
        prefix = f"A{source[:2]}"
        chosen = accessions("test", 3, prefix) + accessions("train", 4, prefix)
        lines = []
        for index, accession in enumerate(chosen):
            title = TITLES[source].format(organism=ORGANISMS[index % len(ORGANISMS)], n=index)
            lines += [f">{accession} {title} 120 bp", random_dna(120, seed=100 * file_index + index)]
        lines += [f">{chosen[0]} {TITLES[source].format(organism=ORGANISMS[0], n=0)} 120 bp", random_dna(120, seed=999)]
        with gzip.open(root / name, "wt", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def checkpoints(parts, tmp_path_factory):
    """A tiny stage-1 checkpoint saved as the recipe saves it (decoder-free, with rnagpt_training.json),
    and a stage-2 LoRA adapter over it (LoRA B set non-zero, so stage 2 is not stage 1)."""
    root = tmp_path_factory.mktemp("rnagpt-eval")
    model, processor = build_stage1_model(parts["encoder"], parts["decoder"])
    model.save_pretrained(root / "stage1", include_text_model=False)
    processor.save_pretrained(root / "stage1")
    summary = {"stage": 1, "arguments": {"max_records_per_file": 50, "window": 60}}
    (root / "stage1" / "rnagpt_training.json").write_text(json.dumps(summary))
    base, processor = load_stage1(root / "stage1")
    tuned = get_peft_model(base, lora_config("decoder", 2, 4, 0.0, train_dna_encoder=False))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in tuned.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)
    tuned.save_pretrained(root / "stage2")
    processor.save_pretrained(root / "stage2")
    return {"stage1": str(root / "stage1"), "stage2": str(root / "stage2")}


def fake_embedding_similarity(predictions, references):
    """Stands in for MiniLM in the fast tests: a deterministic score from the word overlap."""
    overlap = [
        len(set(p.lower().split()) & set(r.lower().split())) / max(len(set(r.lower().split())), 1)
        for p, r in zip(predictions, references)
    ]
    mean = sum(overlap) / len(overlap)
    return {"embedding_precision": mean, "embedding_recall": mean / 2, "embedding_f1": mean / 3}


@pytest.fixture(scope="module")
def run(rrna_dir, checkpoints, parts, tmp_path_factory):
    """All three systems, 6 held-out records, embedding scores faked; returns the output folder and stdout."""
    output_dir = tmp_path_factory.mktemp("eval") / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate_rnagpt, "embedding_similarity", fake_embedding_similarity)
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            metrics = main([
                "--stage1", checkpoints["stage1"],
                "--stage2", checkpoints["stage2"],
                "--data_dir", str(rrna_dir),
                "--max_examples", "6",
                "--max_new_tokens", "6",
                "--batch_size", "4",
                "--qa_per_task", "2",
                "--output_dir", str(output_dir),
            ])
    return {"output_dir": output_dir, "stdout": stdout.getvalue(), "metrics": metrics}


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_held_out_records_are_test_split_one_per_accession_spread_across_files():
    records = [
        RnaRecord(f"{source}{i}", f"d{i}", "ACGT" * 10, source, "test" if i % 2 else "train")
        for source in ("16S", "18S", "LSU")
        for i in range(8)
    ] + [RnaRecord("LSU1", "d1", "TTTT" * 10, "LSU", "test")]  # a second operon copy
    chosen = held_out_records(records, 7)
    assert len(chosen) == 7 and all(record.split == "test" for record in chosen)
    assert [record.source for record in chosen] == ["16S", "18S", "LSU", "16S", "18S", "LSU", "16S"]
    assert len({(r.source, r.accession) for r in chosen}) == 7
    assert held_out_records(list(reversed(records)), 7) == chosen  # file order does not matter
    assert len(held_out_records(records, None)) == 12  # 4 test accessions per file
    with pytest.raises(ValueError, match="No test-split record"):
        held_out_records([r for r in records if r.split == "train"], 5)


def test_raw_llm_question_holds_the_sequence_as_rna_text():
    record = RnaRecord("X1", "d", "ACGTTGCA", "16S", "test")
    assert raw_sequence_question(record) == "Describe this RNA sequence: ACGUUGCA"


def test_data_settings_come_from_the_stage1_run(checkpoints, tmp_path):
    assert stage1_data_settings(checkpoints["stage1"])["window"] == 60
    assert stage1_data_settings(checkpoints["stage1"])["max_records_per_file"] == 50
    assert stage1_data_settings(tmp_path)["window"] == 600  # no summary: the mini preset


def test_end_to_end_writes_predictions_metrics_and_tables(run, rrna_dir):
    output_dir = run["output_dir"]
    predictions = read_jsonl(output_dir / "predictions.jsonl")
    assert [row["system"] for row in predictions] == ["raw_llm"] * 6 + ["stage1"] * 6 + ["stage2"] * 6
    # Only test-split records, the same ones for every system, spread over the three files.
    for system in ("raw_llm", "stage1", "stage2"):
        rows = [row for row in predictions if row["system"] == system]
        assert [row["accession"] for row in rows] == [row["accession"] for row in predictions[:6]]
        assert all(accession_split(row["accession"]) == "test" for row in rows)
        assert sorted(row["source"] for row in rows) == ["16S", "16S", "18S", "18S", "LSU", "LSU"]
    # The reference is the description; the raw LLM was given the 60-nt window as RNA text.
    sequences = {}
    for source, name in RRNA_FILES.items():
        with gzip.open(rrna_dir / name, "rt") as handle:
            lines = handle.read().splitlines()
        for header, sequence in zip(lines[::2], lines[1::2]):
            accession, _, title = header[1:].partition(" ")
            sequences.setdefault((source, accession), (title.removesuffix(" 120 bp"), sequence))
    for row in predictions:
        title, sequence = sequences[row["source"], row["accession"]]
        assert row["reference"] == title
        if row["system"] == "raw_llm":
            assert sequence[:60].replace("T", "U") in row["prompt"] and sequence[:61].replace("T", "U") not in row["prompt"]
        else:
            assert row["prompt"] == "@rna"
    # Metrics are rouge_scores of the predictions, recomputed.
    metrics = json.loads((output_dir / "metrics.json").read_text())
    for system, scores in metrics["systems"].items():
        rows = [row for row in predictions if row["system"] == system]
        recomputed = rouge_scores([r["prediction"] for r in rows], [r["reference"] for r in rows])
        assert {key: scores[key] for key in recomputed} == pytest.approx(recomputed)
        fake = fake_embedding_similarity([r["prediction"] for r in rows], [r["reference"] for r in rows])
        assert {key: scores[key] for key in fake} == pytest.approx(fake)
        assert scores["n"] == 6
        assert scores["mean_answer_words"] == pytest.approx(sum(len(r["prediction"].split()) for r in rows) / 6)
    assert metrics["settings"]["window"] == 60
    assert 0 <= metrics["stage2_questions"]["exact_match"] <= 1 and metrics["stage2_questions"]["n"] > 0
    # Tables: rows are systems, the agreed columns.
    with open(output_dir / "table.csv") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == ["system", "ROUGE-1", "ROUGE-2", "ROUGE-L", "Emb-P", "Emb-R", "Emb-F1", "n", "mean words"]
    assert [row["system"] for row in table] == ["raw_llm", "stage1", "stage2"]
    assert float(table[1]["ROUGE-L"]) == pytest.approx(metrics["systems"]["stage1"]["rougeL"])
    markdown = (output_dir / "table.md").read_text().splitlines()
    assert markdown[0].startswith("| system | ROUGE-1 |") and len(markdown) == 5


def test_stdout_ends_with_headline_lines(run):
    lines = run["stdout"].strip().splitlines()
    assert lines[-1].startswith("stage2_question_exact_match: ")
    headlines = dict(line.split(": ") for line in lines[-25:-1])
    assert float(headlines["raw_llm_rouge_l"]) == pytest.approx(run["metrics"]["systems"]["raw_llm"]["rougeL"], abs=1e-3)
    assert float(headlines["stage2_embedding_f1"]) == pytest.approx(run["metrics"]["systems"]["stage2"]["embedding_f1"], abs=1e-3)
    assert headlines["stage1_n"] == "6"


def test_stage2_adapter_changes_the_answers_of_stage1(run):
    """The run really loaded the adapter: with LoRA B non-zero, stage 2 does not copy stage 1."""
    predictions = read_jsonl(run["output_dir"] / "predictions.jsonl")
    stage1 = [row["prediction"] for row in predictions if row["system"] == "stage1"]
    stage2 = [row["prediction"] for row in predictions if row["system"] == "stage2"]
    assert stage1 != stage2


def test_a_subset_of_systems_and_clear_errors(rrna_dir, checkpoints, parts, tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate_rnagpt, "embedding_similarity", fake_embedding_similarity)
    metrics = main([
        "--systems", "raw_llm", "--decoder", parts["decoder"], "--window", "30", "--max_records_per_file", "0",
        "--data_dir", str(rrna_dir), "--max_examples", "2", "--max_new_tokens", "3", "--output_dir", str(tmp_path),
    ])
    assert list(metrics["systems"]) == ["raw_llm"] and metrics["settings"]["window"] == 30
    prompts = [row["prompt"] for row in read_jsonl(tmp_path / "predictions.jsonl")]
    assert all(len(prompt.removeprefix("Describe this RNA sequence: ")) == 30 for prompt in prompts)
    with pytest.raises(SystemExit):
        main(["--systems", "stage2", "--stage1", checkpoints["stage1"], "--output_dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["--systems", "raw_llm,stage3", "--stage1", checkpoints["stage1"], "--output_dir", str(tmp_path)])


@pytest.mark.slow
def test_embedding_scores_use_minilm(run):
    """The real all-MiniLM-L6-v2 scores of the run's predictions: an answer equal to its reference scores 1."""
    from chatnt.evaluation.metrics import embedding_similarity

    rows = read_jsonl(run["output_dir"] / "predictions.jsonl")
    references = [row["reference"] for row in rows[:3]]
    scores = evaluate_rnagpt.score_descriptions(references, references)
    assert scores["embedding_f1"] == pytest.approx(1.0, abs=1e-4) and scores["rougeL"] == pytest.approx(1.0)
    real = evaluate_rnagpt.score_descriptions([row["prediction"] for row in rows[:3]], references)
    assert real["embedding_f1"] == pytest.approx(
        embedding_similarity([row["prediction"] for row in rows[:3]], references)["embedding_f1"]
    )
    assert real["embedding_f1"] < 0.9
