"""``chatnt scan``: one question over sliding windows of long sequences, written as genome-browser tracks.

Windows (see :mod:`chatnt.genome.windows`) are cut from a FASTA file, whole genomes included, optionally limited to
BED regions and asked on both strands; the question refers to the window as ``<DNA>`` or by one ``@tag``, as in
``chatnt predict``. Every window is checked before the first is answered. Rows are resumable and spread over
processes as :mod:`chatnt.commands.sharding` says. A finished scan writes, next to ``OUT``:

* ``OUT.tsv``: one row per window and strand: ``chrom start end strand answer parsed probability calibrated``.
* ``OUT.bed``: BED6, 0-based half-open, name = the parsed answer, score = 1000 x P(yes), strand.
* ``OUT.bedGraph`` (and ``OUT.minus.bedGraph`` for ``-`` windows): the track, P(yes) when a probability was asked
  for, else the parsed value when the answers are numbers (e.g. GC content). Windows overlap, but bedGraph
  intervals may not: each window's value is drawn over its first ``stride`` bases (the last window of a stretch
  over all of it), so the track tiles the scanned bases exactly.
* ``OUT.png``: the track over ``plot_region`` (default: the first scanned region or record).
"""

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..genome.regions import Region, merge_regions, parse_region, read_bed
from ..genome.windows import GenomeWindows
from ..prefix_cache import SharedPromptPrefix
from .answering import answer_batch
from .loading import load_chatnt
from .questions import parsed_answer, record_question_template, task_parser, wants_confidence
from .sequences import iupac_as_n
from .sharding import ResumableRun, tsv_cell

COLUMNS = ("index", "chrom", "start", "end", "strand", "answer", "parsed", "probability", "calibrated")


