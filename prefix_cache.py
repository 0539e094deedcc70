"""Prefix caching: the decoder runs the text that every prompt of a run starts with once, not per prompt.

Asking one question of thousands of sequences (``chatnt predict``), every prompt starts with the same
system message and question text (158 of chatnt-mini's 204 prompt tokens for "Is @seq a promoter?
Answer yes or no."); only the DNA vectors after it differ. :class:`SharedPromptPrefix` keeps the
decoder's key/value cache of that shared start; generation (``cache=``) and the perplexity
classifier continue each batch from a copy of it, so prefill costs only the tokens from the first
``<DNA>`` placeholder on. The English-aware Perceiver still reads the whole question (the model's
``prompt_input_ids``). Results equal uncached ones (equal logits in fp32, tested).
"""

import copy

import torch


class SharedPromptPrefix:
    """The decoder cache of the prompts' common start, built from the first batch it sees.

    The prefix is the first batch's rows' common start, up to the first ``<DNA>`` placeholder. A batch
    that does not start with it, or that is left-padded (rows of different length: padding shifts the
    prefix), gets no cache and is computed in full.

    The cache is computed under the caller's autocast and device, so keep one instance per run and
    setting (one question, one model, one dtype).

    Example::

        prefix = SharedPromptPrefix()
        for batch in batches:
            inputs = processor(questions, sequences, return_tensors="pt")
            model.generate(**inputs, cache=prefix.cache_for(model, inputs))
    """

    def __init__(self):
        self.tokens: torch.Tensor | None = None
        self.cache = None

    def _build(self, model, input_ids: torch.Tensor) -> None:
        first = input_ids[0]
        length = int((input_ids == first).all(0).long().cumprod(0).sum())  # leading columns equal in every row
        placeholders = torch.nonzero(first == model.config.dna_token_id).flatten()
        if len(placeholders):
            length = min(length, int(placeholders[0]))
        length = min(length, input_ids.shape[1] - 1)  # the model needs at least one uncached token
        self.tokens = first[:length].clone()
        if length > 0:
            with torch.no_grad():
                self.cache = model(input_ids=self.tokens.unsqueeze(0), use_cache=True, logits_to_keep=1).cache

    def cache_for(self, model, inputs):
        """A fresh copy of the prefix cache for every row of ``inputs`` (a processor batch), or ``None``.

        Pass it as ``cache``; the model then computes only the tokens after the prefix.
        """
        input_ids, attention_mask = inputs["input_ids"], inputs.get("attention_mask")
        if attention_mask is not None and not bool(attention_mask.all()):
            return None
        if self.tokens is None:
            self._build(model, input_ids)
        length = len(self.tokens)
        if self.cache is None or input_ids.shape[1] <= length:
            return None
        if not bool((input_ids[:, :length] == self.tokens.to(input_ids.device)).all()):
            return None
        cache = copy.deepcopy(self.cache)  # the model appends to the cache it is given
        cache.batch_repeat_interleave(input_ids.shape[0])
        return cache


__all__ = ["SharedPromptPrefix"]
