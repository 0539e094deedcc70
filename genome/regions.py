"""BED regions: 0-based, half-open intervals ``chrom start end`` that limit a scan."""

import gzip
import os
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Region:
    chrom: str
    start: int  # 0-based
    end: int  # exclusive

    def __str__(self) -> str:
        return f"{self.chrom}:{self.start}-{self.end}"


def read_bed(path: str | os.PathLike) -> list[Region]:
    """The regions of a BED file (plain or gzip), sorted, with overlapping or touching regions merged.

    ``track``/``browser`` lines and ``#`` comments are skipped; columns after the third are ignored.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a line with fewer than three columns, coordinates that are not integers, or ``start >= end``
            (one line naming the file and line), or a file without regions.
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    regions = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\n").split("\t") if "\t" in line else line.split()
            if len(fields) < 3:
                raise ValueError(f"{path}, line {number}: a BED line needs chrom, start and end; got {line.strip()!r}.")
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                raise ValueError(
                    f"{path}, line {number}: start and end must be whole numbers (0-based, end exclusive); got "
                    f"{fields[1]!r} and {fields[2]!r}."
                ) from None
            if not 0 <= start < end:
                raise ValueError(f"{path}, line {number}: start {start} must be >= 0 and less than end {end}.")
            regions.append(Region(fields[0], start, end))
    if not regions:
        raise ValueError(f"{path} holds no BED region. Give one 'chrom<TAB>start<TAB>end' line per region.")
    return merge_regions(regions)


def merge_regions(regions: list[Region]) -> list[Region]:
    """Sorted by chromosome (first appearance) and start; overlapping or touching regions become one."""
    order = {chrom: index for index, chrom in reversed(list(enumerate(region.chrom for region in regions)))}
    merged: list[Region] = []
    for region in sorted(regions, key=lambda r: (order[r.chrom], r.start, r.end)):
        if merged and merged[-1].chrom == region.chrom and region.start <= merged[-1].end:
            merged[-1] = Region(region.chrom, merged[-1].start, max(merged[-1].end, region.end))
        else:
            merged.append(region)
    return merged


def parse_region(text: str) -> Region:
    """``chrom:start-end`` (0-based, end exclusive; commas allowed in numbers) as a :class:`Region`.

    Raises:
        ValueError: not of that form, or ``start >= end``.
    """
    chrom, _, span = text.rpartition(":")
    start, _, end = span.replace(",", "").partition("-")
    if not chrom or not start.isdigit() or not end.isdigit() or int(start) >= int(end):
        raise ValueError(f"region {text!r} is not chrom:start-end with start < end (0-based, e.g. NC_008253.1:0-20000).")
    return Region(chrom, int(start), int(end))


__all__ = ["Region", "merge_regions", "parse_region", "read_bed"]
