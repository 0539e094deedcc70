"""Spreading ``predict``, ``scan`` and ``variants`` over processes with accelerate, and their resumable row files.

Items are answered in batches of consecutive items (``index // batch_size``), the same batches whatever the number
of processes, so that answers do not depend on it (bf16 answers depend on what is padded together). Under
``accelerate launch`` (e.g. ``accelerate launch --cpu --num_processes 2 -m chatnt.cli scan ...``) process ``rank``
of ``world`` takes every ``world``-th batch, starting at batch ``rank``, and writes its own partial file, ``OUT.partial.<rank>-of-<world>`` (``OUT.partial`` in a single process). Each shard file holds its
rows in input order, flushed after every batch, so a killed run resumes shard by shard: a re-run reads the items
already there, cuts a torn last line, and does the rest. When every shard is done, the main process merges them in
input order (streamed: memory does not grow with the number of rows) and only then writes ``OUT``.
"""

import glob
import heapq
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PARTIAL_SUFFIX = ".partial"


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


__all__ = ["PARTIAL_SUFFIX", "Shard", "current_shard", "finished_lines", "merged_rows", "row_count", "settings_file", "stale_partials"]
