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


def test_the_id_is_the_first_word_whatever_the_whitespace(tmp_path):
    path = tmp_path / "tabs.fa"
    path.write_text(">tabid\tdescription words\nACGT\n>plain\nGGGG\n")
    records = list(iter_fasta(path))
    assert [(r.id, r.description) for r in records] == [("tabid", "description words"), ("plain", "")]


def test_bytes_that_are_not_utf8_are_refused_with_their_line(tmp_path):
    path = tmp_path / "latin.fa"
    path.write_bytes(b">ok\nACGT\n>caf\xe9\nGGGG\n")
    with pytest.raises(ValueError, match=r"latin.fa, line 3: byte b'\\xe9' at column 5 is not UTF-8 text. Save the file as UTF-8"):
        read_fasta(path)
    gzipped = tmp_path / "latin.fa.gz"
    gzipped.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(ValueError, match="line 3: byte"):
        read_fasta(gzipped)


def test_a_byte_order_mark_is_not_part_of_the_file(tmp_path):
    path = tmp_path / "bom.fa"
    path.write_bytes("\ufeff>seq1\nACGT\n".encode())
    assert read_fasta(path) == {"seq1": "ACGT"}


def test_comment_lines_are_read_before_a_sequence_and_refused_inside_one():
    assert parse_fasta_text(";old-style comment\n>a\n;about a\nACGT\nGG\n") == {"a": "ACGTGG"}
    with pytest.raises(ValueError, match="line 4: a ';' comment line inside the sequence of record 'a'"):
        parse_fasta_text(">a\nACGT\nGG\n;oops\nTTTT\n")
