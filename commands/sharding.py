"""Spreading ``predict``, ``scan`` and ``variants`` over processes with accelerate, and their resumable row files.

Items are answered in batches of consecutive items (``index // batch_size``), the same batches whatever the number
of processes, so that answers do not depend on it (bf16 answers depend on what is padded together). Under
``accelerate launch`` (e.g. ``accelerate launch --cpu --num_processes 2 -m chatnt.cli scan ...``) process ``rank``
of ``world`` takes every ``world``-th batch, starting at batch ``rank``, and writes its own partial file,
``OUT.partial.<rank>-of-<world>`` (``OUT.partial`` in a single process). Each shard file holds its
rows in input order, flushed after every batch, so a killed run resumes shard by shard: a re-run reads the items
already there, cuts a torn last line, and does the rest. When every shard is done, the main process merges them in
input order (streamed: memory does not grow with the number of rows) and only then writes ``OUT``.
"""

import glob
import heapq
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PARTIAL_SUFFIX = ".partial"
# What may not stand inside a TSV cell: tabs, line breaks of any kind (Python's splitlines reads all of these).
_TSV_UNSAFE = re.compile("[\t\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")


def tsv_cell(text: str) -> str:
    """``text`` as one TSV cell: tabs and line breaks become spaces, ends stripped."""
    return _TSV_UNSAFE.sub(" ", text).strip()


@dataclass(frozen=True)
class Shard:
    """This process's share of the items: every ``world``-th batch of ``batch_size``, starting at batch ``rank``."""

    rank: int = 0
    world: int = 1
    batch_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def batch(self, index: int) -> int:
        return index // self.batch_size

    def takes(self, index: int) -> bool:
        return self.batch(index) % self.world == self.rank

    def batches(self, items: Iterable, index, done) -> Iterator[list]:
        """This shard's batches of ``items`` (``index(item)``: its input index), the items ``done(item)`` left out."""
        batch, current = [], None
        for item in items:
            position = index(item)
            if not self.takes(position) or done(item):
                continue
            if batch and self.batch(position) != current:
                yield batch
                batch = []
            current = self.batch(position)
            batch.append(item)
        if batch:
            yield batch

    def partial(self, out: Path, rank: int | None = None) -> Path:
        rank = self.rank if rank is None else rank
        return Path(f"{out}{PARTIAL_SUFFIX}") if self.world == 1 else Path(f"{out}{PARTIAL_SUFFIX}.{rank}-of-{self.world}")

    def partials(self, out: Path) -> list[Path]:
        return [self.partial(out, rank) for rank in range(self.world)]

    def wait_for_everyone(self) -> None:
        if self.world > 1:
            from accelerate import PartialState

            PartialState().wait_for_everyone()


def current_shard(batch_size: int) -> Shard:
    """This process's shard: from accelerate's state under ``accelerate launch`` with several processes, else the
    whole input (no process group is started for a single process)."""
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}.")
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Shard(batch_size=batch_size)
    import torch
    from accelerate import PartialState

    # Without cpu=True, accelerate treats processes on a machine without an accelerator as one process each.
    state = PartialState(cpu=not torch.accelerator.is_available())
    return Shard(state.process_index, state.num_processes, batch_size)


def settings_file(partial: Path) -> Path:
    """The settings a shard's rows were made with, beside it: a resumed run must match them."""
    return Path(f"{partial}.json")


def stale_partials(out: Path, shard: Shard) -> list[Path]:
    """Partial files of ``out`` that this run cannot resume: written by a run with another number of processes."""
    mine = {path.name for partial in shard.partials(out) for path in (partial, settings_file(partial))}
    return sorted(path for path in out.parent.glob(glob.escape(out.name + PARTIAL_SUFFIX) + "*") if path.name not in mine)


def finished_lines(partial: Path, header: str) -> list[str]:
    """The complete rows of a shard file (a torn last line is cut off the file), without the header.

    Raises:
        ValueError: the file does not start with ``header`` (not this command's output).
    """
    data = partial.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with open(partial, "r+b") as handle:
            handle.truncate(len(complete))
    lines = complete.decode("utf-8").split("\n")[:-1]
    if not lines or lines[0] != header:
        raise ValueError(
            f"{partial} is not a file of this command (its first line is not the header {header.split()}). Delete "
            "it, or pick another --out."
        )
    return lines[1:]


def finished_keys(partial: Path, header: str) -> set[str]:
    """The first cells (keys) of a shard file's complete rows (see :func:`finished_lines`)."""
    return {line.split("\t", 1)[0] for line in finished_lines(partial, header) if line.count("\t") == header.count("\t")}


def row_count(partials: Iterable[Path]) -> int:
    """Complete rows in the shard files that exist (header left out), read without changing them."""
    return sum(max(path.read_bytes().count(b"\n") - 1, 0) for path in partials if path.exists())


def merged_rows(partials: Iterable[Path], key) -> Iterator[str]:
    """The rows of every shard file (header skipped) in input order; ``key(row)`` is a row's input index."""
    handles = [open(path, encoding="utf-8") for path in partials]
    try:
        for handle in handles:
            next(handle)
        yield from heapq.merge(*handles, key=key)
    finally:
        for handle in handles:
            handle.close()


