"""Which DNA bases a ChatNT answer rests on: gradient x input of the first answer token.

ChatNT answers a classification question with the label first ("Yes, ...", "Mafk.", "acceptor"), so
the logit of the FIRST answer token is the model's decision in one number. Its gradient with respect
to the DNA encoder's input token embeddings, taken back through the decoder, the projection and the
encoder, says how a small change of each DNA token would move that decision; multiplied by the
embedding itself and summed over the hidden dimension (gradient x input) it is a first-order estimate
of each token's contribution (Shrikumar et al. 2016; the ChatNT paper's attribution maps). A model
that opens with a preamble ("The answer is Oct4.") puts no label in its first token: pass the label
itself as ``answer`` to explain the label's logit right after the assistant prefix.

Each 6-mer token's score is then spread evenly over the 6 bases it covers (single-base and N tokens
cover one), giving one signed score per base pair: the input of the track and logo plots
(:mod:`chatnt.evaluation.plots`) and of the top k-mer windows, whose frequencies aggregate over many
sequences per task and label (``kmer_frequencies``, ``aggregate_by_label``).

Typical use::

    result = attribute(model, processor, "Is @seq1 a promoter?", {"seq1": "TATAAAAG..."})
    result.answer, result.target_token                 # "Yes.", "Yes"
    seq = result.sequences[0]
    seq.peak(), seq.top_kmers()                        # 37, [(35, "TATAAA", 0.81), ...]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

# Sentinel default of ``attribute(system_prompt=...)``: use the processor's own system prompt, as the
# pipeline and ``chatnt ask`` do, so the attribution explains the answer those give.
PROCESSOR_SYSTEM_PROMPT = object()


@dataclass
class SequenceAttribution:
    """Gradient x input scores of one DNA sequence of a question.

    Attributes:
        name: the sequence's name (FASTA id / ``@name``, or ``seq{i}`` for ``<DNA>`` placeholders).
        sequence: the DNA as given, uppercased.
        tokens: the encoder's DNA tokens (6-mers, leftover single bases, N), special tokens excluded.
        token_scores: ``(len(tokens),)`` gradient x input summed over the hidden dimension, signed:
            positive tokens push the answer's first token up.
        base_scores: ``(len(sequence),)`` per base pair: each token's score spread evenly over its bases.
    """

    name: str
    sequence: str
    tokens: list[str]
    token_scores: np.ndarray
    base_scores: np.ndarray

    def top_kmers(self, k: int = 6, n: int = 5) -> list[tuple[int, str, float]]:
        """The ``n`` non-overlapping ``k``-bp windows with the highest summed ``|base_scores|``.

        Windows are picked greedily, best first, skipping any that overlaps one already picked (so one
        strong token does not fill the list with shifted copies of itself).

        Returns:
            ``(start, k-mer, summed |score|)`` tuples, highest score first; fewer than ``n`` when the
            sequence has no room for more, none when it is shorter than ``k``.
        """
        if k < 1 or n < 1:
            raise ValueError(f"top_kmers needs k >= 1 and n >= 1, got k={k}, n={n}.")
        magnitude = np.abs(np.asarray(self.base_scores, dtype=np.float64))
        if len(magnitude) < k:
            return []
        window_sums = np.convolve(magnitude, np.ones(k), mode="valid")  # window_sums[s] = sum of s..s+k-1
        taken = np.zeros(len(magnitude), dtype=bool)
        chosen = []
        for start in np.argsort(-window_sums, kind="stable"):
            if taken[start : start + k].any():
                continue
            taken[start : start + k] = True
            chosen.append((int(start), self.sequence[start : start + k], float(window_sums[start])))
            if len(chosen) == n:
                break
        return chosen

    def peak(self) -> int:
        """Index of the base with the highest ``|base_scores|`` (the first one on ties)."""
        return int(np.argmax(np.abs(self.base_scores)))

    def to_dict(self) -> dict:
        """JSON-ready form (lists instead of arrays), with the peak and top 6-mers for convenience."""
        return {
            "name": self.name,
            "sequence": self.sequence,
            "tokens": list(self.tokens),
            "token_scores": [float(score) for score in self.token_scores],
            "base_scores": [float(score) for score in self.base_scores],
            "peak": self.peak(),
            "top_kmers": [{"start": s, "kmer": kmer, "score": score} for s, kmer, score in self.top_kmers()],
        }


@dataclass
class AnswerAttribution:
    """Attribution of one answer over every DNA sequence of its question.

    Attributes:
        answer: the answer text (generated greedily, or the one given).
        target_token: the first answer token, whose logit was differentiated.
        sequences: one :class:`SequenceAttribution` per sequence, in the order the question uses them.
    """

    answer: str
    target_token: str
    sequences: list[SequenceAttribution] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "answer": self.answer,
            "target_token": self.target_token,
            "sequences": [sequence.to_dict() for sequence in self.sequences],
        }


def _sequence_name(reference: str, index: int) -> str:
    """``@chr1:1-200`` -> ``chr1:1-200``; the processor's positional ``sequence 0`` -> ``seq0``."""
    if reference.startswith("@"):
        return reference[1:]
    if reference == f"sequence {index}":
        return f"seq{index}"
    return reference


