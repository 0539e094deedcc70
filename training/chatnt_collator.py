"""Batches of ChatNT instruction rows -> model inputs with the loss on the assistant answers only.

TRL's ``SFTTrainer`` knows nothing of DNA: its own preparation and collator would drop the sequences.
So the recipe skips its dataset preparation (``dataset_kwargs={"skip_prepare_dataset": True}``), keeps
every column (``remove_unused_columns=False``) and tokenizes here, at batch time, with the
:class:`~chatnt.ChatNTProcessor`.

A row (the schema of ``chatnt.tasks.instruction_data``)::

    {"task": "promoter_300bp",
     "messages": [{"role": "user", "content": "Is @seq1 a promoter?"},
                  {"role": "assistant", "content": "promoter"}],
     "sequences": [{"name": "seq1", "sequence": "ACGT..."}],
     "split": "train",
     "answers": ["promoter"]}
"""

from __future__ import annotations

import torch

from chatnt.processing_chatnt import ChatNTProcessor


def row_sequences(row: dict) -> dict[str, str]:
    """The row's named sequences as the ``{name: sequence}`` dict that the processor resolves ``@name`` with."""
    named = {entry["name"]: entry["sequence"] for entry in row["sequences"]}
    if len(named) != len(row["sequences"]):
        raise ValueError(f"Row of task {row.get('task')!r} names two sequences alike: {[s['name'] for s in row['sequences']]}")
    return named


class ChatNTDataCollator:
    """Turns instruction rows into ``input_ids``, ``attention_mask``, ``labels``, DNA ids and masks.

    ``labels`` copy the token ids of the assistant turns, end-of-turn token included (so the model
    learns to stop), and are -100 everywhere else: system and user turns, ``<DNA>`` placeholders and
    padding. ``english_attention_mask`` hides the answers from the English-aware Perceiver: it marks
    the tokens it may read, the prompt only, as at generation time. The model derives the same mask
    from ``labels`` itself, but TRL's fused LM head calls the backbone without ``labels``, so the
    collator passes it explicitly.

    Args:
        processor: the model's :class:`~chatnt.ChatNTProcessor`.
        max_length: longest tokenized conversation allowed; a longer batch raises (cutting would drop
            answers or placeholders). ``None``: no limit.
        replace_unknown_with_n: read IUPAC ambiguity codes (present in real rRNA) as N.
        share_prefix: add ``shared_prefix_length`` (see :func:`shared_prefix_length`), so that a model with a
            frozen decoder runs the rows' common start (the system message) once per batch, without gradient.

    Example:
        >>> collator = ChatNTDataCollator(processor)
        >>> batch = collator([row])  # a row of the schema above
        >>> sorted(batch)
        ['attention_mask', 'dna_attention_mask', 'dna_input_ids', 'english_attention_mask', 'input_ids', 'labels']
    """

    def __init__(
        self,
        processor: ChatNTProcessor,
        max_length: int | None = None,
        replace_unknown_with_n: bool = True,
        share_prefix: bool = False,
    ):
        self.processor = processor
        self.max_length = max_length
        self.replace_unknown_with_n = replace_unknown_with_n
        self.share_prefix = share_prefix

    def row_length(self, row: dict) -> int:
        """How many tokens ``row`` becomes (DNA placeholders included): what length-grouped sampling sorts by."""
        encoded = self.processor([row["messages"]], [row_sequences(row)], replace_unknown_with_n=self.replace_unknown_with_n,
                                 return_tensors="pt")
        return int(encoded["input_ids"].shape[1])

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        for row in rows:
            turns = sum(message["role"] == "assistant" for message in row["messages"])
            if turns == 0:
                raise ValueError(f"A training row of task {row.get('task')!r} has no assistant turn to learn from.")
        batch = self.processor(
            [row["messages"] for row in rows],
            [row_sequences(row) for row in rows],
            replace_unknown_with_n=self.replace_unknown_with_n,
            padding_side="right",
            return_tensors="pt",
        )
        length = batch["input_ids"].shape[1]
        if self.max_length is not None and length > self.max_length:
            raise ValueError(
                f"A batch holds a conversation of {length} tokens, more than max_length={self.max_length}. "
                "Raise max_length or shorten the conversations (a cut would drop answers or DNA placeholders)."
            )
        labels = batch["labels"]
        inputs = {
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "labels": labels,
            "english_attention_mask": (batch["attention_mask"].bool() & (labels == -100)).long(),
        }
        # A batch of English-only rows (no sequence) has no DNA inputs.
        for key in ("dna_input_ids", "dna_attention_mask"):
            if key in batch:
                inputs[key] = batch[key]
        if self.share_prefix:
            length = shared_prefix_length(batch["input_ids"], labels, self.processor.dna_token_id)
            if length > 0:
                inputs["shared_prefix_length"] = length
        return inputs


def shared_prefix_length(input_ids: torch.Tensor, labels: torch.Tensor, dna_token_id: int) -> int:
    """How many leading tokens every row shares and the model may run once (``shared_prefix_length``): the
    identical leading columns, stopping before the first ``<DNA>`` and one token before the first label, so that
    every predicted token is predicted from a position after them. 0 for a single row."""
    if input_ids.shape[0] < 2:
        return 0
    same = (input_ids == input_ids[:1]).all(0) & (input_ids[0] != dna_token_id)
    length = int(same.long().cumprod(0).sum())
    labelled = torch.nonzero((labels != -100).any(0)).flatten()
    if len(labelled):
        length = min(length, int(labelled[0]) - 1)
    return max(length, 0)


__all__ = ["ChatNTDataCollator", "row_sequences", "shared_prefix_length"]