class ResumableRun:
    """The row files of one ``predict``/``scan``/``variants`` run: checks before any work, resumes, merges.

    Args:
        out: the file the rows are merged into (its partial files are named after it).
        header: the first line of every partial file (tab-separated column names).
        batch_size: items answered together (fixes the batches, see :class:`Shard`).
        overwrite: drop finished outputs and partial files (on the main process) instead of refusing.
        outputs: the files a finished run writes (default ``out``): an existing one is refused without ``overwrite``.

    Raises:
        ValueError: a finished output exists, or partial files of a run with another number of processes.
    """

    def __init__(self, out: Path, header: str, batch_size: int, overwrite: bool, outputs: Iterable[Path] = ()):
        self.out, self.header = Path(out), header
        self.shard = current_shard(batch_size)
        outputs = list(outputs) or [self.out]
        existing = [path for path in outputs if path.exists()]
        if existing and not overwrite:
            raise ValueError(f"{existing[0]} already exists (a finished run). Pass --overwrite to replace it, or pick "
                             "another --out.")
        if overwrite and self.shard.is_main:
            for path in (*outputs, *stale_partials(self.out, self.shard), *self.shard.partials(self.out)):
                path.unlink(missing_ok=True)
                settings_file(path).unlink(missing_ok=True)
        self.shard.wait_for_everyone()
        stale = stale_partials(self.out, self.shard)
        if stale:
            raise ValueError(f"{stale[0]} is part of an interrupted run with another number of processes. Resume it "
                             "with that number, or pass --overwrite to start again.")
        self.partial = self.shard.partial(self.out)
        self.done_earlier = 0
        self.done_keys: set[str] = set()

    def resume(self, settings: dict, hints: dict[str, str] | None = None) -> None:
        """Starts this shard's file (settings first), or resumes it when its settings equal ``settings``; the first
        cells (keys) of the rows already done go to ``done_keys``, which :meth:`answer_batches` skips.

        Raises:
            ValueError: the shard file was written with other settings, naming them (and ``hints[name]``).
        """
        settings = {**settings, "processes": self.shard.world}
        if self.partial.exists():
            recorded = settings_file(self.partial)
            earlier = json.loads(recorded.read_text(encoding="utf-8")) if recorded.exists() else None
            if earlier != settings:
                changed = sorted(key for key in settings if (earlier or {}).get(key) != settings[key])
                notes = "".join(f"; {key}: {hints[key]}" for key in changed if key in (hints or {}))
                raise ValueError(f"{self.partial} holds an interrupted run with other settings ({', '.join(changed)} "
                                 f"differ{notes}). Re-run with the same settings to resume it, or pass --overwrite to "
                                 "start again.")
            self.done_keys = finished_keys(self.partial, self.header)
        else:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            # Settings first: a partial file never exists without the settings its rows were made with.
            settings_file(self.partial).write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
            self.partial.write_text(self.header + "\n", encoding="utf-8")
            self.done_keys = set()
        self.shard.wait_for_everyone()  # every shard file in place before the main process counts earlier rows
        self.done_earlier = row_count(self.shard.partials(self.out))

    def answer_batches(self, items: Iterable, index: Callable, key: Callable, rows_of: Callable, total: int,
                       unit: str, desc: str, progress: bool) -> int:
        """Answers this process's batches of ``items`` not yet in its shard file and appends their rows; returns
        the items answered.

        ``index(item)``: the item's input index (0 to ``total - 1``); ``key(item)``: the first cell of its row, which
        :meth:`resume` found done or not; ``rows_of(batch)``: answers a batch and returns its rows. The file is
        flushed after every batch, so a kill loses no finished batch. The main process shows a progress bar of its
        share on stderr (``unit``, ``desc``) when ``progress``.
        """
        from tqdm.auto import tqdm

        mine = sum(1 for position in range(total) if self.shard.takes(position))
        answered = 0
        bar = tqdm(total=mine, initial=min(len(self.done_keys), mine), unit=unit, desc=desc,
                   disable=not progress or not self.shard.is_main, file=sys.stderr)
        with open(self.partial, "a", encoding="utf-8") as sink, bar:
            for batch in self.shard.batches(items, index, lambda item: key(item) in self.done_keys):
                sink.writelines(rows_of(batch))
                sink.flush()  # a kill after this loses nothing of the batch
                answered += len(batch)
                bar.update(len(batch))
        return answered

    def rows(self, key) -> Iterator[str] | None:
        """Once every process is done: on the main process, every shard's rows in input order (``key(row)``: the
        row's input index), else ``None``."""
        self.shard.wait_for_everyone()
        return merged_rows(self.shard.partials(self.out), key) if self.shard.is_main else None

    def write_merged(self, key, without_index: bool = False) -> None:
        """Writes the merged rows, header first, into ``out`` (aside, then renamed: ``out`` is always whole);
        ``without_index`` leaves out the first column (the input index that orders the shards' rows)."""
        writing = Path(f"{self.out}.writing")
        with open(writing, "w", encoding="utf-8") as sink:
            sink.write((self.header.split("\t", 1)[1] if without_index else self.header) + "\n")
            for line in self.rows(key):
                sink.write(line.split("\t", 1)[1] if without_index else line)
        os.replace(writing, self.out)

    def remove_partials(self) -> None:
        for path in self.shard.partials(self.out):
            path.unlink(missing_ok=True)
            settings_file(path).unlink(missing_ok=True)


__all__ = [
    "PARTIAL_SUFFIX",
    "ResumableRun",
    "Shard",
    "current_shard",
    "finished_keys",
    "finished_lines",
    "merged_rows",
    "row_count",
    "settings_file",
    "stale_partials",
    "tsv_cell",
]