def _conversation(processor, question, system_prompt) -> list[dict]:
    messages = [{"role": "user", "content": question}] if isinstance(question, str) else [dict(m) for m in question]
    if system_prompt is PROCESSOR_SYSTEM_PROMPT:
        return messages
    if messages and messages[0]["role"] == "system":
        messages = messages[1:]
    if system_prompt is not None:
        return [{"role": "system", "content": system_prompt}, *messages]
    return messages  # no system message: attribute() switches the processor's default off for the call


def spread_over_bases(tokens: list[str], token_scores: np.ndarray, sequence_length: int, name: str) -> np.ndarray:
    """Per-base scores: each token's score divided evenly over the bases it covers.

    NT tokens cut the sequence left to right without gaps or overlap (6-mers, then leftover single
    bases, each N its own token), so a token's string length is the number of bases it covers.

    Raises:
        ValueError: the tokens do not cover the sequence exactly (e.g. it was truncated to the model's
            maximum DNA length).
    """
    widths = np.array([len(token) for token in tokens], dtype=np.int64)
    covered = int(widths.sum())
    if covered != sequence_length:
        raise ValueError(
            f"{name}: its {len(tokens)} DNA tokens cover {covered} bp but the sequence has {sequence_length} bp"
            + (" (it was truncated to the model's maximum DNA length; attribute a shorter window)."
               if covered < sequence_length else ".")
        )
    return np.repeat(np.asarray(token_scores, dtype=np.float64) / widths, widths)


def _first_label_token(processor, token_ids: list[int]) -> int:
    """Index of the first token that carries text: a leading space or newline token (BPE often splits
    ``" Yes"`` after ``"ASSISTANT:"`` into ``" "`` + ``"Yes"``) says nothing about the label."""
    special = set(processor.tokenizer.all_special_ids)
    for index, token_id in enumerate(token_ids):
        if token_id in special or processor.decode([token_id]).strip():
            return index
    return 0


