import gzip

import pytest
from chatnt import iter_fasta, parse_fasta_text, read_fasta
from helpers import SHARED_DATA


def test_reads_multiline_records_and_descriptions(tmp_path):
    path = tmp_path / "two.fa"
    path.write_text(">seq1 a promoter\nACGT\nacgt\n\n>seq2\nGGGG\n")
    records = list(iter_fasta(path))
    assert [(r.id, r.sequence, r.description) for r in records] == [("seq1", "ACGTacgt", "a promoter"), ("seq2", "GGGG", "")]


def test_reads_gzip_by_content_not_name(tmp_path):
    path = tmp_path / "plain_name.fa"
    path.write_bytes(gzip.compress(b">x\nACGT\n"))
    assert read_fasta(path) == {"x": "ACGT"}


def test_reads_real_shared_data():
    records = read_fasta(SHARED_DATA / "yeast" / "someORF.fa")
    assert len(records) == 7 and all(set(seq) <= set("ACGT") for seq in records.values())


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "holds no FASTA record"),
        ("ACGT\n>x\nACGT\n", "is not a FASTA file: line 1"),
        (">a\nACGT\n>a\nGGGG\n", "duplicate record id 'a' \\(first seen on line 1\\)"),
        (">a\n>b\nACGT\n", "record 'a' has no sequence"),
        (">\nACGT\n", "header without a sequence id"),
    ],
)
def test_malformed_files_raise_with_line_numbers(content, message):
    with pytest.raises(ValueError, match=message):
        parse_fasta_text(content)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="FASTA file not found"):
        read_fasta(tmp_path / "nope.fa")
    with pytest.raises(IsADirectoryError):
        read_fasta(tmp_path)
