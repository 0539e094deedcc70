"""Batched answers with, for yes/no questions, the calibrated probability of the perplexity classifier.

Generation and the probability are two readings of the model: greedy decoding writes the answer, and
``ChatNTForConditionalGeneration.classify`` scores held-out "yes"/"no" phrasings and maps their softmax
through the checkpoint's Platt calibrator. They can disagree; the probability belongs to the classifier's
``label``, which is printed beside it ("P(yes) = 0.71").
"""

import contextlib
from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from ..prefix_cache import SharedPromptPrefix


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
        shared_prefix: reuse the decoder cache of the prompts' common start across calls, for generation and
            the probability (one per run of the same question; see :class:`~chatnt.prefix_cache.SharedPromptPrefix`).

    Returns:
        One :class:`AnswerResult` per example, in order.
    """
    if not len(questions) == len(sequences) == len(confidence):
        raise ValueError(f"Got {len(questions)} questions, {len(sequences)} sequence entries, {len(confidence)} flags.")
    model, processor = chatnt.model, chatnt.processor
    inputs = processor(list(questions), list(sequences), return_tensors="pt").to(model.device)
    with autocast(bf16):
        prefix_cache = None if shared_prefix is None else shared_prefix.cache_for(model, inputs)
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, past_key_values=prefix_cache)
    texts = processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    results = [AnswerResult(text.strip()) for text in texts]
    wanted = [index for index, flag in enumerate(confidence) if flag]
    if wanted:
        with autocast(bf16):
            verdicts = model.classify(
                processor, [questions[i] for i in wanted], [sequences[i] for i in wanted], shared_prefix=shared_prefix
            )
        for index, verdict in zip(wanted, verdicts):
            results[index] = AnswerResult(
                results[index].answer, verdict["label"], float(verdict["probability"]), float(verdict["p_positive"]),
                bool(verdict["calibrated"]),
            )
    return results


__all__ = ["AnswerResult", "answer_batch", "autocast"]
