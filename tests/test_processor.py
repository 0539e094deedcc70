import gzip

import pytest
import torch
from chatnt import DEFAULT_SYSTEM_PROMPT, ChatNTProcessor
from helpers import random_dna


def _placeholders(processor, inputs, row=None):
    ids = inputs["input_ids"] if row is None else inputs["input_ids"][row]
    return int((ids == processor.dna_token_id).sum())


def test_single_question_expands_each_placeholder_to_k_tokens(make_processor):
    processor = make_processor()
    inputs = processor("Compare <DNA> with <DNA>.", [random_dna(30), random_dna(12, seed=1)])
    assert set(inputs) == {"input_ids", "attention_mask", "dna_input_ids", "dna_attention_mask"}
    assert _placeholders(processor, inputs) == 2 * 4
    assert inputs["dna_input_ids"].shape == (2, 6)  # <cls> + 5 six-mers for 30 bp
    assert inputs["dna_attention_mask"].sum(-1).tolist() == [6, 3]


def test_vicuna_template_is_used_when_the_tokenizer_has_none(make_processor):
    processor = make_processor()
    text = processor.decode(processor("Is <DNA> a promoter?", ["ACGTACGT"])["input_ids"][0])
    assert text.startswith("<s>" + DEFAULT_SYSTEM_PROMPT + " USER: Is <DNA><DNA><DNA><DNA> a promoter?")
    assert text.endswith(" ASSISTANT:")


def test_decoder_chat_template_is_used_when_present(text_tokenizer, dna_tokenizer):
    template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    processor = ChatNTProcessor(text_tokenizer, dna_tokenizer, chat_template=template, dna_tokens_per_sequence=2)
    text = processor.decode(processor("Is <DNA> a promoter?", ["ACGT"])["input_ids"][0])
    assert text == f"<|system|>{DEFAULT_SYSTEM_PROMPT}\n<|user|>Is <DNA><DNA> a promoter?\n<|assistant|>"


def test_labels_cover_the_answer_and_end_of_turn_only(make_processor, text_tokenizer):
    processor = make_processor()
    inputs = processor(["Is <DNA> a promoter?", "Is <DNA> a splice site?"], ["ACGTACGT", "GGGTAAGT"],
                       answers=["Yes, it is a promoter.", "No."])
    assert inputs["attention_mask"][:, 0].all()  # right padding when training
    for row, answer in enumerate(["Yes, it is a promoter.", "No."]):
        labelled = inputs["labels"][row][inputs["labels"][row] != -100]
        assert text_tokenizer.decode(labelled).strip() == answer + "</s>"
    assert (inputs["labels"][inputs["input_ids"] == processor.dna_token_id] == -100).all()


def test_multi_turn_conversation_labels_every_assistant_turn(make_processor, text_tokenizer):
    processor = make_processor()
    conversation = [
        {"role": "user", "content": "Is <DNA> a promoter?"},
        {"role": "assistant", "content": "Yes."},
        {"role": "user", "content": "What type of ribosomal RNA is this?"},
        {"role": "assistant", "content": "It is a 16S ribosomal RNA."},
    ]
    inputs = processor(conversation, ["ACGTACGTAC"])
    labelled = text_tokenizer.decode(inputs["labels"][0][inputs["labels"][0] != -100])
    assert labelled.replace(" ", "") == "Yes.</s>Itisa16SribosomalRNA.</s>"


def test_named_references_with_punctuation_and_email(make_processor):
    processor = make_processor()
    named = {"wildtype": "ACGTACGTACGT", "mut.1": "ACGAACGTACGT", "unused": "GGGG"}
    inputs = processor("Mail me at a@b.org: does @wildtype or @mut.1. bind?", named)
    assert _placeholders(processor, inputs) == 2 * 4
    expected = processor.dna_tokenizer([named["wildtype"], named["mut.1"]], padding=True, return_tensors="pt")
    assert torch.equal(inputs["dna_input_ids"], expected["input_ids"])
    assert "bind?" in processor.decode(inputs["input_ids"][0]) and "a@b.org" in processor.decode(inputs["input_ids"][0])


