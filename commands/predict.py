"""``chatnt predict``: the same question over every record of a FASTA file, into a resumable TSV.

The question refers to the record as ``<DNA>`` or by any single ``@tag`` ("Is @seq a promoter? Answer
yes or no."); every record is asked that question in turn.

- Streamed: records are read one at a time (:func:`chatnt.fasta.iter_fasta`); memory does not grow
  with the file.
- Batched: ``batch_size`` records are generated together, and their probabilities scored together.
  The prompt's shared start (system message, question text before the record) runs through the decoder
  once per run, not once per record (:class:`~chatnt.prefix_cache.SharedPromptPrefix`).
- Resumable: rows go to ``<out>.partial``, flushed after every batch, beside ``<out>.partial.json`` (the
  settings the rows were made with). A re-run with the same settings reads the ids already there,
  drops a torn last line, and goes on with the records that are missing. Only a finished run renames
  ``<out>.partial`` to ``<out>``, so a file named ``<out>`` is always complete.

Columns of the TSV (tab-separated, one header line):
  ``id`` (record id), ``answer`` (generated text, tabs and newlines turned into spaces), ``parsed`` (the
  label or value: with ``task`` the task registry's parser, else yes/no for a yes/no question, else
  empty), ``probability`` (calibrated P(yes) of the perplexity classifier; empty when not asked for),
  ``calibrated`` (``true``/``false``; empty when there is no probability), ``truncated`` (``true`` when
  ``--truncate`` cut the record to the encoder's limit: the answer is about its start only).
"""

import hashlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..fasta import iter_fasta
from ..prefix_cache import SharedPromptPrefix
from .answering import answer_batch
from .loading import load_chatnt
from .questions import is_yes_no_question, parsed_answer, record_question_template, task_parser, wants_confidence
from .sequences import checked_sequence, iupac_as_n
from .sharding import ResumableRun, tsv_cell

COLUMNS = ("id", "answer", "parsed", "probability", "calibrated", "truncated")
MAX_LISTED_LABELS = 10