def _prompt_and_target(model, processor, conversation, sequences, answer, max_new_tokens, replace_unknown_with_n, bf16):
    """The model inputs up to the first answer token, that token's id, and the answer text.

    With an answer given, the prompt + answer is tokenized the way training does (the processor's
    labels mark the answer tokens), so the target is the token the model is trained to produce there.
    Without one, the greedy answer is generated and its first token is the target. Leading
    whitespace-only answer tokens stay in the inputs and the target is the token after them. The
    English-aware Perceiver reads the prompt only (``english_attention_mask``), as in ``generate``.
    """
    options = {"replace_unknown_with_n": replace_unknown_with_n}
    if answer is not None:
        full = dict(processor(conversation, sequences, answers=answer, **options))
        labels = full.pop("labels")[0]
        answer_positions = torch.nonzero(labels != -100).flatten().tolist()
        if not answer_positions:
            raise ValueError(f"The answer {answer!r} became no token; pass a non-empty answer.")
        answer_ids = full["input_ids"][0, answer_positions].tolist()
        cut = answer_positions[_first_label_token(processor, answer_ids)]
        inputs = {**full, "input_ids": full["input_ids"][:, :cut], "attention_mask": full["attention_mask"][:, :cut]}
        inputs["english_attention_mask"] = inputs["attention_mask"] * (labels[:cut] == -100).long().unsqueeze(0)
        return inputs, int(full["input_ids"][0, cut]), answer
    prompt = dict(processor(conversation, sequences, **options))
    prompt.pop("labels", None)  # earlier assistant turns of a conversation get labels; generation needs none
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and model.device.type == "cpu"):
        generated = model.generate(
            **{key: value.to(model.device) for key, value in prompt.items()}, max_new_tokens=max_new_tokens,
            do_sample=False,
        )
    new_ids = generated[0, prompt["input_ids"].shape[1] :].cpu()
    if len(new_ids) == 0:
        raise ValueError("The model generated no answer token (max_new_tokens must be at least 1).")
    text = processor.decode(new_ids, skip_special_tokens=True).strip()
    first = _first_label_token(processor, new_ids.tolist())
    inputs = {
        **prompt,
        "input_ids": torch.cat([prompt["input_ids"], new_ids[:first].unsqueeze(0)], dim=1),
        "attention_mask": torch.cat([prompt["attention_mask"], torch.ones(1, first, dtype=torch.long)], dim=1),
        "english_attention_mask": prompt["attention_mask"],
    }
    return inputs, int(new_ids[first]), text


def attribute(
    model,
    processor,
    question,
    sequences,
    answer: str | None = None,
    system_prompt=PROCESSOR_SYSTEM_PROMPT,
    *,
    max_new_tokens: int = 32,
    replace_unknown_with_n: bool = False,
    bf16: bool = False,
) -> AnswerAttribution:
    """Gradient x input of the first answer token's logit over every DNA base of a question.

    Args:
        model: a :class:`~chatnt.ChatNTForConditionalGeneration` (any projector); it is used in eval
            mode and left as it was (training flag, ``requires_grad``, no hooks or ``.grad`` left behind).
        processor: its :class:`~chatnt.ChatNTProcessor`.
        question: English with ``<DNA>`` placeholders or ``@name`` tags (or chat messages), as for the
            processor and pipeline.
        sequences: a list of sequences (for ``<DNA>``, in order), a dict ``name -> sequence`` (for
            ``@name``), or a FASTA path.
        answer: the answer to explain; ``None`` generates the greedy answer and explains that.
        system_prompt: the system message; default: the processor's (as ``chatnt ask`` uses); ``None``
            for none.
        max_new_tokens: length limit of the generated answer (only its first token is attributed).
        replace_unknown_with_n: read IUPAC codes as N instead of raising.
        bf16: run under bfloat16 autocast on a CPU (faster, noisier gradients); default float32.

    Returns:
        An :class:`AnswerAttribution` with one :class:`SequenceAttribution` per sequence.

    Raises:
        ValueError: unknown ``@name``, placeholder/sequence count mismatch, bad alphabet, or a sequence
            longer than the processor's DNA limit (from the processor), with its message.
    """
    conversation = _conversation(processor, question, system_prompt)
    saved_system_prompt = processor.system_prompt
    if system_prompt is None:
        processor.system_prompt = None
    try:
        # The processor resolves @names / placeholders to (reference, sequence) in placeholder order: the
        # order of the rows of dna_input_ids.
        _, ordered = processor._resolve_sequences(processor._to_messages(conversation), sequences, "")
        if not ordered:
            raise ValueError(
                "The question refers to no DNA sequence: add <DNA> placeholders or @name tags to attribute its answer."
            )
        was_training = model.training
        model.eval()
        try:
            inputs, target_id, answer_text = _prompt_and_target(
                model, processor, conversation, sequences, answer, max_new_tokens, replace_unknown_with_n, bf16
            )
            embeddings, gradient = _embedding_gradient(model, inputs, target_id, bf16)
        finally:
            model.train(was_training)
    finally:
        processor.system_prompt = saved_system_prompt

    scores = (gradient.double() * embeddings.double()).sum(-1).cpu().numpy()  # (sequences, DNA length)
    dna_ids, dna_mask = inputs["dna_input_ids"], inputs["dna_attention_mask"].bool()
    special_ids = set(processor.dna_tokenizer.all_special_ids)
    results = []
    for row, (reference, raw_sequence) in enumerate(ordered):
        name = _sequence_name(reference, row)
        keep = [column for column in range(dna_ids.shape[1])
                if dna_mask[row, column] and int(dna_ids[row, column]) not in special_ids]
        tokens = processor.dna_tokenizer.convert_ids_to_tokens([int(dna_ids[row, column]) for column in keep])
        token_scores = scores[row, keep].astype(np.float64)
        sequence = raw_sequence.upper()
        base_scores = spread_over_bases(tokens, token_scores, len(sequence), name)
        results.append(SequenceAttribution(name, sequence, tokens, token_scores, base_scores))
    # The decoded text ("Yes", " Mafk") reads better than the BPE symbol ("ĠYes"); special tokens keep their name.
    target_token = processor.decode([target_id]) or processor.tokenizer.convert_ids_to_tokens(target_id)
    return AnswerAttribution(answer_text, target_token, results)


