"""The small random decoder for fast ChatNT runs: its config, the retrained tokenizer, the saved folder, the CLI."""

import json

import pytest
import torch
from chatnt import ChatNTForConditionalGeneration
from chatnt.training.small_decoder import (
    BUILD_INFO_FILE,
    build_small_decoder,
    chat_texts,
    main,
    shrink_tokenizer,
    small_decoder_config,
)
from transformers import AutoModelForCausalLM, AutoTokenizer

CHAT_TEMPLATE = "{% for message in messages %}<s>{{ message['role'] }}\n{{ message['content'] }}</s>\n{% endfor %}"
ROWS = [
    {"messages": [{"role": "user", "content": "Is it true that @seq contains a TATA box? Answer yes or no."},
                  {"role": "assistant", "content": "Yes."}]},
    {"messages": [{"role": "user", "content": "Tell me whether @seq contains a TATA box. Reply with yes or no."},
                  {"role": "assistant", "content": "no"}]},
] * 20
SHAPE = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, intermediate_size=32)


@pytest.fixture
def chat_tokenizer(text_tokenizer, tmp_path):
    """The tests' tiny BPE with a chat template, saved where build_small_decoder can load it."""
    text_tokenizer.chat_template = CHAT_TEMPLATE
    text_tokenizer.save_pretrained(tmp_path / "tokenizer")
    text_tokenizer.chat_template = None
    return str(tmp_path / "tokenizer")


def test_config_takes_the_tokenizer_vocabulary_and_special_ids(text_tokenizer):
    config = small_decoder_config(text_tokenizer, **SHAPE)
    assert config.vocab_size == len(text_tokenizer)
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (
        text_tokenizer.bos_token_id, text_tokenizer.eos_token_id, text_tokenizer.pad_token_id)
    assert config.tie_word_embeddings and config.initializer_range == 0.2


@pytest.mark.parametrize(
    "shape, message",
    [(dict(hidden_size=30, num_attention_heads=4), "multiple of num_attention_heads"),
     (dict(num_attention_heads=4, num_key_value_heads=3), "multiple of num_key_value_heads"),
     (dict(initializer_range=0.0), "initializer_range positive")],
)
def test_config_refuses_shapes_llama_cannot_take(text_tokenizer, shape, message):
    with pytest.raises(ValueError, match=message):
        small_decoder_config(text_tokenizer, **shape)


def test_chat_texts_render_the_template(chat_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(chat_tokenizer)
    texts = chat_texts(ROWS[:2], tokenizer)
    assert texts[0].startswith("<s>user\nIs it true that @seq") and texts[0].endswith("<s>assistant\nYes.</s>\n")
    with pytest.raises(ValueError, match="No rows"):
        chat_texts([], tokenizer)


def test_shrunk_tokenizer_keeps_special_ids_and_encodes_any_text(chat_tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(chat_tokenizer)
    texts = chat_texts(ROWS, tokenizer)
    shrunk = shrink_tokenizer(tokenizer, texts, vocab_size=290)
    assert len(shrunk) <= 290
    for token in tokenizer.all_special_tokens:
        assert shrunk.convert_tokens_to_ids(token) == tokenizer.convert_tokens_to_ids(token)
    assert shrunk.chat_template == tokenizer.chat_template
    # Byte-level: text far from the corpus still round-trips, only in more pieces.
    assert shrunk.decode(shrunk("Zebra crossing at 42°C!")["input_ids"]) == "Zebra crossing at 42°C!"
    # The corpus's words become single tokens.
    assert len(shrunk(" TATA")["input_ids"]) < len(" TATA")


def test_shrink_refuses_a_vocabulary_below_the_byte_alphabet(text_tokenizer):
    with pytest.raises(ValueError, match="at least 260"):
        shrink_tokenizer(text_tokenizer, ["yes no"], vocab_size=100)


def test_built_folder_loads_and_drives_a_chatnt_model(chat_tokenizer, parts, tmp_path):
    corpus = chat_texts(ROWS, AutoTokenizer.from_pretrained(chat_tokenizer))
    path = build_small_decoder(tmp_path / "decoder", chat_tokenizer, corpus, vocab_size=290, seed=1, **SHAPE)
    decoder, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    assert decoder.config.vocab_size == len(tokenizer) <= 290
    assert decoder.config.hidden_size == 16 and decoder.config.num_hidden_layers == 1
    assert decoder.generation_config.eos_token_id == tokenizer.eos_token_id
    info = json.loads((path / BUILD_INFO_FILE).read_text())
    assert info["retrained_tokenizer"] and info["vocab_size"] == len(tokenizer) and info["seed"] == 1

    model, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        parts["encoder"], str(path), projector_type="linear")
    batch = processor("Is it true that @seq contains a TATA box?", {"seq": "ACGTACGTTATAAAAGGCACGT"})
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape[-1] == len(processor.tokenizer) and torch.isfinite(logits).all()


def test_same_seed_same_weights(chat_tokenizer, tmp_path):
    first = build_small_decoder(tmp_path / "a", chat_tokenizer, seed=3, **SHAPE)
    second = build_small_decoder(tmp_path / "b", chat_tokenizer, seed=3, **SHAPE)
    weights = [AutoModelForCausalLM.from_pretrained(path).state_dict() for path in (first, second)]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_query_and_key_start_smaller_than_the_rest(chat_tokenizer, tmp_path):
    path = build_small_decoder(tmp_path / "decoder", chat_tokenizer, initializer_range=0.2, attention_init_range=0.02,
                               **SHAPE | {"hidden_size": 64})
    attention = AutoModelForCausalLM.from_pretrained(path).model.layers[0].self_attn
    std = {name: getattr(attention, name).weight.std().item() for name in ("q_proj", "k_proj", "v_proj")}
    assert std["q_proj"] == pytest.approx(0.02, rel=0.1) and std["k_proj"] == pytest.approx(0.02, rel=0.2)
    assert std["v_proj"] == pytest.approx(0.2, rel=0.2)
    with pytest.raises(ValueError, match="attention_init_range must be positive"):
        build_small_decoder(tmp_path / "other", chat_tokenizer, attention_init_range=0.0, **SHAPE)


def test_cli_refuses_an_existing_model_with_exit_code_2(chat_tokenizer, tmp_path, capsys):
    arguments = ["--output_dir", str(tmp_path / "decoder"), "--tokenizer", chat_tokenizer, "--hidden_size", "16",
                 "--num_attention_heads", "2", "--num_key_value_heads", "1", "--intermediate_size", "32"]
    assert main(arguments) == 0
    assert "vocab_size: " in capsys.readouterr().out
    assert main(arguments) == 2
    assert "already holds a model" in capsys.readouterr().err