@dataclass
class PredictSummary:
    """What a :func:`predict` run wrote.

    Attributes:
        out: the finished TSV.
        records: rows in it (one per FASTA record).
        answered: records answered by this run (the rest came from an interrupted earlier run).
        parsed_counts: rows per parsed label or value.
        unparsed: rows whose answer gave no label or value (always 0 when nothing is parsed).
        seconds: wall time of this run's answering.
        truncated: rows whose record ``--truncate`` cut.
    """

    out: str
    records: int
    answered: int
    parsed_counts: dict[str, int] = field(default_factory=dict)
    unparsed: int = 0
    seconds: float = 0.0
    truncated: int = 0
    processes: int = 1

    @property
    def records_per_second(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    def report(self) -> str:
        """The summary printed at the end of ``chatnt predict``."""
        resumed = self.records - self.answered
        lines = [f"records: {self.records} -> {self.out}" + (f" ({resumed} from an earlier run)" if resumed else "")]
        if self.parsed_counts or self.unparsed:
            # Most frequent first; values of a regression task are many, so only the top ones are listed.
            ranked = sorted(self.parsed_counts.items(), key=lambda item: (-item[1], item[0]))
            counts = ", ".join(f"{label} {count}" for label, count in ranked[:MAX_LISTED_LABELS])
            if len(ranked) > MAX_LISTED_LABELS:
                counts += f", ... ({len(ranked)} distinct)"
            lines.append(f"parsed: {counts or '-'}")
            lines.append(f"unparsed: {self.unparsed}")
        if self.truncated:
            lines.append(f"truncated: {self.truncated} (answered about their start only; column 'truncated')")
        speed = f"{self.records_per_second:.2f} records/s"
        by = f" by {self.processes} processes" if self.processes > 1 else ""
        lines.append(f"speed: {speed} ({self.answered} answered in {self.seconds:.1f} s{by})")
        return "\n".join(lines)


def _row(record_id: str, result, parsed: str, truncated: bool) -> str:
    cells = (record_id, tsv_cell(result.answer), tsv_cell(parsed), *result.probability_cells(), str(truncated).lower())
    return "\t".join(cells) + "\n"


def _sequences(fasta, iupac: bool):
    """``(id, sequence)`` of every record, streamed, IUPAC codes read as N when ``iupac`` (``--iupac-as-n``)."""
    for record in iter_fasta(fasta):
        yield record.id, iupac_as_n(record.sequence) if iupac else record.sequence


def count_records(fasta, processor=None, truncate: bool = False, iupac: bool = False) -> int:
    """Records in a FASTA file, streamed; with the model's ``processor``, also checks that each is readable.

    Run before any answering, so that a bad record (duplicate id, letters that are not nucleotides, too
    long without ``truncate``) stops the run at once, not after hours, and the count is the progress total.

    Raises:
        FileNotFoundError, ValueError: as :func:`chatnt.fasta.iter_fasta` and
            :func:`~chatnt.commands.sequences.checked_sequence`, naming the record.
    """
    count = 0
    for record_id, sequence in _sequences(fasta, iupac):
        if processor is not None:
            checked_sequence(processor, record_id, sequence, truncate)
        count += 1
    return count


def summarize(out: Path, answered: int, seconds: float, parsing: bool) -> PredictSummary:
    """Counts rows and parsed labels of a finished TSV, streamed; ``parsing``: whether answers were parsed."""
    counts, unparsed, records, truncated = Counter(), 0, 0, 0
    with open(out, encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            records += 1
            cells = line.rstrip("\n").split("\t")
            truncated += cells[5] == "true"
            if cells[2]:
                counts[cells[2]] += 1
            else:
                unparsed += 1
    return PredictSummary(str(out), records, answered, dict(counts), unparsed if parsing else 0, seconds, truncated)


def _file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _settings(fasta, question, task, confidence, model, max_new_tokens, bf16, batch_size, iupac=False, processes=1) -> dict:
    """What the rows of a run depend on; a resumed run must match them: the input file by content (a resume with
    another file would mix their rows), the batch size (bf16 answers depend on what is padded together) and the
    number of processes (their shard files).
    (``truncate`` is not among them: a record that fits is never cut, so adding ``--truncate`` after an
    over-long record stopped a run is safe.)"""
    local = Path(model)
    return {
        "fasta_sha256": _file_sha256(fasta), "question": question, "task": task, "confidence": confidence,
        "max_new_tokens": max_new_tokens, "bf16": bf16, "batch_size": batch_size, "iupac_as_n": iupac,
        "model": str(local.resolve()) if local.exists() else model, "processes": processes,
    }


def _read_record(processor, record_id: str, sequence: str, truncate: bool) -> tuple[str, str, bool]:
    """``(id, the sequence as the model reads it, whether it was cut to the encoder's limit)``."""
    read = checked_sequence(processor, record_id, sequence, truncate)
    return record_id, read, len(read) < len(sequence)


def _finish_rows(run: ResumableRun, fasta, iupac: bool) -> None:
    """The finished TSV: one process renames its rows; several merge theirs in FASTA order on the main process
    once every shard is done."""
    if run.shard.world == 1:
        os.replace(run.partial, run.out)
    elif run.shard.is_main:
        order = {record_id: index for index, (record_id, _) in enumerate(_sequences(fasta, iupac))}
        run.write_merged(key=lambda line: order[line.split("\t", 1)[0]])
    else:
        run.shard.wait_for_everyone()


def predict(
    fasta: str | os.PathLike,
    question: str,
    out: str | os.PathLike,
    model: str | None = None,
    trust_remote_code: bool = False,
    batch_size: int = 8,
    confidence: str = "auto",
    task: str | None = None,
    truncate: bool = False,
    max_new_tokens: int = 32,
    bf16: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    iupac: bool = False,
) -> PredictSummary:
    """Asks ``question`` about every record of ``fasta`` and writes one TSV row per record to ``out``.

    See the module docstring for the question form, the columns and how a run resumes.

    Args:
        fasta: a FASTA file (plain or gzip), read one record at a time.
        question: refers to the record as ``<DNA>`` or by a single ``@tag``, e.g. ``"Is @seq a promoter?"``.
        out: the TSV to write; rows collect in ``<out>.partial`` until the run finishes.
        model: a ChatNT directory or Hub id; default: the shipped model.
        trust_remote_code: run code saved with the model (a remote-code DNA encoder or tokenizer).
        batch_size: records generated (and scored) together.
        confidence: ``auto`` (probability for a yes/no question), ``always`` or ``never``.
        task: a task registry name whose parser fills ``parsed`` (e.g. ``core_promoter``, ``gc_content``).
        truncate: keep the start of a record longer than the encoder's limit instead of raising.
        max_new_tokens: length limit of each answer.
        bf16: bfloat16 autocast.
        overwrite: replace an existing ``out`` (and drop any ``.partial``) instead of refusing.
        progress: show a tqdm bar on stderr.
        iupac: read IUPAC ambiguity codes as N (``--iupac-as-n``) instead of raising.

    Returns:
        A :class:`PredictSummary` (``summary.report()`` is what the command prints).

    Raises:
        FileNotFoundError, ValueError: bad input (missing or malformed FASTA, duplicate ids, a record the
            model cannot read, a question without a record reference, an existing ``out``). Every record is
            checked before the first is answered, so bad input stops the run before any row is written.
    """
    out = Path(out)
    template, placeholders = record_question_template(question)
    parse_task = task_parser(task)
    with_confidence = wants_confidence(question, confidence)
    run = ResumableRun(out, "\t".join(COLUMNS), batch_size, overwrite)
    shard = run.shard
    count_records(fasta)  # the file's format and ids checked before the model loads
    chatnt = load_chatnt(model, trust_remote_code)
    total = count_records(fasta, chatnt.processor, truncate, iupac)  # every record checked before any work
    settings = _settings(fasta, question, task, confidence, chatnt.path, max_new_tokens, bf16, batch_size, iupac)
    run.resume(settings, hints={"fasta_sha256": "the --fasta file is another file or has changed"})

    shared_prefix = SharedPromptPrefix()

    def rows_of(items) -> list[str]:
        batch = [_read_record(chatnt.processor, record_id, sequence, truncate) for _, (record_id, sequence) in items]
        results = answer_batch(
            chatnt, [template] * len(batch), [[sequence] * placeholders for _, sequence, _ in batch],
            [with_confidence] * len(batch), max_new_tokens=max_new_tokens, bf16=bf16, shared_prefix=shared_prefix,
        )
        return [_row(record_id, result, parsed_answer(result.answer, question, parse_task), truncated)
                for (record_id, _, truncated), result in zip(batch, results)]

    started = time.perf_counter()
    answered = run.answer_batches(enumerate(_sequences(fasta, iupac)), lambda item: item[0], lambda item: item[1][0],
                                  rows_of, total, unit="record", desc="predict", progress=progress)
    _finish_rows(run, fasta, iupac)
    seconds = time.perf_counter() - started  # until the slowest process is done
    if not shard.is_main:
        return PredictSummary(str(out), answered, answered, seconds=seconds)
    run.remove_partials()
    summary = summarize(out, total - run.done_earlier, seconds, parse_task is not None or is_yes_no_question(question))
    summary.processes = shard.world
    return summary


__all__ = ["COLUMNS", "PredictSummary", "count_records", "predict"]
