"""The `chatnt ask` command behind the README's main command, on a tiny saved model."""

import pytest

from chatnt.cli import main


@pytest.fixture
def saved_model(tmp_path, make_model, make_processor):
    directory = tmp_path / "chatnt-tiny"
    make_model().save_pretrained(directory)
    make_processor().save_pretrained(directory)
    fasta = tmp_path / "records.fa"
    fasta.write_text(">seq1 a record\nACGTACGTAAGGCTTTGACAATCG\n")
    return str(directory), str(fasta)


def test_ask_prints_an_answer(saved_model, capsys):
    model, fasta = saved_model
    assert main(["ask", "Is @seq1 a promoter?", "--fasta", fasta, "--model", model, "--max-new-tokens", "3"]) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    "question, fasta_name, message",
    [("Is @seq2 a promoter?", None, "unknown sequence reference @seq2. Known names: @seq1"),
     ("Is @seq10 a promoter?", None, "unknown sequence reference @seq10. Known names: @seq1"),
     ("Is @seq1 a promoter?", "missing.fa", "FASTA file not found")],
)
def test_ask_reports_bad_input_without_a_traceback(saved_model, capsys, question, fasta_name, message):
    model, fasta = saved_model
    assert main(["ask", question, "--fasta", fasta_name or fasta, "--model", model]) == 2
    error = capsys.readouterr().err
    assert f"chatnt: error: {message}" in error and "Traceback" not in error


def test_attribute_writes_plots_and_json_and_prints_a_table(saved_model, tmp_path, capsys):
    import json

    model, fasta = saved_model
    out = tmp_path / "attr"
    assert main(["attribute", "Is @seq1 a promoter?", "--fasta", fasta, "--model", model, "--out", str(out),
                 "--answer", "Yes, it is a promoter."]) == 0
    printed = capsys.readouterr().out
    assert "answer: Yes, it is a promoter." in printed and "target token:" in printed
    table_row = next(line for line in printed.splitlines() if line.startswith("seq1"))
    assert table_row.split()[1] == "24"  # bp, then peak and the top 6-mers
    assert {path.name for path in out.iterdir()} == {"seq1_track.png", "seq1_logo.png", "attribution.json"}
    saved = json.loads((out / "attribution.json").read_text())
    assert saved["question"] == "Is @seq1 a promoter?" and saved["answer"] == "Yes, it is a promoter."
    (record,) = saved["sequences"]
    assert record["name"] == "seq1" and len(record["base_scores"]) == len(record["sequence"]) == 24
    assert record["files"] == ["seq1_track.png", "seq1_logo.png"]


def test_attribute_generates_the_answer_when_none_is_given(saved_model, tmp_path, capsys):
    model, fasta = saved_model
    assert main(["attribute", "Is @seq1 a promoter?", "--fasta", fasta, "--model", model, "--out", str(tmp_path),
                 "--max-new-tokens", "3"]) == 0
    assert "target token:" in capsys.readouterr().out
    assert (tmp_path / "seq1_logo.png").stat().st_size > 0


@pytest.mark.parametrize(
    "question, fasta_name, sequence, message",
    [("Is @seq2 a promoter?", None, None, "unknown sequence reference @seq2. Known names: @seq1"),
     ("Is @seq1 a promoter?", "missing.fa", None, "FASTA file not found"),
     ("Is @seq1 a promoter?", None, "ACGTRYACGT", "@seq1: DNA sequence contains characters that are not nucleotides")],
)
def test_attribute_reports_bad_input_without_a_traceback(saved_model, tmp_path, capsys, question, fasta_name,
                                                         sequence, message):
    model, fasta = saved_model
    if sequence is not None:
        fasta = tmp_path / "bad.fa"
        fasta.write_text(f">seq1\n{sequence}\n")
    assert main(["attribute", question, "--fasta", str(fasta_name or fasta), "--model", model,
                 "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"chatnt: error: {message}" in error and "Traceback" not in error


def test_evaluate_forwards_to_evaluate_chatnt(capsys):
    assert main(["evaluate", "--help"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("usage: chatnt evaluate") and "--output_dir" in printed and "--rescore" in printed
    assert main(["evaluate", "--tasks", "no_such_task", "--output_dir", "x"]) == 2
    assert "unknown task(s) ['no_such_task']" in capsys.readouterr().err