@dataclass
class ScanSummary:
    """What a :func:`scan` run wrote. On the main process ``answered`` counts the windows every process answered in
    this run (the rest came from an earlier, interrupted run); other processes report their own share only."""

    out: str
    windows: int
    answered: int
    seconds: float
    files: list[str] = field(default_factory=list)
    track: str | None = None
    processes: int = 1

    @property
    def windows_per_second(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    def report(self) -> str:
        lines = [f"windows: {self.windows} ({self.windows - self.answered} from an earlier run)" if self.answered < self.windows
                 else f"windows: {self.windows}"]
        lines += [f"wrote: {path}" for path in self.files]
        if self.files and self.track is None:
            lines.append("track: none (the answers carry no probability and are not numbers; ask a yes/no question)")
        lines.append(f"speed: {self.windows_per_second:.2f} windows/s ({self.answered} answered in {self.seconds:.1f} s"
                     + (f" by {self.processes} processes)" if self.processes > 1 else ")"))
        return "\n".join(lines)


def output_files(out: Path, strands: str) -> dict[str, Path]:
    """The files a finished scan writes, by kind; ``bedgraph+`` / ``bedgraph-`` per strand scanned."""
    files = {"tsv": Path(f"{out}.tsv"), "bed": Path(f"{out}.bed"), "png": Path(f"{out}.png")}
    if strands in ("+", "both"):
        files["bedgraph+"] = Path(f"{out}.bedGraph")
    if strands in ("-", "both"):
        files["bedgraph-"] = Path(f"{out}.minus.bedGraph")
    return files


def scan(
    fasta: str | os.PathLike,
    question: str,
    out: str | os.PathLike,
    model: str | None = None,
    trust_remote_code: bool = False,
    window: int = 1000,
    stride: int | None = None,
    strands: str = "+",
    bed: str | os.PathLike | None = None,
    regions: list[str] | None = None,
    plot_region: str | None = None,
    batch_size: int = 8,
    confidence: str = "auto",
    task: str | None = None,
    max_new_tokens: int = 16,
    bf16: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    iupac: bool = False,
) -> ScanSummary:
    """Asks ``question`` about every window of ``fasta`` and writes the tracks listed in the module docstring.

    Args:
        fasta: a FASTA file: plain (read by index, a window at a time) or gzip (streamed).
        question: refers to the window as ``<DNA>`` or one ``@tag``, e.g. ``"Is @seq a promoter? Answer yes or no."``.
        out: the prefix of the output files (``OUT.tsv``, ``OUT.bed``, ...).
        model, trust_remote_code, batch_size, confidence, task, max_new_tokens, bf16, iupac: as for ``predict``.
        window, stride: in bases; ``stride`` defaults to ``window`` (windows side by side) and may not exceed it.
        strands: ``+``, ``-`` or ``both``.
        bed, regions: limit the scan to the regions of a BED file and/or ``chrom:start-end`` strings (merged).
        plot_region: ``chrom:start-end`` drawn in ``OUT.png``.
        overwrite: replace finished outputs (and drop partial ones) instead of refusing.
        progress: a tqdm bar on stderr.

    Raises:
        FileNotFoundError, ValueError: bad input, before any window is answered (one line naming it).
    """
    # Long on purpose: the command's steps in order (plan the windows, check every one, resume, answer this
    # process's batches, merge, write the tracks), each one or two calls, read top to bottom.
    out = Path(out)
    stride = window if stride is None else stride
    files = output_files(out, strands)
    template, placeholders = record_question_template(question)
    parse_task = task_parser(task)
    with_confidence = wants_confidence(question, confidence)
    chosen = (read_bed(bed) if bed is not None else []) + [parse_region(text) for text in regions or []]
    plan = GenomeWindows(fasta, window, stride, merge_regions(chosen) if chosen else None, strands)
    plotted = parse_region(plot_region) if plot_region else plan.regions[0]
    table = files["tsv"]
    run = ResumableRun(table, "\t".join(COLUMNS), batch_size, overwrite, outputs=files.values())
    shard = run.shard
    chatnt = load_chatnt(model, trust_remote_code)
    total = len(plan)
    for item in plan:  # every window readable before any is answered (the - strand has the same bases)
        if item.strand == plan.strands[0]:
            _readable(chatnt.processor, item, iupac, window)
    settings = {
        "fasta": str(Path(fasta).resolve()), "lengths": plan.lengths, "window": window, "stride": stride,
        "strands": strands, "regions": [str(region) for region in plan.regions], "question": question, "task": task,
        "confidence": confidence, "max_new_tokens": max_new_tokens, "bf16": bf16, "batch_size": batch_size,
        "iupac_as_n": iupac, "model": chatnt.path,
    }
    run.resume(settings)
    shared_prefix = SharedPromptPrefix()

    def rows_of(items) -> list[str]:
        batch = [(item, iupac_as_n(item.sequence) if iupac else item.sequence) for item in items]
        results = answer_batch(
            chatnt, [template] * len(batch), [[sequence] * placeholders for _, sequence in batch],
            [with_confidence] * len(batch), max_new_tokens=max_new_tokens, bf16=bf16, shared_prefix=shared_prefix,
        )
        return [_row(item, result, parsed_answer(result.answer, question, parse_task))
                for (item, _), result in zip(batch, results)]

    started = time.perf_counter()
    answered = run.answer_batches(plan, lambda item: item.index, lambda item: str(item.index), rows_of, total,
                                  unit="window", desc="scan", progress=progress)
    rows = run.rows(key=lambda line: int(line.split("\t", 1)[0]))
    summary = ScanSummary(str(out), total, answered, 0.0, processes=shard.world)
    if shard.is_main:
        summary.track = write_outputs(rows, files, question, stride, plotted)
        summary.files = [str(path) for path in files.values() if path.exists()]
        summary.answered = total - run.done_earlier  # by every process of this run
        run.remove_partials()
    summary.seconds = time.perf_counter() - started  # until the slowest process is done
    return summary


def _readable(processor, item, iupac: bool, window: int) -> None:
    """Refuses a window the model cannot read: letters that are not nucleotides, or more tokens than its limit
    (naming the longest window that fits)."""
    sequence = iupac_as_n(item.sequence) if iupac else item.sequence
    try:
        tokens = len(processor.dna_token_ids(sequence))
    except ValueError as error:
        raise ValueError(f"window {item.key}: {error}") from None
    if tokens > processor.max_dna_tokens:
        raise ValueError(
            f"--window {window} is longer than the model reads ({item.key} has {len(sequence)} bp = {tokens} DNA "
            f"tokens, more than its limit of {processor.max_dna_tokens}). Use --window "
            f"{len(processor.readable_start(sequence))} or less."
        )


def _row(item, result, parsed: str) -> str:
    cells = (str(item.index), item.chrom, str(item.start), str(item.end), item.strand, tsv_cell(result.answer),
             tsv_cell(parsed), *result.probability_cells())
    return "\t".join(cells) + "\n"


def track_value(cells: list[str]) -> float | None:
    """A row's value on the track: its P(yes), else its parsed answer when that is a number."""
    if cells[7]:
        return float(cells[7])
    try:
        return float(cells[6])
    except ValueError:
        return None


def write_outputs(rows, files: dict[str, Path], question: str, stride: int, plotted: Region) -> str | None:
    """Writes the rows (in window order) into the TSV, BED and bedGraph files and draws the PNG; returns what the
    track holds (``"P(yes)"``, ``"value"``, or ``None`` when the answers give no number)."""
    tracks = {strand: files.get(f"bedgraph{strand}") for strand in "+-"}
    temporary = {name: Path(f"{path}.writing") for name, path in files.items()}
    kind, points = None, {"+": [], "-": []}
    handles = {name: open(temporary[name], "w", encoding="utf-8") for name in ("tsv", "bed")}
    graphs = {strand: open(temporary[f"bedgraph{strand}"], "w", encoding="utf-8") for strand, path in tracks.items() if path}
    try:
        handles["tsv"].write("\t".join(COLUMNS[1:]) + "\n")
        for strand, handle in graphs.items():
            handle.write(f'track type=bedGraph name="chatnt scan {strand}" description="{tsv_cell(question)}"\n')
        previous: dict[str, tuple] = {}
        for line in rows:
            cells = line.rstrip("\n").split("\t")
            _, chrom, start, end, strand = cells[:5]
            start, end = int(start), int(end)
            handles["tsv"].write("\t".join(cells[1:]) + "\n")
            name = re.sub(r"\s+", "_", cells[6] or cells[5].split(".")[0])[:40] or "."
            score = round(1000 * float(cells[7])) if cells[7] else 0
            handles["bed"].write(f"{chrom}\t{start}\t{end}\t{name}\t{score}\t{strand}\n")
            value = track_value(cells)
            if value is not None:
                kind = kind or ("P(yes)" if cells[7] else "value")
                # A window's value over its first stride bases; the next window of the same stretch starts there.
                last = previous.get(strand)
                if last is not None:
                    _write_bin(graphs.get(strand), *last, stop=start if last[0] == chrom and start <= last[2] else last[2])
                previous[strand] = (chrom, start, end, value)
                if chrom == plotted.chrom and start < plotted.end and end > plotted.start:
                    points[strand].append(((start + end) / 2, value))
        for strand, last in previous.items():
            _write_bin(graphs.get(strand), *last, stop=last[2])
    finally:
        for handle in [*handles.values(), *graphs.values()]:
            handle.close()
    for name in ("tsv", "bed"):
        os.replace(temporary[name], files[name])
    for strand, path in tracks.items():
        if path:
            if kind is None:
                temporary[f"bedgraph{strand}"].unlink()
            else:
                os.replace(temporary[f"bedgraph{strand}"], path)
    if kind is not None:
        _plot(points, files["png"], question, kind, plotted)
    return kind


def _write_bin(handle, chrom: str, start: int, end: int, value: float, stop: int) -> None:
    if handle is not None:
        handle.write(f"{chrom}\t{start}\t{min(stop, end)}\t{value:.4f}\n")


def _plot(points: dict, path: Path, question: str, kind: str, region: Region) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 3))
    for strand, values in points.items():
        if values:
            xs, ys = zip(*values)
            axis.plot(xs, ys, drawstyle="steps-mid", label=f"{strand} strand", linewidth=1)
    axis.set_xlim(region.start, region.end)
    axis.set_xlabel(f"{region.chrom} (bp, window centres)")
    axis.set_ylabel(kind)
    if kind == "P(yes)":
        axis.set_ylim(0, 1)
    axis.set_title(question, fontsize=9)
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    temporary = Path(f"{path}.writing.png")
    figure.savefig(temporary, dpi=120)
    plt.close(figure)
    os.replace(temporary, path)


__all__ = ["COLUMNS", "ScanSummary", "output_files", "scan", "track_value", "write_outputs"]
