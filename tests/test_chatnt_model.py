import pytest
import torch
from chatnt import ChatNTConfig
from helpers import random_dna, tiny_chatnt_config

PROJECTORS = ["english_aware_perceiver", "perceiver", "linear"]


def _batch(processor, n_sequences_per_example, answers=None):
    questions, sequences = [], []
    for example, count in enumerate(n_sequences_per_example):
        questions.append("Which of these binds? " + " and ".join(["<DNA>"] * count) if count else "No DNA here?")
        sequences.append([random_dna(20 + 7 * i + example, seed=10 * example + i) for i in range(count)])
    return processor(questions, sequences, answers=answers)


@pytest.mark.parametrize("projector_type", PROJECTORS)
def test_forward_shapes_and_placeholder_counts(make_model, make_processor, projector_type):
    model, processor = make_model(projector_type), make_processor(projector_type)
    inputs = _batch(processor, [2, 1])
    assert inputs["dna_input_ids"].shape[0] == 3
    per_sequence = 4 if projector_type != "linear" else None
    expected = 3 * 4 if per_sequence else int(inputs["dna_attention_mask"].sum())
    assert int((inputs["input_ids"] == processor.dna_token_id).sum()) == expected
    output = model(**inputs)
    assert output.logits.shape == (*inputs["input_ids"].shape, model.config.text_config.vocab_size)


@pytest.mark.parametrize("projector_type", PROJECTORS)
def test_one_batch_overfits_and_only_encoder_and_projection_train(make_model, make_processor, projector_type):
    # A random decoder with the usual 0.02 init barely reacts to its input embeddings; with larger
    # weights the frozen decoder can be steered, and the loss can only fall through the DNA vectors.
    model, processor = make_model(projector_type, decoder_init_range=0.2), make_processor(projector_type)
    inputs = _batch(processor, [1, 2], answers=["Yes, it is a promoter.", "The first sequence binds."])
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if "language_model" in n}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert not any(p.requires_grad for n, p in model.named_parameters() if "language_model" in n or "lm_head" in n)
    optimizer = torch.optim.Adam(trainable, lr=3e-3)
    model.train()
    losses = []
    for _ in range(20):
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses
    for name, parameter in model.named_parameters():
        if name in frozen_before:
            assert torch.equal(parameter, frozen_before[name]), name


@pytest.mark.parametrize("projector_type", PROJECTORS)
def test_greedy_generation_with_cache_equals_without(make_model, make_processor, projector_type):
    model, processor = make_model(projector_type), make_processor(projector_type)
    inputs = _batch(processor, [2, 1])
    with_cache = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    without_cache = model.generate(**inputs, max_new_tokens=8, do_sample=False, use_cache=False)
    assert torch.equal(with_cache, without_cache)


def test_dna_is_encoded_once_per_generate_call(make_model, make_processor):
    model, processor = make_model(), make_processor()
    calls = []
    model.model.dna_encoder.register_forward_hook(lambda module, args, output: calls.append(1))
    model.generate(**_batch(processor, [2, 1]), max_new_tokens=6, do_sample=False, min_new_tokens=6)
    assert len(calls) == 1
    model.generate(**_batch(processor, [2, 1]), max_new_tokens=6, do_sample=False, min_new_tokens=6, use_cache=False)
    assert len(calls) == 1 + 6  # the published method: every step re-encodes the DNA


@pytest.mark.parametrize("projector_type", PROJECTORS)
def test_mixed_sequence_counts_in_a_batch_match_single_examples(make_model, make_processor, projector_type):
    """1, 2, 3 and 0 sequences in one batch give each example the logits it gets alone."""
    model, processor = make_model(projector_type), make_processor(projector_type)
    counts = [1, 2, 3, 0]
    batch = _batch(processor, counts)
    batched = model(**batch).logits[:, -1]
    for row, count in enumerate(counts):
        question = "Which of these binds? " + " and ".join(["<DNA>"] * count) if count else "No DNA here?"
        sequences = [random_dna(20 + 7 * i + row, seed=10 * row + i) for i in range(count)]
        alone = model(**processor(question, sequences)).logits[:, -1]
        torch.testing.assert_close(batched[row], alone[0], atol=1e-4, rtol=1e-4)


def test_beam_search_keeps_each_example_with_its_own_sequences(make_model, make_processor):
    model, processor = make_model(), make_processor()
    batch = _batch(processor, [2, 1])
    beams = model.generate(**batch, max_new_tokens=4, num_beams=2, num_return_sequences=2, do_sample=False)
    for row, count in enumerate([2, 1]):
        question = "Which of these binds? " + " and ".join(["<DNA>"] * count)
        sequences = [random_dna(20 + 7 * i + row, seed=10 * row + i) for i in range(count)]
        single = model.generate(**processor(question, sequences), max_new_tokens=4, num_beams=2, num_return_sequences=2,
                                do_sample=False)
        assert beams[2 * row : 2 * row + 2, -4:].tolist() == single[:, -4:].tolist()


