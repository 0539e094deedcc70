"""The command line's answer lines: :func:`chatnt.inference.answer` under autocast, shown with the probability.

Generation and the probability are two readings of the model (see :mod:`chatnt.inference`) and can disagree.
The answer line therefore gives the probability of the answer it shows, and says when the classifier prefers
the other one (:meth:`AnswerResult.__str__`).
"""

import contextlib
from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from ..inference import Answer, answer
from ..prefix_cache import SharedPromptPrefix
from .questions import parse_yes_no, shown_answer


def _probability_text(p: float) -> str:
    """Two decimals, or up to four when two would round a probability off 0.5 to 0.50 and hide its side;
    ``0.50`` for a tie to four decimals."""
    for digits in (2, 3, 4):
        text = f"{p:.{digits}f}"
        if float(text) != 0.5:
            return text
    return "0.50"


@dataclass(frozen=True)
class AnswerResult(Answer):
    """An :class:`~chatnt.inference.Answer` as the command line shows it: ``answer`` (the text), what it states and
    the line with its probability; ``to_dict`` is the JSON form (``{"answer", "label", "probability", "p_yes",
    "calibrated"}``)."""

    @property
    def answer(self) -> str:
        """The generated text, stripped."""
        return self.text

    @property
    def stated(self) -> str | None:
        """``"yes"`` or ``"no"`` as the generated answer states it, ``None`` when it states neither."""
        return parse_yes_no(self.answer)

    def confidence_text(self) -> str:
        """The classifier's probability of the answer shown, and whether it agrees, or ``""`` without one.

        ``"(P(no) = 0.97, calibrated)"`` when the answer says no and the classifier agrees;
        ``"(P(yes) = 0.32, calibrated; the classifier prefers no)"`` when they disagree; for an answer that
        states neither yes nor no, the classifier's own verdict: ``"(the classifier says yes: P(yes) = 0.71,
        calibrated)"``.
        """
        if self.probability is None:
            return ""
        kind = "calibrated" if self.calibrated else "uncalibrated"
        stated = self.stated
        if stated is None:
            return f"(the classifier says {self.label}: P({self.label}) = {_probability_text(self.probability)}, {kind})"
        p_stated = _probability_text(self.p_yes if stated == "yes" else 1.0 - self.p_yes)
        text = f"P({stated}) = {p_stated}, {kind}"
        if float(p_stated) < 0.5:  # a difference smaller than the printed digits is no preference
            text += f"; the classifier prefers {'no' if stated == 'yes' else 'yes'}"
        return f"({text})"

    def probability_cells(self) -> tuple[str, str]:
        """P(yes) to four decimals and whether it is calibrated, as TSV cells (both empty without a probability)."""
        return ("" if self.p_yes is None else f"{self.p_yes:.4f}",
                "" if self.calibrated is None else str(self.calibrated).lower())

    def __str__(self) -> str:
        """The answer line: ``no (P(no) = 0.97, calibrated)``; see :meth:`confidence_text`."""
        return " ".join(part for part in (shown_answer(self.answer), self.confidence_text()) if part)

    def to_dict(self) -> dict:
        fields = asdict(self)
        return {"answer": fields.pop("text"), **fields}


def autocast(bf16: bool):
    """bfloat16 autocast on the CPU (as chatnt-mini was trained and calibrated; faster), or nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def answer_batch(
    chatnt,
    questions: Sequence,
    sequences: Sequence,
    confidence: Sequence[bool],
    max_new_tokens: int = 64,
    bf16: bool = True,
    shared_prefix: SharedPromptPrefix | None = None,
) -> list[AnswerResult]:
    """:func:`chatnt.inference.answer` on a loaded model, under bfloat16 autocast, as answer lines.

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
    with autocast(bf16):
        answers = answer(chatnt.model, chatnt.processor, questions, sequences, confidence,
                         max_new_tokens=max_new_tokens, shared_prefix=shared_prefix)
    return [AnswerResult(**asdict(a)) for a in answers]


__all__ = ["AnswerResult", "answer_batch", "autocast"]
