"""`classify(model, processor, ...)` and `pipeline(..., return_confidence=True)`: yes/no answers with a calibrated probability."""

import math

import pytest
import torch
from chatnt import ChatNTForConditionalGeneration
from chatnt.calibration import CALIBRATION_FILE, PlattCalibrator
from chatnt.perplexity_classifier import PerplexityClassifier, classify
from transformers import pipeline

QUESTION = "Is @seq a promoter? Answer yes or no."
SEQUENCES = {"seq": "ACGTACGTAAGGCTTTGACAATCGTTAGC"}


def fixed_calibrator(coef=1.7, intercept=-0.3) -> PlattCalibrator:
    calibrator = PlattCalibrator()
    calibrator.coef, calibrator.intercept = coef, intercept
    return calibrator


def test_uncalibrated_probability_is_the_softmax_of_the_class_scores(make_model, make_processor):
    model, processor = make_model(), make_processor()
    verdict = classify(model, processor, QUESTION, SEQUENCES)
    scores = PerplexityClassifier().class_scores(model, processor, [QUESTION], [SEQUENCES])
    p_yes = scores.softmax(dim=1)[0, 1].item()
    assert verdict["calibrated"] is False
    assert verdict["p_positive"] == pytest.approx(p_yes, abs=1e-6)
    assert verdict["p_positive"] == verdict["p_positive_uncalibrated"]
    assert verdict["label"] == ("yes" if p_yes >= 0.5 else "no")
    assert 0.5 <= verdict["probability"] <= 1.0
    assert verdict["probability"] == pytest.approx(max(p_yes, 1 - p_yes), abs=1e-6)


def test_calibrated_probability_applies_the_model_calibrator(make_model, make_processor):
    model, processor = make_model(), make_processor()
    model.calibrator = fixed_calibrator()
    questions = [QUESTION, "Is <DNA> a promoter? Answer yes or no."]
    dna = [SEQUENCES, ["TTTTAAAACCCCGGGGACGTAC"]]
    verdicts = classify(model, processor, questions, dna)
    logits = PerplexityClassifier().logit_difference(model, processor, questions, dna).double().numpy()
    for verdict, logit in zip(verdicts, logits):
        assert verdict["calibrated"] is True
        assert verdict["p_positive"] == pytest.approx(1 / (1 + math.exp(-(1.7 * logit - 0.3))), abs=1e-6)
        assert verdict["p_positive_uncalibrated"] == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-6)
        assert verdict["probability"] == pytest.approx(max(verdict["p_positive"], 1 - verdict["p_positive"]))


def test_classify_keeps_the_training_mode_and_checks_counts(make_model, make_processor):
    model, processor = make_model().train(), make_processor()
    classify(model, processor, QUESTION, SEQUENCES)
    assert model.training
    with pytest.raises(ValueError, match="one entry per question"):
        classify(model, processor, [QUESTION, QUESTION], [SEQUENCES])


def test_calibrator_travels_with_the_checkpoint(tmp_path, make_model, make_processor):
    model = make_model()
    model.save_pretrained(tmp_path / "plain")
    assert not (tmp_path / "plain" / CALIBRATION_FILE).exists()
    assert ChatNTForConditionalGeneration.from_pretrained(tmp_path / "plain").calibrator is None

    model.calibrator = fixed_calibrator()
    model.save_pretrained(tmp_path / "calibrated")
    loaded = ChatNTForConditionalGeneration.from_pretrained(tmp_path / "calibrated")
    assert (loaded.calibrator.coef, loaded.calibrator.intercept) == (1.7, -0.3)


def test_pipeline_returns_the_answer_and_its_calibrated_probability(tmp_path, make_model, make_processor):
    model, processor = make_model(), make_processor()
    model.calibrator = fixed_calibrator()
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    pipe = pipeline("text-generation", model=str(tmp_path / "model"), trust_remote_code=True)
    outputs = pipe([QUESTION, QUESTION], dna_sequences=[SEQUENCES, SEQUENCES], max_new_tokens=3,
                   do_sample=False, return_confidence=True, batch_size=2)
    expected = classify(model, processor, QUESTION, SEQUENCES)
    for output in outputs:
        assert isinstance(output[0]["generated_text"], str)
        assert output[0]["label"] == expected["label"] and output[0]["calibrated"] is True
        assert output[0]["probability"] == pytest.approx(expected["probability"], abs=1e-5)
    plain = pipe(QUESTION, dna_sequences=SEQUENCES, max_new_tokens=3, do_sample=False)
    assert set(plain[0]) == {"generated_text"}


@pytest.mark.parametrize("projector_type", ["english_aware_perceiver", "linear"])
def test_shared_prompt_scores_equal_full_scoring(make_model, make_processor, projector_type):
    """Scoring candidates from the prompt's cache gives the numbers of scoring each full (prompt, answer)."""
    from chatnt.perplexity_classifier import answer_log_likelihoods, shared_prompt_log_likelihoods

    model, processor = make_model(projector_type), make_processor(projector_type)
    questions = [QUESTION, "Is <DNA> a promoter? Answer yes or no.", "Tell me if @seq is a promoter."]
    dna = [SEQUENCES, ["TTTTAAAACCCCGGGGACGTACAAT"], {"seq": "GGGCCCAAATTT"}]
    candidates = ["Yes, that is true.", "No.", "Negative."]
    shared = shared_prompt_log_likelihoods(model, processor, questions, dna, candidates)
    rows = [(q, d, c) for q, d in zip(questions, dna) for c in candidates]
    full = answer_log_likelihoods(model, processor, *zip(*rows)).view(3, 3)
    torch.testing.assert_close(shared, full, atol=1e-4, rtol=1e-4)