def test_references_resolve_against_fasta_record_ids(tmp_path, make_processor):
    path = tmp_path / "variants.fa.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(">wt reference allele\nACGTACGT\nACGT\n>alt\nACGAACGTACGT\n")
    processor = make_processor()
    inputs = processor("Effect of @alt vs @wt?", str(path))
    rows = processor.dna_tokenizer.batch_decode(inputs["dna_input_ids"], skip_special_tokens=True)
    assert rows == ["ACGAACGTACGT", "ACGTACGTACGT"]


def test_unknown_name_is_named_with_suggestions(make_processor):
    with pytest.raises(ValueError, match=r"unknown sequence reference @wildtyp\. Known names: @wildtype.*Did you mean @wildtype"):
        make_processor()("Is @wildtyp a promoter?", {"wildtype": "ACGT"})


def test_placeholder_count_mismatch_names_both_counts(make_processor):
    with pytest.raises(ValueError, match=r"2 <DNA> placeholder\(s\) but 1 DNA sequence\(s\)"):
        make_processor()("Compare <DNA> with <DNA>", ["ACGT"])
    with pytest.raises(ValueError, match=r"example 1: the text holds 0 <DNA> placeholder\(s\) but 1"):
        make_processor()(["Is <DNA> ok?", "No placeholder"], [["ACGT"], ["ACGT"]])


def test_mixing_tags_and_placeholders_is_rejected(make_processor):
    with pytest.raises(ValueError, match="mixes"):
        make_processor()("Is <DNA> like @a?", {"a": "ACGT", "b": "ACGT"})


def test_overlong_dna_raises_unless_truncation_is_requested(text_tokenizer, dna_tokenizer):
    processor = ChatNTProcessor(text_tokenizer, dna_tokenizer, dna_tokens_per_sequence=4, max_dna_tokens=5)
    with pytest.raises(ValueError, match="sequence 0 has 60 bp = 11 DNA tokens, more than the limit of 5"):
        processor("Is <DNA> long?", [random_dna(60)])
    inputs = processor("Is <DNA> long?", [random_dna(60)], truncate_dna=True)
    assert inputs["dna_input_ids"].shape == (1, 5)


def test_bad_alphabet_error_names_the_sequence(make_processor):
    with pytest.raises(ValueError, match="@prot: DNA sequence contains characters that are not nucleotides.*protein"):
        make_processor()("Is @prot a promoter?", {"prot": "MKVLEELFPQ"})


def test_batch_with_different_counts_uses_left_padding_for_generation(make_processor):
    processor = make_processor()
    inputs = processor(["<DNA> <DNA> <DNA>?", "Just text, no sequence at all, quite a long question"],
                       [[random_dna(20, s) for s in range(3)], []])
    assert [_placeholders(processor, inputs, row) for row in range(2)] == [12, 0]
    assert inputs["attention_mask"][:, -1].all()
    assert inputs["dna_input_ids"].shape[0] == 3


def test_published_input_form_is_accepted(make_processor):
    processor = make_processor()
    published = processor({"english_sequence": "Is <DNA> a promoter?", "dna_sequences": ["ACGTACGT"]})
    ours = processor("Is <DNA> a promoter?", ["ACGTACGT"])
    assert all(torch.equal(published[key], ours[key]) for key in ours)


def test_linear_projection_gets_one_placeholder_per_dna_token(make_processor):
    processor = make_processor("linear")
    inputs = processor("Is <DNA> or <DNA> a promoter?", [random_dna(30), random_dna(8, seed=2)])
    assert _placeholders(processor, inputs) == int(inputs["dna_attention_mask"].sum()) == 6 + 4


def test_tokenizer_without_dna_token_is_rejected(dna_tokenizer):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    plain = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"a": 0, "<unk>": 1}, unk_token="<unk>")))
    with pytest.raises(ValueError, match="has no <DNA> token"):
        ChatNTProcessor(plain, dna_tokenizer)


def test_placeholder_outside_user_turns_is_rejected(text_tokenizer, dna_tokenizer):
    processor = ChatNTProcessor(text_tokenizer, dna_tokenizer, dna_tokens_per_sequence=4,
                                system_prompt="Sequences are shown as <DNA> in questions.")
    with pytest.raises(ValueError, match="a system message contains <DNA>"):
        processor("Is <DNA> a promoter?", ["ACGTACGT"])


def test_unknown_keyword_arguments_are_rejected(make_processor):
    with pytest.raises(TypeError, match="truncate"):
        make_processor()("Is <DNA> a promoter?", ["ACGT"], truncate=True)
