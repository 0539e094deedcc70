"""Yes/no confidence from answer likelihoods: the perplexity-based classifier of the ChatNT paper.

Parsing a generated answer gives a label but no confidence. The perplexity-based classifier instead asks
how likely the model finds each possible answer:

1. For a binary question, N positive phrasings (``"Yes, that is true."``, ...) and N negative ones
   (``"No, that is not true."``, ...) are scored by their mean token log-likelihood given the prompt.
   The phrasings are held out: none is an answer template of the training data, so the score measures
   the model's belief, not its memory of a template.
2. The two class scores are treated as logits: a softmax gives P(positive).
3. The model's Platt calibrator (``chatnt.calibration``, fitted on TRAINING-split examples and loaded with
   the weights) maps that to a calibrated probability: :func:`classify`.

Remote code (the pipeline's ``return_confidence=True`` uses it), above the model and the processor, which it
runs; it needs only torch and numpy. The metrics and plots that judge calibration live in
``chatnt.evaluation.confidence``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

# Held out: the yes/no answer templates of chatnt.tasks.instruction_data are "yes", "Yes.",
# "My answer is yes." and "Yes, going by the sequence."; none of these is among them.
YES_PHRASINGS = ("Yes, that is true.", "Yes, that is correct.", "I believe so, yes.", "Affirmative.")
NO_PHRASINGS = ("No, that is not true.", "No, that is incorrect.", "I believe not, no.", "Negative.")

def _to_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device) for key, value in batch.items()}


def _mean_log_likelihood(logits: torch.Tensor, targets: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
    """Per row, the mean log-probability of ``targets`` at the ``scored`` positions, from ``logits`` aligned with
    them (``logits[:, t]`` predicts ``targets[:, t]``). The log-softmax runs only where a token is scored: a full
    (rows, length, vocab) one is large."""
    log_probs = logits[scored].float().log_softmax(-1).gather(-1, targets[scored].unsqueeze(-1)).squeeze(-1)
    rows = torch.arange(targets.shape[0], device=logits.device).unsqueeze(1).expand_as(targets)[scored]
    totals = torch.zeros(targets.shape[0], device=logits.device).index_add_(0, rows, log_probs)
    return totals / scored.sum(1)


@torch.no_grad()
def answer_log_likelihoods(
    model,
    processor,
    conversations: Sequence,
    sequences: Sequence,
    answers: Sequence[str],
    *,
    replace_unknown_with_n: bool = True,
) -> torch.Tensor:
    """Mean token log-likelihood of each answer given its prompt, in one batched forward pass.

    Each ``(conversation, sequences, answer)`` triple is one row; to score several candidates for one
    prompt, repeat the prompt. The processor's own labelled tokenization (the one training uses) marks
    the answer tokens plus the end-of-turn token, so the score covers exactly what the model learned to
    produce. The English-aware Perceiver reads the prompt only, as at generation time, so a candidate
    cannot change the DNA summary it is scored against.

    Args:
        model: a :class:`~chatnt.ChatNTForConditionalGeneration`.
        processor: its :class:`~chatnt.ChatNTProcessor`.
        conversations: per row, a question string or a list of chat messages without an assistant turn.
        sequences: per row, what the processor accepts for one example (a list, a dict of named
            sequences or a FASTA path).
        answers: per row, the candidate answer text.
        replace_unknown_with_n: read IUPAC ambiguity codes as N, as the training collator does.

    Returns:
        A float32 tensor of shape ``(rows,)`` on the CPU: the mean over the answer tokens of
        ``log p(token | prefix)``; higher is more likely (its negative exponential is the perplexity).
    """
    if not len(conversations) == len(sequences) == len(answers):
        raise ValueError(
            f"Got {len(conversations)} conversations, {len(sequences)} sequence entries and {len(answers)} answers: "
            "pass one of each per row (repeat a prompt to score several candidates)."
        )
    if not answers:
        raise ValueError("No rows to score: pass at least one (conversation, sequences, answer) triple.")
    for index, conversation in enumerate(conversations):
        if not isinstance(conversation, str) and any(m.get("role") == "assistant" for m in conversation):
            raise ValueError(
                f"Conversation {index} already has an assistant turn; its tokens would count in the score. "
                "Pass the conversation up to the question only: the candidate answer is appended here."
            )
    batch = processor(
        list(conversations),
        list(sequences),
        answers=list(answers),
        padding_side="right",
        replace_unknown_with_n=replace_unknown_with_n,
        return_tensors="pt",
    )
    labels = batch.pop("labels")
    # Hide the candidate from the English-aware Perceiver: it reads the prompt only, as at generation.
    batch["english_attention_mask"] = (batch["attention_mask"].bool() & (labels == -100)).long()
    logits = model(**_to_device(dict(batch), model.device)).logits

    # The token at position t is predicted by the logits at position t - 1.
    targets = labels[:, 1:].to(logits.device)
    scored = targets != -100
    counts = scored.sum(dim=1)
    if bool((counts == 0).any()):
        empty = [index for index, count in enumerate(counts.tolist()) if count == 0]
        raise ValueError(f"Rows {empty} have no answer tokens to score: give every candidate non-empty text.")
    return _mean_log_likelihood(logits[:, :-1], targets, scored).cpu()



def _continuation_tokens(processor, conversation, sequences, answers: Sequence[str], prompt_ids: list[int]) -> list[tuple[list[int], list[bool]]]:
    """Per answer, the tokens that follow the generation prompt when it is the assistant's turn, and which of them
    are scored (the answer and end-of-turn tokens the processor labels, as in training); one processor call.

    Taken from the processor's own labelled tokenization, so they are exactly what training saw; raises
    when that tokenization does not start with ``prompt_ids`` (a template that rewrites the prompt once an
    answer follows), in which case the prompt cannot be shared and ``answer_log_likelihoods`` applies.
    """
    full = processor([conversation] * len(answers), [sequences] * len(answers), answers=list(answers),
                     padding_side="right", replace_unknown_with_n=True, return_tensors="pt")
    continuations = []
    for ids, labels, mask in zip(full["input_ids"], full["labels"], full["attention_mask"]):
        length = int(mask.sum())
        labelled = (labels[:length] != -100).nonzero().flatten()
        labelled = labelled[labelled >= len(prompt_ids)]  # earlier assistant turns of a conversation are prompt
        if ids[: len(prompt_ids)].tolist() != prompt_ids or len(labelled) == 0:
            raise ValueError("the chat template does not extend the generation prompt with the answer")
        end = int(labelled[-1]) + 1
        continuations.append((ids[len(prompt_ids) : end].tolist(), (labels[len(prompt_ids) : end] != -100).tolist()))
    return continuations


@dataclass
class PromptState:
    """What a forward pass over a batch of prompts leaves behind, so that scoring need not run them again.

    ``generate`` computes exactly this on its first step; the ChatNT pipeline hands it to ``classify``
    (``return_confidence=True``) instead of encoding every prompt twice. It is used only for prompts
    whose tokens (text and DNA) are identical to the ones the classifier builds; otherwise ignored.

    Attributes:
        input_ids: (prompts, length) left-padded prompt token ids.
        dna_input_ids: the prompts' DNA token ids, or ``None`` without DNA.
        cache: the key/value cache of exactly the ``length`` prompt positions.
        last_logits: (prompts, vocab) logits at the last prompt position.
    """

    input_ids: torch.Tensor
    dna_input_ids: torch.Tensor | None
    cache: object
    last_logits: torch.Tensor

    @classmethod
    def from_generate(cls, inputs, generated) -> PromptState | None:
        """The state of the prompts ``inputs`` (a processor batch) from the output of
        ``generate(**inputs, return_dict_in_generate=True, output_logits=True)``; ``None`` when generation
        kept no one-to-one prompt cache (no cache, beams or several sequences per prompt)."""
        input_ids = inputs["input_ids"]
        cache = getattr(generated, "cache", None)
        if cache is None or not hasattr(cache, "crop") or generated.sequences.shape[0] != input_ids.shape[0]:
            return None
        generated_positions = cache.get_seq_length() - input_ids.shape[1]
        if generated_positions > 0:
            cache.crop(-generated_positions)  # drop the generated tokens: the prompt's positions remain
        return cls(input_ids, inputs.get("dna_input_ids"), cache, generated.logits[0])

    def matches(self, prompts) -> bool:
        """Whether ``prompts`` (a processor batch) are the prompts this state was computed on."""
        dna = prompts.get("dna_input_ids")
        same_dna = (dna is None) == (self.dna_input_ids is None) and (
            dna is None or torch.equal(dna.cpu(), self.dna_input_ids.cpu())
        )
        return same_dna and torch.equal(prompts["input_ids"].cpu(), self.input_ids.cpu())


def _run_prompts(model, prompts, shared_prefix):
    """The key/value cache and last-position logits of a left-padded batch of prompts (one forward pass; the
    start that ``shared_prefix`` holds is not computed again)."""
    # Left padding puts every prompt's last token in the last column; positions count real tokens only.
    positions = (prompts["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    prompt_inputs = {key: value.to(model.device) for key, value in prompts.items()}
    prefix_cache = None if shared_prefix is None else shared_prefix.cache_for(model, prompt_inputs)
    cached = 0 if prefix_cache is None else prefix_cache.get_seq_length()
    # With a cached prefix the model computes the rest only; the Perceiver reads the whole prompt.
    output = model(
        **{**prompt_inputs, "input_ids": prompt_inputs["input_ids"][:, cached:]},
        prompt_input_ids=prompt_inputs["input_ids"],
        position_ids=positions[:, cached:].to(model.device),
        cache=prefix_cache,
        use_cache=True,
        logits_to_keep=1,
    )
    return output.cache, output.logits[:, -1]


@torch.no_grad()
def shared_prompt_log_likelihoods(
    model,
    processor,
    conversations: Sequence,
    sequences: Sequence,
    candidates: Sequence[str],
    shared_prefix=None,
    prompt_state: PromptState | None = None,
) -> torch.Tensor:
    """Mean token log-likelihood of every candidate answer for every prompt: ``(prompts, candidates)``.

    Same numbers as :func:`answer_log_likelihoods` over all (prompt, candidate) pairs, but each prompt
    (system message, question, DNA vectors: hundreds of tokens) runs through the model once, and the
    candidates (a few tokens each) continue from its key/value cache. With eight phrasings this is
    several times cheaper than scoring eight full copies of the prompt.

    ``shared_prefix`` (a ``chatnt.prefix_cache.SharedPromptPrefix``) also skips the start that every
    prompt of a run shares (system message, question text), computed once per run. ``prompt_state``
    skips the prompts altogether when they were just run (by ``generate``) on the same tokens; it is
    consumed (its cache is extended).
    """
    prompts = processor(list(conversations), list(sequences), padding_side="left", replace_unknown_with_n=True,
                        return_tensors="pt")
    prompts.pop("labels", None)  # a conversation with earlier assistant turns gets labels: not scored here
    mask = prompts["attention_mask"]
    first_prompt = prompts["input_ids"][0][mask[0].bool()].tolist()
    continuations = _continuation_tokens(processor, conversations[0], sequences[0], candidates, first_prompt)

    if prompt_state is not None and prompt_state.matches(prompts):
        cache, last_logits = prompt_state.cache, prompt_state.last_logits
    else:
        cache, last_logits = _run_prompts(model, prompts, shared_prefix)

    n_prompts, n_candidates = mask.shape[0], len(candidates)
    width = max(len(tokens) for tokens, _ in continuations)
    pad = processor.tokenizer.pad_token_id
    tokens = torch.full((n_candidates, width), pad, dtype=torch.long)
    scored = torch.zeros((n_candidates, width), dtype=torch.bool)
    for index, (ids, is_scored) in enumerate(continuations):
        tokens[index, : len(ids)] = torch.tensor(ids)
        scored[index, : len(ids)] = torch.tensor(is_scored)
    tokens, scored = tokens.repeat(n_prompts, 1), scored.repeat(n_prompts, 1)  # row = prompt * C + candidate
    real = torch.zeros_like(tokens)
    for index, (ids, _) in enumerate(continuations):
        real[index::n_candidates, : len(ids)] = 1
    cache.batch_repeat_interleave(n_candidates)
    attention = torch.cat([mask.repeat_interleave(n_candidates, dim=0), real], dim=1)
    continuation_positions = mask.sum(-1).repeat_interleave(n_candidates).unsqueeze(1) + torch.arange(width)
    logits = model(
        input_ids=tokens.to(model.device),
        attention_mask=attention.to(model.device),
        position_ids=continuation_positions.to(model.device),
        cache=cache,
        use_cache=False,
    ).logits
    # Token j of a candidate is predicted by the prompt's last logits (j = 0) or the continuation's j - 1.
    predicting = torch.cat([last_logits.repeat_interleave(n_candidates, dim=0).unsqueeze(1), logits[:, :-1]], dim=1)
    scored = scored.to(predicting.device)
    scores = _mean_log_likelihood(predicting, tokens.to(predicting.device), scored)
    return scores.view(n_prompts, n_candidates).cpu()


@dataclass
class PerplexityClassifier:
    """Scores a binary question by the likelihood of positive versus negative answer phrasings.

    A class's score is the MEAN over its phrasings of their mean token log-likelihoods. Why the mean:
    it is the log of the geometric-mean likelihood, so one odd phrasing cannot dominate, and it does
    not grow with the number of phrasings, so two lists of different lengths stay comparable (a
    log-sum-exp would favour the longer list by ``log N``). Why the per-token mean inside: a long
    phrasing is not penalized for its length.

    Args:
        positive: phrasings of the positive answer (e.g. yes, or a label such as "promoter").
        negative: phrasings of the negative answer.
        labels: names of the (negative, positive) classes, for reports.
        batch_size: questions per forward pass. Each question's prompt runs once and its
            ``len(positive) + len(negative)`` candidates continue from the prompt's cache
            (:func:`shared_prompt_log_likelihoods`).

    Example (a labelled task)::

        PerplexityClassifier(
            positive=("This sequence is a promoter.", "It acts as a promoter."),
            negative=("This sequence is not a promoter.", "It does not act as a promoter."),
            labels=("non_promoter", "promoter"),
        )
    """

    positive: Sequence[str] = YES_PHRASINGS
    negative: Sequence[str] = NO_PHRASINGS
    labels: tuple[str, str] = ("no", "yes")
    batch_size: int = 4

    def __post_init__(self):
        if isinstance(self.positive, str) or isinstance(self.negative, str):
            raise TypeError("positive and negative take lists of phrasings, not a single string.")
        if not self.positive or not self.negative:
            raise ValueError("Give at least one positive and one negative phrasing.")
        shared = set(self.positive) & set(self.negative)
        if shared:
            raise ValueError(
                f"Phrasings {sorted(shared)} are both positive and negative; each must belong to one class."
            )
        if len(self.labels) != 2:
            raise ValueError(f"labels names the (negative, positive) classes: two names, got {self.labels!r}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}.")

    def class_scores(
        self, model, processor, questions: Sequence, sequences: Sequence, shared_prefix=None, prompt_state=None
    ) -> torch.Tensor:
        """``(questions, 2)`` class scores, columns (negative, positive): mean log-likelihoods, usable as logits.

        ``shared_prefix``, ``prompt_state``: see :func:`shared_prompt_log_likelihoods`. The state is used
        for at most ``batch_size`` questions (scored together); a larger batch is scored in chunks without
        it, since each chunk's candidates repeat its prompts' cache ``len(candidates)`` times in memory.
        """
        if len(questions) != len(sequences):
            raise ValueError(
                f"Got {len(questions)} questions but {len(sequences)} sequence entries; pass one per question."
            )
        candidates = list(self.negative) + list(self.positive)
        if prompt_state is not None and len(questions) <= self.batch_size:
            scores = shared_prompt_log_likelihoods(
                model, processor, questions, sequences, candidates, shared_prefix, prompt_state
            )
        else:
            scores = torch.cat(
                [
                    shared_prompt_log_likelihoods(
                        model, processor, questions[start : start + self.batch_size],
                        sequences[start : start + self.batch_size], candidates, shared_prefix,
                    )
                    for start in range(0, len(questions), self.batch_size)
                ]
            )
        negative, positive = scores[:, : len(self.negative)], scores[:, len(self.negative) :]
        return torch.stack([negative.mean(dim=1), positive.mean(dim=1)], dim=1)

    def logit_difference(
        self, model, processor, questions: Sequence, sequences: Sequence, shared_prefix=None, prompt_state=None
    ) -> torch.Tensor:
        """Positive minus negative class score, shape ``(questions,)``: the feature Platt scaling is fitted on."""
        scores = self.class_scores(model, processor, questions, sequences, shared_prefix, prompt_state)
        return scores[:, 1] - scores[:, 0]

    def predict_proba(self, model, processor, questions: Sequence, sequences: Sequence) -> torch.Tensor:
        """Uncalibrated P(positive) per question: the softmax of the two class scores, in [0, 1]."""
        return self.class_scores(model, processor, questions, sequences).softmax(dim=1)[:, 1]


@torch.no_grad()
def classify(model, processor, questions, dna_sequences=None, *, classifier: PerplexityClassifier | None = None,
             shared_prefix=None, prompt_state: PromptState | None = None):
    """Answers yes/no questions with a probability: the perplexity-based classifier, calibrated.

    Each question is scored by how likely the model finds held-out "yes" versus "no" phrasings
    (:class:`PerplexityClassifier`); the softmax of the two scores is P(yes), which the model's Platt
    calibrator (``model.calibrator``, from ``calibration.json`` beside the weights, fitted on training-split
    questions) maps to a calibrated probability. Without a calibrator the raw P(yes) is returned and
    ``calibrated`` is False.

    Args:
        model: a :class:`~chatnt.ChatNTForConditionalGeneration`.
        processor: its :class:`~chatnt.ChatNTProcessor`.
        questions: a yes/no question (string, or chat messages ending with the user's turn), or a list.
        dna_sequences: what the processor takes for one question (a list for ``<DNA>``, a dict or FASTA
            path for ``@name``); for a list of questions, one such entry per question.
        classifier: other answer phrasings (e.g. label names); default: yes/no.
        shared_prefix: a ``chatnt.prefix_cache.SharedPromptPrefix`` when many questions share their start
            (one question over many sequences): that start is computed once, not per question.
        prompt_state: a :class:`PromptState` of these very prompts from a pass that just ran them
            (``chatnt.inference`` passes generate's), so they are not run again.

    Returns:
        Per question a dict: ``label`` ("yes" or "no", or the classifier's label names), ``probability``
        (of that label), ``p_positive`` (P(yes)), ``p_positive_uncalibrated`` and ``calibrated``. A dict
        for a single question, a list for a list.

    Example:
        >>> classify(model, processor, "Is @seq a promoter? Answer yes or no.", {"seq": "TATAAA..."})
        {'label': 'yes', 'probability': 0.71, 'p_positive': 0.71, 'p_positive_uncalibrated': 0.93, 'calibrated': True}
    """
    single = isinstance(questions, str) or (
        isinstance(questions, (list, tuple)) and bool(questions) and isinstance(questions[0], dict)
    )
    if single:
        questions, dna_sequences = [questions], [dna_sequences]
    elif dna_sequences is None or len(dna_sequences) != len(questions):
        raise ValueError(f"For {len(questions)} questions pass dna_sequences as a list with one entry per question.")
    classifier = classifier or PerplexityClassifier()
    was_training = model.training
    model.eval()
    try:
        logit = classifier.logit_difference(
            model, processor, list(questions), list(dna_sequences), shared_prefix, prompt_state
        ).double().numpy()
    finally:
        model.train(was_training)
    calibrator = getattr(model, "calibrator", None)
    raw = 1.0 / (1.0 + np.exp(-logit))  # softmax of the two class scores, as P(positive)
    calibrated = calibrator.transform(logit) if calibrator is not None else raw
    results = []
    for p_raw, p in zip(raw.tolist(), calibrated.tolist()):
        positive = p >= 0.5
        results.append(
            {
                "label": classifier.labels[1] if positive else classifier.labels[0],
                "probability": p if positive else 1.0 - p,
                "p_positive": p,
                "p_positive_uncalibrated": p_raw,
                "calibrated": calibrator is not None,
            }
        )
    return results[0] if single else results


__all__ = [
    "NO_PHRASINGS",
    "YES_PHRASINGS",
    "PerplexityClassifier",
    "answer_log_likelihoods",
    "classify",
    "PromptState",
    "shared_prompt_log_likelihoods",
]
