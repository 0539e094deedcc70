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
     ("Is @seq1 a promoter?", "missing.fa", "FASTA file not found")],
)
def test_ask_reports_bad_input_without_a_traceback(saved_model, capsys, question, fasta_name, message):
    model, fasta = saved_model
    assert main(["ask", question, "--fasta", fasta_name or fasta, "--model", model]) == 2
    error = capsys.readouterr().err
    assert f"chatnt: error: {message}" in error and "Traceback" not in error
