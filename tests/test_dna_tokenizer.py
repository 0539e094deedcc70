import random

import pytest
import torch
from chatnt import NucleotideTransformerTokenizer
from chatnt.tokenization_nucleotide_transformer import nucleotide_transformer_vocabulary
from transformers import AutoTokenizer, EsmTokenizer


@pytest.fixture(scope="module")
def esm_tokenizer(tmp_path_factory, dna_tokenizer):
    directory = tmp_path_factory.mktemp("nt_vocab")
    dna_tokenizer.save_pretrained(directory)
    # The published NT tokenizer is an EsmTokenizer over this vocabulary that prepends <cls> only.
    return EsmTokenizer(str(directory / "vocab.txt"), eos_token=None)


def test_vocabulary_order_matches_published_layout():
    vocabulary = nucleotide_transformer_vocabulary()
    assert len(vocabulary) == 4107
    assert vocabulary[:6] == ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"]
    assert vocabulary[6] == "AAAAAA" and vocabulary[7] == "AAAAAT" and vocabulary[4101] == "GGGGGG"
    assert vocabulary[4102:] == ["A", "T", "C", "G", "N"]


def test_ids_equal_esm_tokenizer_on_random_acgtn(dna_tokenizer, esm_tokenizer):
    rng = random.Random(1)
    sequences = ["N", "NNNN", "A", "ACGTAC", "ACGTACG", "NACGTACN", "AAAAAANAAAAAAA"]
    for i in range(400):
        alphabet = "ACGTN" if i % 2 else "ACGT"
        sequences.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120))))
    ours = dna_tokenizer(sequences)["input_ids"]
    reference = [esm_tokenizer(sequence)["input_ids"] for sequence in sequences]
    assert ours == reference
    # The Rust backend (used by tokenize / save / load) cuts the same way as the vectorised path.
    assert [[3] + dna_tokenizer.backend_tokenizer.encode(s, add_special_tokens=False).ids for s in sequences] == ours


def test_nt_rules_on_a_worked_example(dna_tokenizer):
    ids = dna_tokenizer("ATTCCGATTCCGAAN")["input_ids"]
    assert dna_tokenizer.convert_ids_to_tokens(ids) == ["<cls>", "ATTCCG", "ATTCCG", "A", "A", "N"]


def test_lowercase_and_rna_are_normalised(dna_tokenizer):
    assert dna_tokenizer("acgtacgu")["input_ids"] == dna_tokenizer("ACGTACGT")["input_ids"]


@pytest.mark.parametrize(
    "sequence, expected",
    [("ACGTRY", "'R'"), ("MKVLEELF", "protein"), ("ACG T", "' '"), ("ACGT-", "'-'")],
)
def test_invalid_characters_raise_clear_errors(dna_tokenizer, sequence, expected):
    with pytest.raises(ValueError, match="not nucleotides") as error:
        dna_tokenizer(sequence)
    assert expected in str(error.value)


def test_opt_in_maps_other_letters_to_n_but_not_symbols(dna_tokenizer):
    assert dna_tokenizer("ACGTRY", replace_unknown_with_n=True)["input_ids"][-2:] == [4106, 4106]
    with pytest.raises(ValueError, match="'-'"):
        dna_tokenizer("ACGT-", replace_unknown_with_n=True)


def test_empty_sequence_in_batch_is_named(dna_tokenizer):
    with pytest.raises(ValueError, match="DNA sequence 1 is empty"):
        dna_tokenizer(["ACGT", ""])


def test_padding_truncation_and_tensors(dna_tokenizer):
    batch = dna_tokenizer(["ACGTACGTAA", "ACG"], padding=True, return_tensors="pt")
    # ACGTAC | G T A A (leftover bases are single tokens); ACG is three single tokens.
    assert batch["input_ids"].tolist() == [[3, 728, 4105, 4103, 4102, 4102], [3, 4102, 4104, 4105, 1, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]]
    left = dna_tokenizer(["ACG", "A"], padding="max_length", max_length=6, padding_side="left")
    assert left["input_ids"] == [[1, 1, 3, 4102, 4104, 4105], [1, 1, 1, 1, 3, 4102]]
    truncated = dna_tokenizer("ACGTACGTACGTACGT", truncation=True, max_length=2)
    assert truncated["input_ids"] == [3, 728]
    assert isinstance(dna_tokenizer(["ACGT"], padding=True, return_tensors="pt")["input_ids"], torch.Tensor)


def test_save_and_reload_give_identical_ids(tmp_path, dna_tokenizer):
    dna_tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "vocab.txt").read_text().split("\n")[6] == "AAAAAA"
    reloaded = NucleotideTransformerTokenizer.from_pretrained(tmp_path)
    via_auto = AutoTokenizer.from_pretrained(tmp_path)  # registered by `import chatnt`
    sequences = ["ACGTNNACGTAAGG", "GATTACA" * 20]
    assert reloaded(sequences)["input_ids"] == dna_tokenizer(sequences)["input_ids"]
    assert via_auto(sequences)["input_ids"] == dna_tokenizer(sequences)["input_ids"]
    from_vocab_file = NucleotideTransformerTokenizer(vocab_file=str(tmp_path / "vocab.txt"))
    assert from_vocab_file(sequences)["input_ids"] == dna_tokenizer(sequences)["input_ids"]


def test_decode_round_trip(dna_tokenizer):
    ids = dna_tokenizer("ACGTACGTAANC")["input_ids"]
    assert dna_tokenizer.decode(ids, skip_special_tokens=True) == "ACGTACGTAANC"