def _embedding_gradient(model, inputs: dict, target_id: int, bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The DNA encoder's input embeddings and the gradient of the target logit (last position) w.r.t. them.

    A forward hook swaps the embedding layer's output for a leaf tensor that requires grad; every
    parameter is frozen for the pass, so autograd builds only the path from that leaf to the logit and
    no parameter gets a ``.grad``. Hook and ``requires_grad`` flags are restored whatever happens.
    """
    embedding_layer = model.model.dna_encoder.get_input_embeddings()
    captured: list[torch.Tensor] = []

    def capture(module, module_inputs, output):
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf

    parameters = list(model.parameters())
    trainable = [parameter.requires_grad for parameter in parameters]
    handle = embedding_layer.register_forward_hook(capture)
    try:
        for parameter in parameters:
            parameter.requires_grad_(False)
        device_inputs = {key: value.to(model.device) for key, value in inputs.items()}
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and model.device.type == "cpu")
        with torch.enable_grad(), autocast:
            logits = model(**device_inputs, logits_to_keep=1).logits
            if len(captured) != 1:
                raise RuntimeError(
                    f"The DNA encoder's input embedding ran {len(captured)} times in one forward pass; expected once."
                )
            target_logit = logits[0, -1, target_id].float()
            (gradient,) = torch.autograd.grad(target_logit, captured[0])
    finally:
        handle.remove()
        for parameter, flag in zip(parameters, trainable):
            parameter.requires_grad_(flag)
    return captured[0].detach(), gradient.detach()


def kmer_frequencies(attributions: Iterable[SequenceAttribution], k: int = 6, n: int = 5) -> Counter:
    """How often each k-mer is among the top-``n`` windows of a sequence, over many sequences.

    A k-mer the model relies on for a task shows up across sequences; one that only one sequence
    happens to contain does not.
    """
    counts: Counter = Counter()
    for attribution in attributions:
        counts.update(kmer for _, kmer, _ in attribution.top_kmers(k, n))
    return counts


def aggregate_by_label(
    records: Iterable[tuple[str, SequenceAttribution]], k: int = 6, n: int = 5
) -> dict[str, Counter]:
    """Top k-mer frequencies per label (e.g. gold or answered label of one task).

    Args:
        records: ``(label, SequenceAttribution)`` pairs.

    Returns:
        ``{label: Counter(k-mer -> sequences whose top-n windows hold it)}``, labels in first-seen order.
    """
    by_label: dict[str, list[SequenceAttribution]] = {}
    for label, attribution in records:
        by_label.setdefault(label, []).append(attribution)
    return {label: kmer_frequencies(items, k, n) for label, items in by_label.items()}


__all__ = [
    "PROCESSOR_SYSTEM_PROMPT",
    "AnswerAttribution",
    "SequenceAttribution",
    "aggregate_by_label",
    "attribute",
    "kmer_frequencies",
    "spread_over_bases",
]