def test_a_follow_up_question_is_scored_after_the_earlier_turns(make_model, make_processor):
    from chatnt.perplexity_classifier import shared_prompt_log_likelihoods

    model, processor = make_model(), make_processor()
    conversation = [
        {"role": "user", "content": "What is @seq?"},
        {"role": "assistant", "content": "A promoter."},
        {"role": "user", "content": "Is @seq a promoter? Answer yes or no."},
    ]
    shared = shared_prompt_log_likelihoods(model, processor, [conversation], [SEQUENCES], ["Yes.", "No."])
    # Scored by hand: the whole conversation plus the candidate, only the new turn's tokens counted.
    for column, answer in enumerate(["Yes.", "No."]):
        full = processor([conversation + [{"role": "assistant", "content": answer}]], [SEQUENCES], padding_side="right")
        labels = full.pop("labels")
        first_new = (labels[0] != -100).nonzero().flatten()
        prompt_length = len(processor([conversation], [SEQUENCES])["input_ids"][0])
        scored = [int(i) for i in first_new if i >= prompt_length]
        log_probs = model(**full).logits[0].log_softmax(-1)
        expected = sum(log_probs[i - 1, full["input_ids"][0, i]].item() for i in scored) / len(scored)
        assert shared[0, column].item() == pytest.approx(expected, abs=1e-4)
    assert classify(model, processor, conversation, SEQUENCES)["label"] in ("yes", "no")


@pytest.mark.parametrize("projector_type", ["english_aware_perceiver", "linear"])
def test_pipeline_confidence_reuses_the_prompts_generation_encoded(tmp_path, make_model, make_processor, projector_type):
    """With return_confidence the classifier continues from generate's prompt cache: the DNA is encoded once
    per batch, and the probabilities equal classify's own, for a left-padded batch of different prompts."""
    model, processor = make_model(projector_type), make_processor(projector_type)
    model.calibrator = fixed_calibrator()
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    pipe = pipeline("text-generation", model=str(tmp_path / "model"), trust_remote_code=True)
    encoded = []
    pipe.model.model.dna_encoder.register_forward_hook(lambda module, args, output: encoded.append(1))
    questions = [QUESTION, "Are <DNA> and <DNA> both promoters? Answer yes or no."]
    dna = [SEQUENCES, ["TTTTAAAACCCCGGGGACGTACAATGG", "ACGTTGCA" * 5]]
    outputs = pipe(questions, dna_sequences=dna, max_new_tokens=4, do_sample=False, return_confidence=True, batch_size=2)
    assert len(encoded) == 1  # generation's prefill; the classifier did not encode again
    for output, question, sequences in zip(outputs, questions, dna):
        expected = classify(model, processor, question, sequences)
        assert output[0]["label"] == expected["label"]
        assert output[0]["probability"] == pytest.approx(expected["probability"], abs=1e-5)


def test_a_prompt_state_of_other_prompts_is_not_used(make_model, make_processor):
    from chatnt.perplexity_classifier import PromptState

    model, processor = make_model(), make_processor()
    prompts = processor([QUESTION], [SEQUENCES], padding_side="left", replace_unknown_with_n=True, return_tensors="pt")
    other = processor([QUESTION], [{"seq": "TTTTTTTTTTGGGGGGGGCCCCCAAAAA"}], padding_side="left", return_tensors="pt")
    state = PromptState(prompts["input_ids"], prompts["dna_input_ids"], cache=None, last_logits=torch.zeros(1, 8))
    assert state.matches(prompts)
    assert not state.matches(other)  # same text, other DNA
    # A state that does not match is ignored: classify computes the prompts itself.
    stale = PromptState(other["input_ids"], other["dna_input_ids"], cache=None, last_logits=torch.zeros(1, 8))
    expected = classify(model, processor, QUESTION, SEQUENCES)
    assert classify(model, processor, QUESTION, SEQUENCES, prompt_state=stale)["p_positive"] == pytest.approx(
        expected["p_positive"], abs=1e-6
    )


def test_a_pipeline_batch_larger_than_the_classifier_batch_is_scored_in_chunks(tmp_path, make_model, make_processor):
    """Beyond PerplexityClassifier.batch_size prompts the generation cache is not reused: each candidate repeats
    its prompts' cache, so the classifier's own chunks bound the memory."""
    model, processor = make_model(), make_processor()
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    pipe = pipeline("text-generation", model=str(tmp_path / "model"), trust_remote_code=True)
    encoded = []
    pipe.model.model.dna_encoder.register_forward_hook(lambda module, args, output: encoded.append(1))
    size = PerplexityClassifier().batch_size + 2
    outputs = pipe([QUESTION] * size, dna_sequences=[SEQUENCES] * size, max_new_tokens=2, do_sample=False,
                   return_confidence=True, batch_size=size)
    assert len(encoded) == 1 + 2  # generation, then the classifier's two chunks
    expected = classify(model, processor, QUESTION, SEQUENCES)
    assert all(output[0]["probability"] == pytest.approx(expected["probability"], abs=1e-5) for output in outputs)
