"""The ``chatnt`` command line's commands, each a documented Python function.

- :func:`~chatnt.commands.ask.ask`: one answer to a question about named sequences (``chatnt ask``).
- :func:`~chatnt.commands.predict.predict`: one question over every record of a FASTA file, streamed,
  batched and resumable, into a TSV (``chatnt predict``).
- :func:`~chatnt.commands.compare.compare`: one question over a reference and a variant sequence
  (``chatnt compare``).
- :func:`~chatnt.commands.chat.chat`: an interactive conversation over loaded FASTA records
  (``chatnt chat``).

Shared pieces: :mod:`~chatnt.commands.loading` (the model and its processor),
:mod:`~chatnt.commands.answering` (batched answers with calibrated yes/no probabilities),
:mod:`~chatnt.commands.questions` (yes/no detection, answer parsing, the per-record question form) and
:mod:`~chatnt.commands.sequences` (checking records against the DNA encoder's limits).
"""

from .answering import AnswerResult
from .ask import ask
from .chat import ChatSession, chat
from .compare import CompareResult, compare
from .loading import default_model, load_chatnt
from .predict import PredictSummary, predict

__all__ = [
    "AnswerResult",
    "ChatSession",
    "CompareResult",
    "PredictSummary",
    "ask",
    "chat",
    "compare",
    "default_model",
    "load_chatnt",
    "predict",
]