def test_placeholder_and_sequence_count_mismatch_names_both_counts(make_model, make_processor):
    model, processor = make_model(), make_processor()
    inputs = _batch(processor, [2])
    inputs["dna_input_ids"] = torch.cat([inputs["dna_input_ids"], inputs["dna_input_ids"][:1]])
    inputs["dna_attention_mask"] = torch.cat([inputs["dna_attention_mask"], inputs["dna_attention_mask"][:1]])
    with pytest.raises(ValueError, match=r"tokens: 8, DNA vectors: 12"):
        model(**inputs)
    inputs = _batch(processor, [2])
    del inputs["dna_input_ids"], inputs["dna_attention_mask"]
    with pytest.raises(ValueError, match="8 <DNA> placeholder tokens but no DNA"):
        model(**inputs)


def test_english_aware_perceiver_reads_the_question_but_not_the_answer(make_model, make_processor):
    model, processor = make_model(), make_processor()
    sequence = random_dna(40)

    def features(question, answer=None):
        inputs = processor(question, [sequence], answers=answer)
        captured = []
        handle = model.model.projector.register_forward_hook(lambda m, a, output: captured.append(output))
        model(**inputs)
        handle.remove()
        return captured[0]

    promoter = features("Is <DNA> a promoter?")
    assert not torch.allclose(promoter, features("Is <DNA> a splice site?"))
    torch.testing.assert_close(features("Is <DNA> a promoter?", "Yes."), features("Is <DNA> a promoter?", "No, not."))


def test_plain_perceiver_ignores_the_question(make_model, make_processor):
    model, processor = make_model("perceiver"), make_processor("perceiver")
    dna = [random_dna(40)]
    first = model.get_dna_features(**{k: v for k, v in processor("Is <DNA> a promoter?", dna).items() if "dna" in k})
    second = model.get_dna_features(**{k: v for k, v in processor("Is <DNA> a splice site?", dna).items() if "dna" in k})
    torch.testing.assert_close(first, second)


def test_perceiver_masks_padding_of_the_dna_stream(make_model, make_processor):
    model, processor = make_model(), make_processor()
    short, long = random_dna(15, seed=1), random_dna(90, seed=2)
    together = processor(["Is <DNA> a promoter?"] * 2, [[short], [long]])
    alone = processor("Is <DNA> a promoter?", [short])
    torch.testing.assert_close(model(**together).logits[0, -1], model(**alone).logits[0, -1], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_forward_is_finite(make_model, make_processor, dtype):
    model = make_model().to(dtype)
    inputs = _batch(make_processor(), [2, 1])
    logits = model(**inputs).logits
    assert logits.dtype == dtype and torch.isfinite(logits).all()


def test_config_appends_a_valid_dna_token_id_and_validates(text_tokenizer):
    config = tiny_chatnt_config(text_tokenizer, dna_token_id=None)
    assert config.dna_token_id == len(text_tokenizer) and config.text_config.vocab_size == len(text_tokenizer) + 1
    with pytest.raises(ValueError, match="outside the decoder vocabulary"):
        tiny_chatnt_config(text_tokenizer, dna_token_id=10_000)
    with pytest.raises(ValueError, match="projector_type"):
        tiny_chatnt_config(text_tokenizer, projector_type="mlp")
    default = ChatNTConfig()
    assert (default.num_latents, default.projector_num_layers, default.max_dna_tokens) == (64, 3, None)
    assert default.dna_config.model_type == "nucleotide_transformer" and default.text_config.model_type == "llama"
    assert (default.train_dna_encoder, default.train_projector, default.train_text_model) == (True, True, False)


def test_save_and_reload_keep_logits_and_frozen_parts(tmp_path, make_model, make_processor):
    from chatnt import ChatNTForConditionalGeneration

    model, processor = make_model(), make_processor()
    inputs = _batch(processor, [2, 1])
    model.save_pretrained(tmp_path)
    reloaded = ChatNTForConditionalGeneration.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(reloaded(**inputs).logits, model(**inputs).logits)
    assert not any(p.requires_grad for p in reloaded.model.language_model.parameters())
    assert all(p.requires_grad for p in reloaded.model.projector.parameters())


def test_narrow_english_table_keeps_the_perceiver_english_aware(make_model, make_processor):
    full, narrow = make_model(), make_model(english_embedding_size=8)
    table = narrow.model.projector.english_embeddings
    assert table[0].weight.shape == (full.config.english_vocab_size, 8) and table[1].weight.shape == (32, 8)
    processor = make_processor()
    captured = []
    narrow.model.projector.register_forward_hook(lambda module, args, output: captured.append(output))
    for question in ("Is <DNA> a promoter?", "Is <DNA> a splice site?"):
        narrow(**processor(question, [random_dna(40)]))
    assert not torch.allclose(captured[0], captured[1])  # the DNA's vectors depend on the question


def test_a_checkpoint_of_the_removed_perceiver_layer_is_refused_in_one_line(text_tokenizer):
    config = tiny_chatnt_config(text_tokenizer).to_dict()
    with pytest.raises(ValueError, match="'stream_norm'.*retrain it"):
        ChatNTConfig(**{**config, "perceiver_layer": "stream_norm"})
    assert ChatNTConfig(**{**config, "perceiver_layer": "published"}).num_latents == config["num_latents"]
