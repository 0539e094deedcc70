"""Answering questions about DNA: greedy generation and, for yes/no questions, a calibrated probability.

The one answering path of ChatNT: the pipeline (``return_confidence=True``), the command line and the demo
answer through :func:`generate` and :func:`~chatnt.perplexity_classifier.classify`, and the command line through
:func:`answer`, which combines them. Generation and the probability are two readings of the model: greedy
decoding writes the answer, the perplexity classifier scores held-out "yes"/"no" phrasings and the model's
calibrator maps their softmax to a probability. They can disagree; the probability belongs to the classifier's
label.

Each prompt, its DNA included, is encoded once: :func:`generate` keeps the key/value cache of the prompts
(:class:`~chatnt.perplexity_classifier.PromptState`) and the classifier continues from it instead of running
the prompts again.

Remote code (the pipeline imports it), above the model, the processor and the classifier.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .perplexity_classifier import PerplexityClassifier, PromptState, classify


@dataclass(frozen=True)
class Answer:
    """One answer, with the classifier's verdict when a probability was asked for.

    Attributes:
        text: the generated text, stripped.
        label: the classifier's label ("yes"/"no"), ``None`` without a probability.
        probability: the probability of ``label`` (0.5 to 1), ``None`` without one.
        p_yes: the probability of "yes" (0 to 1), ``None`` without one.
        calibrated: whether the probability went through the checkpoint's calibrator; ``None`` without one.
    """

    text: str
    label: str | None = None
    probability: float | None = None
    p_yes: float | None = None
    calibrated: bool | None = None


def keeps_prompt_state(prompts: int, with_confidence: int) -> bool:
    """Whether generation should keep its prompt cache for the classifier: only when every prompt of the
    batch is classified (the classifier scores exactly generation's batch) and the batch is no larger than
    the classifier's own (each prompt's cache is repeated once per candidate phrasing in memory)."""
    return with_confidence == prompts <= PerplexityClassifier.batch_size


def generate(model, inputs, *, keep_prompt_state: bool = False, **generate_kwargs):
    """``model.generate(**inputs, **generate_kwargs)``, returning ``(output, prompt_state)``.

    ``output`` is generate's dict output (``output.sequences``: prompt plus answer tokens);
    ``prompt_state`` is the prompts' :class:`PromptState` with ``keep_prompt_state`` (``None`` when generation
    kept no one-to-one prompt cache, e.g. with beams), else ``None``. Pass it to ``classify(...,
    prompt_state=...)`` for the same prompts.
    """
    generate_kwargs = {**generate_kwargs, "return_dict_in_generate": True}
    if keep_prompt_state:
        generate_kwargs["output_logits"] = True  # the first step's logits are the prompts' last ones
    output = model.generate(**inputs, **generate_kwargs)
    return output, PromptState.from_generate(inputs, output) if keep_prompt_state else None


@torch.no_grad()
def answer(
    model,
    processor,
    questions: Sequence,
    sequences: Sequence,
    confidence: Sequence[bool],
    *,
    max_new_tokens: int = 64,
    shared_prefix=None,
) -> list[Answer]:
    """Greedy answers to a batch of questions, plus probabilities where ``confidence`` asks for them.

    Args:
        model: a :class:`~chatnt.ChatNTForConditionalGeneration`.
        processor: its :class:`~chatnt.ChatNTProcessor`.
        questions: per example, a question string or chat messages ending with the user's turn.
        sequences: per example, what the processor takes (a list for ``<DNA>``, a dict for ``@name``).
        confidence: per example, whether to add the classifier's calibrated yes/no probability.
        max_new_tokens: length limit of each answer.
        shared_prefix: reuse the decoder cache of the prompts' common start across calls, for generation and
            the probability (one per run of the same question; ``chatnt.prefix_cache.SharedPromptPrefix``).

    Returns:
        One :class:`Answer` per example, in order.
    """
    if not len(questions) == len(sequences) == len(confidence):
        raise ValueError(f"Got {len(questions)} questions, {len(sequences)} sequence entries, {len(confidence)} flags.")
    inputs = processor(list(questions), list(sequences), return_tensors="pt").to(model.device)
    wanted = [index for index, flag in enumerate(confidence) if flag]
    prefix_cache = None if shared_prefix is None else shared_prefix.cache_for(model, inputs)
    output, prompt_state = generate(
        model, inputs, keep_prompt_state=keeps_prompt_state(len(questions), len(wanted)),
        max_new_tokens=max_new_tokens, do_sample=False, cache=prefix_cache,
    )
    texts = processor.batch_decode(output.sequences[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    answers = [Answer(text.strip()) for text in texts]
    if wanted:
        verdicts = classify(
            model, processor, [questions[i] for i in wanted], [sequences[i] for i in wanted],
            shared_prefix=shared_prefix, prompt_state=prompt_state,
        )
        for index, verdict in zip(wanted, verdicts):
            answers[index] = Answer(
                answers[index].text, verdict["label"], float(verdict["probability"]), float(verdict["p_positive"]),
                bool(verdict["calibrated"]),
            )
    return answers


__all__ = ["Answer", "answer", "classify", "generate", "keeps_prompt_state"]
