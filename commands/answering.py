"""Batched answers with, for yes/no questions, the calibrated probability of the perplexity classifier.

Generation and the probability are two readings of the model: greedy decoding writes the answer, and
``ChatNTForConditionalGeneration.classify`` scores held-out "yes"/"no" phrasings and maps their softmax
through the checkpoint's Platt calibrator. They can disagree; the probability belongs to the classifier's
``label``, which is printed beside it ("P(yes) = 0.71").
"""

import contextlib
import copy
from dataclasses import asdict, dataclass
from typing import Sequence

import torch


@dataclass(frozen=True)
class AnswerResult:
    """One answer, with the classifier's verdict when a probability was asked for.

    Attributes:
        answer: the generated text, stripped.
        label: the classifier's label ("yes"/"no"), ``None`` without a probability.
        probability: the probability of ``label`` (0.5 to 1), ``None`` without one.
        p_yes: the probability of "yes" (0 to 1), ``None`` without one.
        calibrated: whether the probability went through the checkpoint's calibrator; ``None`` without one.
    """

    answer: str
    label: str | None = None
    probability: float | None = None
    p_yes: float | None = None
    calibrated: bool | None = None

    def confidence_text(self) -> str:
        """``"(P(yes) = 0.71, calibrated)"``, or ``""`` without a probability."""
        if self.probability is None:
            return ""
        return f"(P({self.label}) = {self.probability:.2f}, {'calibrated' if self.calibrated else 'uncalibrated'})"

    def __str__(self) -> str:
        return " ".join(part for part in (self.answer, self.confidence_text()) if part)

    def to_dict(self) -> dict:
        return asdict(self)


def autocast(bf16: bool):
    """bfloat16 autocast on the CPU (as chatnt-mini was trained and calibrated; faster), or nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


class SharedPromptPrefix:
    """The decoder's key/value cache for the text every prompt of a run starts with, computed once.

    ``chatnt predict`` asks one question of thousands of records: every prompt starts with the same system
    message and question text (about 150 of chatnt-mini's 204 prompt tokens), and only the DNA vectors
    after it differ. The shared start runs through the decoder once; each batch continues from a copy of
    its cache, so prefill costs only the tokens from the first ``<DNA>`` placeholder on. Answers are those
    of uncached generation (equal logits in fp32, tested).

    The prefix is fixed by the first batch: its rows' common start, up to the first placeholder. A batch
    that does not start with it, or that is left-padded (rows of different length, which shifts the
    prefix), is generated without the cache.
    """

    def __init__(self):
        self.tokens: torch.Tensor | None = None
        self.cache = None

    def _build(self, model, input_ids: torch.Tensor, bf16: bool) -> None:
        first = input_ids[0]
        length = int((input_ids == first).all(0).long().cumprod(0).sum())  # columns equal in every row
        placeholders = torch.nonzero(first == model.config.dna_token_id).flatten()
        if len(placeholders):
            length = min(length, int(placeholders[0]))
        length = min(length, input_ids.shape[1] - 1)  # generate needs at least one uncached token
        self.tokens = first[:length].clone()
        if length > 0:
            with autocast(bf16):
                self.cache = model(input_ids=self.tokens.unsqueeze(0), use_cache=True, logits_to_keep=1).past_key_values

    def cache_for(self, model, inputs, bf16: bool):
        """A cache of the prefix for every row of ``inputs`` (to pass as ``past_key_values``), or ``None``."""
        input_ids, attention_mask = inputs["input_ids"], inputs.get("attention_mask")
        if attention_mask is not None and not bool(attention_mask.all()):
            return None
        if self.tokens is None:
            self._build(model, input_ids, bf16)
        length = len(self.tokens)
        if self.cache is None or input_ids.shape[1] <= length:
            return None
        if not bool((input_ids[:, :length] == self.tokens.to(input_ids.device)).all()):
            return None
        cache = copy.deepcopy(self.cache)  # generate appends to the cache it is given
        cache.batch_repeat_interleave(input_ids.shape[0])
        return cache


@torch.no_grad()
def answer_batch(
    chatnt,
    questions: Sequence,
    sequences: Sequence,
    confidence: Sequence[bool],
    max_new_tokens: int = 64,
    bf16: bool = True,
    shared_prefix: SharedPromptPrefix | None = None,
) -> list[AnswerResult]:
    """Greedy answers to a batch of questions, plus probabilities where ``confidence`` asks for them.

    Args:
        chatnt: a :class:`~chatnt.commands.loading.LoadedChatNT`.
        questions: per example, a question string or chat messages ending with the user's turn.
        sequences: per example, what the processor takes (a list for ``<DNA>``, a dict for ``@name``).
        confidence: per example, whether to add the classifier's calibrated yes/no probability.
        max_new_tokens: length limit of each answer.
        bf16: bfloat16 autocast.
        shared_prefix: reuse the decoder cache of the prompts' common start across calls (one per run of
            the same question; see :class:`SharedPromptPrefix`).

    Returns:
        One :class:`AnswerResult` per example, in order.
    """
    if not len(questions) == len(sequences) == len(confidence):
        raise ValueError(f"Got {len(questions)} questions, {len(sequences)} sequence entries, {len(confidence)} flags.")
    model, processor = chatnt.model, chatnt.processor
    inputs = processor(list(questions), list(sequences), return_tensors="pt").to(model.device)
    prefix_cache = None if shared_prefix is None else shared_prefix.cache_for(model, inputs, bf16)
    with autocast(bf16):
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, past_key_values=prefix_cache)
    texts = processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    results = [AnswerResult(text.strip()) for text in texts]
    wanted = [index for index, flag in enumerate(confidence) if flag]
    if wanted:
        with autocast(bf16):
            verdicts = model.classify(processor, [questions[i] for i in wanted], [sequences[i] for i in wanted])
        for index, verdict in zip(wanted, verdicts):
            results[index] = AnswerResult(
                results[index].answer, verdict["label"], float(verdict["probability"]), float(verdict["p_positive"]),
                bool(verdict["calibrated"]),
            )
    return results


__all__ = ["AnswerResult", "SharedPromptPrefix", "answer_batch", "autocast"]
