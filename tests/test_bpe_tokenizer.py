"""The unified DNA+English BPE: training, reload, exact round trips, templates, reference tokenizers."""

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from chatnt.tokenizer.compare import nucleotide_transformer_6mer, tokenizer_stats
from chatnt.tokenizer.train_bpe import (
    EOS_TOKEN,
    PAD_TOKEN,
    BPETrainingArguments,
    build_bpe_tokenizer,
    train_bpe,
)
from chatnt.training.dnahlm.corpus import SHARED_DATA, dna_lines, english_lines
from chatnt.tasks.dnahl import alpaca_prompt

DNA_FILE = SHARED_DATA / "yeast" / "someORF.fa"
ENGLISH_FILE = SHARED_DATA / "dnahl" / "wiki.valid.raw"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok")
    english = out / "english.txt"
    english.write_text("".join(ENGLISH_FILE.open(encoding="utf-8").readlines()[:400]), encoding="utf-8")
    args = BPETrainingArguments(
        output_dir=str(out / "tokenizer"),
        vocab_size=600,
        corpus_chars=60_000,
        dna_files=[str(DNA_FILE)],
        english_files=[str(english)],
        heldout_fraction=0.0,
        min_frequency=2,
        compare=False,
    )
    train_bpe(args)
    return out / "tokenizer"


def test_reload_gives_identical_ids(trained):
    tokenizer = AutoTokenizer.from_pretrained(trained)
    reloaded_twice = AutoTokenizer.from_pretrained(trained)
    text = "The promoter region ACGTTGCATGCAAATTTGGGCCC is upstream of the gene."
    assert tokenizer(text)["input_ids"] == reloaded_twice(text)["input_ids"]
    raw = __import__("tokenizers").Tokenizer.from_file(str(trained / "tokenizer.json"))
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == raw.encode(text, add_special_tokens=False).ids


def test_tokenizer_json_is_kept_not_rebuilt_as_gpt2(trained):
    tokenizer = AutoTokenizer.from_pretrained(trained)
    assert "GPT2" not in type(tokenizer).__name__
    pre = tokenizer.backend_tokenizer.pre_tokenizer.__getstate__()
    assert b"ByteLevel" in pre and b'"add_prefix_space":false' in pre


def test_dna_and_english_round_trip_exactly(trained):
    tokenizer = AutoTokenizer.from_pretrained(trained)
    dna = next(dna_lines([DNA_FILE], min_length=300, max_length=300))
    english = next(english_lines([ENGLISH_FILE]))
    mixed = f"Sequence:\n{dna}\nis  a  peak. Ünïcode — too."
    for text in (dna, english, mixed):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text


def test_dna_merges_into_long_tokens(trained):
    tokenizer = AutoTokenizer.from_pretrained(trained)
    dna = next(dna_lines([DNA_FILE], min_length=300, max_length=300))
    assert len(tokenizer.tokenize(dna)) < len(dna) / 2


def test_special_tokens_pad_distinct_from_eos(trained):
    tokenizer = AutoTokenizer.from_pretrained(trained)
    assert tokenizer.eos_token == EOS_TOKEN and tokenizer.pad_token == PAD_TOKEN
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.convert_ids_to_tokens([0, 1]) == [EOS_TOKEN, PAD_TOKEN]


def test_chat_template_renders_the_alpaca_prompt(trained):
    tokenizer = AutoTokenizer.from_pretrained(trained)
    messages = [{"role": "user", "content": "Is this a promoter?", "input": "ACGTACGT"}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == alpaca_prompt("Is this a promoter?", "ACGTACGT")
    no_input = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Define DNA."}], tokenize=False, add_generation_prompt=True
    )
    assert no_input == alpaca_prompt("Define DNA.")
    answered = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": "promoter"}], tokenize=False)
    assert answered == alpaca_prompt("Is this a promoter?", "ACGTACGT") + "promoter" + EOS_TOKEN


def test_empty_corpus_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        build_bpe_tokenizer(iter([]), vocab_size=300)


def test_missing_corpus_file_is_an_error(tmp_path):
    args = BPETrainingArguments(
        output_dir=str(tmp_path / "t"), vocab_size=300, dna_files=[str(tmp_path / "missing.fa")], compare=False
    )
    with pytest.raises(FileNotFoundError, match="missing.fa"):
        train_bpe(args)


def test_vocab_smaller_than_bytes_is_an_error():
    with pytest.raises(ValueError, match="at least 258"):
        build_bpe_tokenizer(iter(["ACGT"]), vocab_size=100)


def test_nt_6mer_rule():
    encoding = nucleotide_transformer_6mer().encode("ACGTACGTTTNACGTAC")
    assert encoding.tokens == ["ACGTAC", "G", "T", "T", "T", "N", "ACGTAC"]
    assert nucleotide_transformer_6mer().get_vocab_size() == 4107


def test_stats_on_known_input():
    nt = nucleotide_transformer_6mer()
    stats = tokenizer_stats("nt", nt, ["ACGTAC" * 10], ["hello"])
    assert stats.dna_bp_per_token == 6.0
    assert stats.english_chars_per_token == 1.0 and stats.english_unk_share == 1.0
    assert stats.longest_dna_token == 6
    with pytest.raises(ValueError, match="non-empty"):
        tokenizer_stats("nt", nt, [], ["hello"])


def test_training_refuses_to_write_over_an_existing_tokenizer(tmp_path, capsys):
    from chatnt.tokenizer.train_bpe import main

    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        main(["--output_dir", str(tmp_path), "--vocab_size", "300"])
    assert stop.value.code == 2 and "--overwrite true" in capsys.readouterr().err
    assert (tmp_path / "tokenizer.json").read_text(encoding="utf-8") == "{}"
