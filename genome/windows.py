"""Sliding windows over long sequences: whole genomes or BED regions, one or both strands, streamed.

Coordinates are 0-based and half-open, as in BED. In each scanned stretch (a record, or a region of one) windows
start at the stretch's start and every ``stride`` bases after it; the last one ends at the stretch's end and may
be shorter. So windows cover every base (no gap: the stride may not exceed the window) and consecutive windows
overlap by exactly ``window - stride`` bases.

Memory does not grow with the genome: an uncompressed FASTA is read by index (pyfaidx builds a ``.fai`` once),
window by window; a gzip FASTA is streamed line by line with a buffer of about one window.
"""

import hashlib
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..fasta import is_gzip, iter_fasta_lines
from .regions import Region

STRANDS = {"+": ("+",), "-": ("-",), "both": ("+", "-")}
# Complement of DNA, RNA and IUPAC codes, either case (R=A/G pairs with Y=C/T, and so on).
_COMPLEMENT = str.maketrans("ACGTUNRYSWKMBDHVacgtunryswkmbdhv", "TGCAANYRSWMKVHDBtgcaanyrswmkvhdb")


def reverse_complement(sequence: str) -> str:
    return sequence.translate(_COMPLEMENT)[::-1]


@dataclass(frozen=True)
class Window:
    """One window: where it lies (0-based, half-open; ``strand`` ``+`` or ``-``) and its bases as read on that
    strand (the reverse complement for ``-``). ``index`` is its place in the scan, for resuming and sharding."""

    index: int
    chrom: str
    start: int
    end: int
    strand: str
    sequence: str

    @property
    def key(self) -> str:
        return f"{self.chrom}:{self.start}-{self.end}({self.strand})"


def window_spans(start: int, end: int, window: int, stride: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of the windows over ``[start, end)``: every ``stride`` bases, the last cut at ``end``."""
    position = start
    while True:
        stop = min(position + window, end)
        yield position, stop
        if stop >= end:
            return
        position += stride


def index_name(path: str) -> str:
    """Where pyfaidx keeps the ``.fai`` of ``path``: beside it when that folder is writable, else in the cache."""
    beside = f"{path}.fai"
    if os.path.exists(beside) or os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        return beside
    cache = Path(os.environ.get("CHATNT_CACHE", Path.home() / ".cache" / "chatnt")) / "fai"
    cache.mkdir(parents=True, exist_ok=True)
    return str(cache / (hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:16] + ".fai"))


class GenomeWindows:
    """The windows of a scan, planned before any is read (their count is the progress total).

    Args:
        fasta: a FASTA file, plain (read by index) or gzip (streamed).
        window, stride: in bases; ``0 < stride <= window``.
        regions: limit the scan to these (merged, sorted; see :func:`~chatnt.genome.regions.read_bed`); default:
            every record whole.
        strands: ``+``, ``-`` or ``both`` (each window on ``+``, then on ``-``).

    Raises:
        FileNotFoundError: no such FASTA file.
        ValueError: a bad window or stride, a malformed FASTA file, or a region on a record the file does not hold
            or past its end (naming the region and the record's length).
    """

    def __init__(self, fasta, window: int, stride: int, regions: list[Region] | None = None, strands: str = "+"):
        if window < 1 or stride < 1:
            raise ValueError(f"--window and --stride must be positive, got {window} and {stride}.")
        if stride > window:
            raise ValueError(
                f"--stride {stride} is larger than --window {window}: the bases between windows would never be read. "
                "Use a stride of at most the window."
            )
        if strands not in STRANDS:
            raise ValueError(f"--strands must be one of {', '.join(STRANDS)}, got {strands!r}.")
        self.fasta, self.window, self.stride, self.strands = os.fspath(fasta), window, stride, STRANDS[strands]
        if not os.path.isfile(self.fasta):
            raise FileNotFoundError(f"FASTA file not found: {self.fasta!r}.")
        self.indexed = not is_gzip(self.fasta)
        self.lengths = self._record_lengths()
        if regions is None:
            regions = [Region(chrom, 0, length) for chrom, length in self.lengths.items()]
        for region in regions:
            if region.chrom not in self.lengths:
                known = ", ".join(list(self.lengths)[:5]) + (", ..." if len(self.lengths) > 5 else "")
                raise ValueError(f"region {region} is on {region.chrom!r}, which {self.fasta} does not hold ({known}).")
            if region.end > self.lengths[region.chrom]:
                raise ValueError(
                    f"region {region} ends past {region.chrom} ({self.lengths[region.chrom]:,} bp): is the BED file for "
                    "another genome build?"
                )
        self.regions = regions

    def _record_lengths(self) -> dict[str, int]:
        if self.indexed:
            return {name: len(record) for name, record in self._faidx().items()}
        lengths: dict[str, int] = {}
        for header, bases in iter_fasta_lines(self.fasta):
            chrom = header.split()[0]
            lengths[chrom] = lengths.get(chrom, 0) + (len(bases) if bases else 0)
        return lengths

    def _faidx(self):
        import pyfaidx

        try:
            return pyfaidx.Fasta(self.fasta, indexname=index_name(self.fasta), sequence_always_upper=False,
                                 as_raw=True, rebuild=True)
        except pyfaidx.FastaIndexingError as error:
            raise ValueError(f"{self.fasta} cannot be indexed as FASTA ({error}).") from None

    def spans(self) -> Iterator[tuple[str, int, int]]:
        """``(chrom, start, end)`` of every window position, in scan order (strands not repeated)."""
        for region in self.regions:
            for start, end in window_spans(region.start, region.end, self.window, self.stride):
                yield region.chrom, start, end

    def __len__(self) -> int:
        positions = 0
        for region in self.regions:
            length = region.end - region.start
            positions += 1 if length <= self.window else 1 + -(-(length - self.window) // self.stride)
        return positions * len(self.strands)

    def __iter__(self) -> Iterator[Window]:
        index = 0
        for chrom, start, end, sequence in self._read_spans():
            for strand in self.strands:
                yield Window(index, chrom, start, end, strand, sequence if strand == "+" else reverse_complement(sequence))
                index += 1

    def _read_spans(self) -> Iterator[tuple[str, int, int, str]]:
        if self.indexed:
            records = self._faidx()
            for chrom, start, end in self.spans():
                yield chrom, start, end, records[chrom][start:end]
            return
        # gzip: one pass over the file; a buffer holds the bases from the next window's start on.
        pending_by_chrom: dict[str, deque] = {}
        for chrom, start, end in self.spans():
            pending_by_chrom.setdefault(chrom, deque()).append((start, end))
        pending, buffer, offset = deque(), "", 0
        for header, bases in iter_fasta_lines(self.fasta):
            if bases is None:
                pending, buffer, offset = pending_by_chrom.get(header.split()[0], deque()), "", 0
                chrom = header.split()[0]
                continue
            if not pending:
                continue
            buffer += bases
            while pending and pending[0][1] <= offset + len(buffer):
                start, end = pending.popleft()
                yield chrom, start, end, buffer[start - offset : end - offset]
            # Bases before the next window's start are not needed (offset + len(buffer): bases read so far).
            cut = min(pending[0][0] if pending else offset + len(buffer), offset + len(buffer)) - offset
            buffer, offset = buffer[cut:], offset + cut


__all__ = ["STRANDS", "GenomeWindows", "Window", "index_name", "reverse_complement", "window_spans"]
