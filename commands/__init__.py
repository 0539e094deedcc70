"""The ``chatnt`` command line's commands, each a documented Python function.

- :func:`~chatnt.commands.ask.ask`: one answer to a question about named sequences (``chatnt ask``).
- :func:`~chatnt.commands.predict.predict`: one question over every record of a FASTA file, streamed,
  batched and resumable, into a TSV (``chatnt predict``).
- :func:`~chatnt.commands.compare.compare`: one question over a reference and a variant sequence
  (``chatnt compare``).
- :func:`~chatnt.commands.scan.scan`: one question over sliding windows of long sequences (whole genomes, BED
  regions, both strands), into BED/bedGraph tracks (``chatnt scan``).
- :func:`~chatnt.commands.variants.score_variants`: the change of a calibrated yes/no answer per VCF variant
  (``chatnt variants``).
- :func:`~chatnt.commands.chat.chat`: an interactive conversation over loaded FASTA records
  (``chatnt chat``).

Shared pieces: :mod:`~chatnt.commands.loading` (the model and its processor), :mod:`~chatnt.commands.sharding`
(resumable row files, spread over processes under ``accelerate launch``),
:mod:`~chatnt.commands.answering` (batched answers with calibrated yes/no probabilities),
:mod:`~chatnt.commands.questions` (yes/no detection, answer parsing, the per-record question form) and
:mod:`~chatnt.commands.sequences` (checking records against the DNA encoder's limits).
"""

from .. import lazy_exports

# Imported on first use, so that the command line's parser (which reads only constants) starts at once; the
# commands themselves need torch and transformers.
_EXPORTS = {
    "AnswerResult": "answering",
    "ChatSession": "chat",
    "CompareResult": "compare",
    "PredictSummary": "predict",
    "ask": "ask",
    "chat": "chat",
    "compare": "compare",
    "default_model": "loading",
    "load_chatnt": "loading",
    "predict": "predict",
    "scan": "scan",
    "ScanSummary": "scan",
    "score_variants": "variants",
    "VariantsSummary": "variants",
}


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = sorted(_EXPORTS)
