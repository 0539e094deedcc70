"""Property-based tests (Hypothesis) of what users type and upload: FASTA reading with the ids, wrapping and line
endings real files have, ``@name`` resolution, and the round trip through ``predict``'s TSV and its resume."""

import gzip
import importlib
import json
import os
import tempfile
from pathlib import Path

import pytest

from chatnt.commands import AnswerResult
from chatnt.commands.predict import COLUMNS, predict
from chatnt.commands.sharding import finished_keys
from chatnt.fasta import parse_fasta_text, read_fasta
from chatnt.processing_chatnt import TAG, TAG_TRAILING, split_tag
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli_commands import save_tiny_model

predict_module = importlib.import_module("chatnt.commands.predict")

# Characters real FASTA ids hold (accessions, coordinates, pipes of NCBI and UniProt headers, dots of versions).
ID_CHARACTERS = st.sampled_from("ABCXYZabcxyz0123456789_-.:|/+=#%@~")
IDS = st.text(ID_CHARACTERS, min_size=1, max_size=24)
DESCRIPTIONS = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30)
SEQUENCES = st.text(st.sampled_from("ACGTNacgtn"), min_size=1, max_size=200)


@st.composite
def fasta_files(draw):
    """FASTA text and the records it holds: unique ids, descriptions after a space or a tab, sequences wrapped at
    any width, LF or CRLF line ends, blank lines between records, with or without a final line end."""
    ids = draw(st.lists(IDS, min_size=1, max_size=6, unique=True))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    records, lines = [], []
    for record_id in ids:
        description = draw(DESCRIPTIONS).strip()
        sequence = draw(SEQUENCES)
        width = draw(st.integers(1, 80))
        separator = draw(st.sampled_from([" ", "\t"]))
        lines.append(f">{record_id}{separator + description if description else ''}")
        lines += [sequence[i : i + width] for i in range(0, len(sequence), width)]
        lines += [""] * draw(st.integers(0, 2))
        records.append((record_id, sequence, description))
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    return text, records


@given(fasta_files())
def test_fasta_reading_returns_every_record_exactly(case):
    text, records = case
    assert parse_fasta_text(text) == {record_id: sequence for record_id, sequence, _ in records}


@given(fasta_files(), st.booleans(), st.booleans())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_a_file_reads_the_same_from_disk_with_or_without_bom_and_gzip(case, bom, gzipped):
    text, records = case
    data = ("\ufeff" if bom else "").encode() + text.encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records.fa"
        path.write_bytes(gzip.compress(data) if gzipped else data)
        assert read_fasta(path) == {record_id: sequence for record_id, sequence, _ in records}


# Names a user can write as @tags: TAG's characters, not ending in the sentence punctuation a tag may carry.
TAG_NAMES = st.text(st.sampled_from("ABCabc0123_-.:|/+=~"), min_size=1, max_size=12).filter(
    lambda name: not name.endswith(tuple(TAG_TRAILING)) and TAG.fullmatch("@" + name) is not None
)


@given(st.lists(TAG_NAMES, min_size=1, max_size=6, unique=True), st.data())
def test_a_tag_names_exactly_its_record_whatever_punctuation_follows(names, data):
    name = data.draw(st.sampled_from(names))
    trailing = data.draw(st.text(st.sampled_from(TAG_TRAILING), max_size=3))
    question = f"Is @{name}{trailing} a promoter?"
    (match,) = TAG.finditer(question)
    assert split_tag(match.group(1), set(names)) == (name, trailing)


@given(TAG_NAMES, st.text(st.sampled_from("ABCabc0123_-|/+=~"), min_size=1, max_size=5))
def test_a_known_name_never_captures_a_longer_tag(name, rest):
    assert split_tag(name + rest, {name}) is None


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, text_tokenizer, dna_tokenizer) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("chatnt-tiny"), text_tokenizer, dna_tokenizer)


def fake_answer_batch(chatnt, questions, sequences, confidence, **kwargs):
    """Answers by sequence length: deterministic, instant, and different across records."""
    return [AnswerResult(f"Yes, {len(dna[0])} bp." if len(dna[0]) % 2 else "No.") for dna in sequences]


@given(fasta_files(), st.integers(0, 6), st.integers(1, 4))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_predict_rows_round_trip_the_ids_and_a_resume_redoes_only_what_is_missing(
    tiny_model_dir, case, interrupted_after, batch_size
):
    text, records = case
    original = predict_module.answer_batch
    predict_module.answer_batch = fake_answer_batch
    try:
        with tempfile.TemporaryDirectory() as folder:
            fasta, out = Path(folder) / "in.fa", Path(folder) / "out.tsv"
            fasta.write_text(text, newline="")
            predict(fasta, "Is @seq a promoter? Answer yes or no.", out, model=tiny_model_dir, batch_size=batch_size,
                    progress=False)
            finished = out.read_text(encoding="utf-8")
            rows = [line.split("\t") for line in finished.splitlines()[1:]]
            assert [row[0] for row in rows] == [record_id for record_id, _, _ in records]
            # An interrupted run: the first rows, then half a line; the resume finishes it to the same file.
            kept = min(interrupted_after, len(rows))
            lines = finished.splitlines(keepends=True)
            partial = Path(f"{out}.partial")
            partial.write_text("".join(lines[: 1 + kept]) + lines[-1][:3], encoding="utf-8")
            settings_path = Path(f"{out}.partial.json")
            os.replace(out, Path(folder) / "done.tsv")
            settings = predict_module._settings(
                fasta, "Is @seq a promoter? Answer yes or no.", None, "auto", tiny_model_dir, 32, True, batch_size
            )
            settings_path.write_text(json.dumps(settings))
            assert len(finished_keys(partial, "\t".join(COLUMNS))) == kept
            summary = predict(fasta, "Is @seq a promoter? Answer yes or no.", out, model=tiny_model_dir,
                              batch_size=batch_size, progress=False)
            assert summary.answered == len(rows) - kept
            assert out.read_text(encoding="utf-8") == finished
    finally:
        predict_module.answer_batch = original
