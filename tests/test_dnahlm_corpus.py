"""The mixed DNA + English corpus: line cutting, the hash split, mixing and input errors."""

import gzip
import itertools

import pytest

from chatnt.training.dnahlm.corpus import (
    SHARED_DATA,
    dna_lines,
    english_lines,
    mixed_text_dataset,
    read_fasta,
    round_robin,
    split_of,
)

YEAST = SHARED_DATA / "yeast" / "someORF.fa"
WIKI = SHARED_DATA / "dnahl" / "wiki.valid.raw"


def test_dna_lines_have_the_published_lengths_and_cover_the_records():
    lines = list(dna_lines([YEAST], min_length=300, max_length=1000, seed=0))
    assert all(300 <= len(line) <= 1000 for line in lines)
    assert all(set(line) <= set("ACGTN") for line in lines)
    total = sum(len(seq) for _, seq in read_fasta(YEAST))
    # Only each record's tail shorter than 300 bp is dropped.
    assert total - 7 * 300 < sum(map(len, lines)) <= total


def test_dna_lines_are_reproducible_and_seeded():
    first = list(dna_lines([YEAST], seed=0))
    assert first == list(dna_lines([YEAST], seed=0))
    assert first != list(dna_lines([YEAST], seed=1))


def test_soft_masked_dna_is_uppercased(tmp_path):
    fasta = tmp_path / "x.fa.gz"
    with gzip.open(fasta, "wt") as handle:
        handle.write(">r\nacgt" * 1 + "ACGT" * 100 + "\n")
    assert list(dna_lines([fasta], min_length=300, max_length=300)) == [("ACGT" * 101)[:300]]


def test_split_is_stable_and_partitions_the_lines():
    lines = list(english_lines([WIKI]))[:2000]
    heldout = list(english_lines([WIKI], split="heldout", heldout_fraction=0.05))
    train = list(english_lines([WIKI], split="train", heldout_fraction=0.05))
    assert not set(heldout) & set(train)
    assert len(heldout) + len(train) == len(list(english_lines([WIKI])))
    assert 0.02 < len(heldout) / (len(heldout) + len(train)) < 0.08
    assert [split_of(line, 0.05) for line in lines] == [split_of(line, 0.05) for line in lines]


def test_round_robin_alternates_sources():
    assert list(round_robin([iter("ab"), iter("xyz")])) == ["a", "x", "b", "y", "z"]


def test_mixed_dataset_respects_the_dna_fraction():
    dataset = mixed_text_dataset([YEAST], [WIKI], dna_fraction=0.5, seed=0)
    rows = list(itertools.islice(iter(dataset), 60))
    sources = {row["source"] for row in rows}
    assert sources == {"dna", "english"}
    only_english = list(itertools.islice(iter(mixed_text_dataset([YEAST], [WIKI], dna_fraction=0.0)), 20))
    assert {row["source"] for row in only_english} == {"english"}


def test_bad_inputs_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.fa"):
        mixed_text_dataset([tmp_path / "nope.fa"], [WIKI])
    with pytest.raises(ValueError, match="dna_fraction"):
        mixed_text_dataset([YEAST], [WIKI], dna_fraction=1.5)
    with pytest.raises(ValueError, match="split"):
        mixed_text_dataset([YEAST], [WIKI], split="test")
    bad = tmp_path / "bad.fa"
    bad.write_text("ACGT\n>r\nACGT\n")
    with pytest.raises(ValueError, match="is not a FASTA file: line 1 starts with 'ACGT'"):
        list(read_fasta(bad))
