"""Prefix caching (``SharedPromptPrefix``): generation continuing a cached prompt start equals uncached generation."""

import pytest
import torch
from chatnt.commands.answering import answer_batch
from chatnt.commands.loading import LoadedChatNT
from chatnt.prefix_cache import SharedPromptPrefix
from helpers import random_dna

PROJECTORS = ["english_aware_perceiver", "perceiver", "linear"]
QUESTION = "Here is a long shared question text about the sequence <DNA>: does it bind? Answer yes or no."


def _inputs(processor, seeds, length=30):
    return processor([QUESTION] * len(seeds), [[random_dna(length, seed=seed)] for seed in seeds], return_tensors="pt")


def _generate(model, inputs, **kwargs):
    output = model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False, output_logits=True,
                            return_dict_in_generate=True, **kwargs)
    return output.sequences, torch.stack(output.logits, 1)


@pytest.mark.parametrize("projector_type", PROJECTORS)
def test_generation_from_a_cached_prefix_equals_uncached_generation(make_model, make_processor, projector_type):
    model, processor = make_model(projector_type, decoder_init_range=0.2), make_processor(projector_type)
    prefix = SharedPromptPrefix()
    for seeds in ([1, 2, 3], [4, 5]):  # the second batch reuses the first batch's prefix
        inputs = _inputs(processor, seeds)
        cache = prefix.cache_for(model, inputs)
        assert cache is not None and cache.get_seq_length() == len(prefix.tokens) > 5
        cached_sequences, cached_logits = _generate(model, inputs, cache=cache)
        sequences, logits = _generate(model, inputs)
        assert torch.equal(cached_sequences, sequences)
        torch.testing.assert_close(cached_logits, logits, atol=1e-5, rtol=1e-5)


def test_the_prefix_stops_at_the_first_placeholder(make_model, make_processor):
    model, processor = make_model(), make_processor()
    prefix = SharedPromptPrefix()
    inputs = _inputs(processor, [1, 2])
    prefix.cache_for(model, inputs)
    first_placeholder = int(torch.nonzero(inputs["input_ids"][0] == processor.dna_token_id)[0])
    assert len(prefix.tokens) == first_placeholder
    assert processor.tokenizer.decode(prefix.tokens).endswith("USER: Here is a long shared question text about the sequence ")


def test_padded_or_different_batches_are_generated_without_the_cache(make_model, make_processor):
    model, processor = make_model("linear"), make_processor("linear")
    prefix = SharedPromptPrefix()
    assert prefix.cache_for(model, _inputs(processor, [1, 2])) is not None
    padded = processor([QUESTION] * 2, [[random_dna(30, seed=1)], [random_dna(60, seed=2)]], return_tensors="pt")
    assert not bool(padded["attention_mask"].all())
    assert prefix.cache_for(model, padded) is None
    other = processor(["Another question entirely: <DNA>?"], [[random_dna(30, seed=1)]], return_tensors="pt")
    assert prefix.cache_for(model, other) is None


def test_answer_batch_with_a_shared_prefix_gives_the_same_answers(make_model, make_processor):
    model, processor = make_model(decoder_init_range=0.2), make_processor()
    chatnt = LoadedChatNT(model, processor, "tiny")
    prefix = SharedPromptPrefix()
    for seeds in ([1, 2, 3], [4, 5, 6]):
        sequences = [[random_dna(30, seed=seed)] for seed in seeds]
        arguments = ([QUESTION] * len(seeds), sequences, [False] * len(seeds))
        plain = answer_batch(chatnt, *arguments, max_new_tokens=8, bf16=False)
        cached = answer_batch(chatnt, *arguments, max_new_tokens=8, bf16=False, shared_prefix=prefix)
        assert [result.answer for result in cached] == [result.answer for result in plain]
    assert prefix.cache is not None


def test_a_cached_prefix_without_the_whole_prompt_is_refused(make_model, make_processor):
    model, processor = make_model(), make_processor()
    prefix = SharedPromptPrefix()
    inputs = _inputs(processor, [1, 2])
    cache = prefix.cache_for(model, inputs)
    start = len(prefix.tokens)
    with pytest.raises(ValueError, match="pass the whole prompt as prompt_input_ids"):
        model(input_ids=inputs["input_ids"][:, start:], attention_mask=inputs["attention_mask"],
              dna_input_ids=inputs["dna_input_ids"], dna_attention_mask=inputs["dna_attention_mask"], cache=cache)


@pytest.mark.parametrize("projector_type", PROJECTORS)
def test_classifier_scores_from_a_cached_prefix_equal_full_scores(make_model, make_processor, projector_type):
    from chatnt.perplexity_classifier import PerplexityClassifier, classify

    model, processor = make_model(projector_type, decoder_init_range=0.2), make_processor(projector_type)
    questions = [QUESTION] * 3
    sequences = [[random_dna(30, seed=seed)] for seed in (1, 2, 3)]
    classifier, prefix = PerplexityClassifier(batch_size=2), SharedPromptPrefix()
    cached = classifier.class_scores(model, processor, questions, sequences, prefix)
    assert prefix.cache is not None
    torch.testing.assert_close(cached, classifier.class_scores(model, processor, questions, sequences), atol=1e-5, rtol=1e-5)
    verdicts = classify(model, processor, questions, sequences, shared_prefix=prefix)
    plain = classify(model, processor, questions, sequences)
    assert [v["p_positive"] for v in verdicts] == pytest.approx([v["p_positive"] for v in plain], abs=1e-6)
