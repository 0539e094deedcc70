"""``chatnt variants``: how much each variant of a VCF changes the calibrated answer to one yes/no question.

For every SNV or short indel the question is asked of the reference window around it and of the same window with
the variant applied (see :func:`chatnt.genome.vcf.variant_windows`); the row holds both calibrated P(yes) and their
difference. Variants whose REF is not the reference's base are refused, all named, before any is scored. Rows are
resumable and spread over processes as :mod:`chatnt.commands.sharding` says; the finished TSV has the columns
``chrom pos id ref alt window_start p_ref p_alt delta answer_ref answer_alt`` (``delta`` = ``p_alt - p_ref``).
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..genome.vcf import Reference, check_ref_alleles, read_vcf, variant_windows
from ..prefix_cache import SharedPromptPrefix
from .answering import answer_batch
from .loading import load_chatnt
from .questions import record_question_template
from .sequences import checked_sequence, iupac_as_n
from .sharding import ResumableRun, tsv_cell

COLUMNS = ("index", "chrom", "pos", "id", "ref", "alt", "window_start", "p_ref", "p_alt", "delta", "answer_ref",
           "answer_alt")


@dataclass
class VariantsSummary:
    out: str
    variants: int
    answered: int
    seconds: float
    largest: list[tuple[str, float]]

    def report(self) -> str:
        lines = [f"variants: {self.variants} -> {self.out}"]
        lines += [f"largest |delta|: {name} {delta:+.4f}" for name, delta in self.largest]
        lines.append(f"speed: {self.answered / self.seconds if self.seconds else 0:.2f} variants/s "
                     f"({self.answered} scored in {self.seconds:.1f} s)")
        return "\n".join(lines)


def score_variants(
    vcf: str | os.PathLike,
    reference: str | os.PathLike,
    question: str,
    out: str | os.PathLike,
    model: str | None = None,
    trust_remote_code: bool = False,
    window: int = 600,
    max_indel: int = 50,
    batch_size: int = 8,
    max_new_tokens: int = 8,
    bf16: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    iupac: bool = False,
) -> VariantsSummary:
    """Scores every variant of ``vcf`` by the change of the calibrated P(yes) of ``question``; writes ``out`` (TSV).

    Args:
        vcf: SNVs and short indels (plain or gzip VCF).
        reference: the FASTA the variants were called against (plain: read by index; gzip: the needed records).
        question: a yes/no question naming the window as ``<DNA>`` or one ``@tag``.
        window: reference bases around each variant.
        max_indel: longest insertion or deletion scored.
        model, trust_remote_code, batch_size, max_new_tokens, bf16, overwrite, progress, iupac: as for ``predict``.

    Raises:
        FileNotFoundError, ValueError: bad input (one line): a malformed VCF, a chromosome the reference lacks, REF
            alleles that do not match it (all named), a window the model cannot read. Nothing is scored then.
    """
    # Long on purpose: the command's steps in order (read and check the VCF against the reference, check every
    # window, resume, answer this process's batches, merge), each one or two calls, read top to bottom.
    out = Path(out)
    if window < 2 * max_indel + 2:
        raise ValueError(f"--window {window} cannot hold an indel of --max-indel {max_indel} with context: use a "
                         f"--window of at least {2 * max_indel + 2}.")
    template, placeholders = record_question_template(question)
    variants = read_vcf(vcf, max_indel)
    genome = Reference(reference, {variant.chrom for variant in variants})
    check_ref_alleles(variants, genome)
    run = ResumableRun(out, "\t".join(COLUMNS), batch_size, overwrite)
    shard = run.shard
    chatnt = load_chatnt(model, trust_remote_code)

    def windows_of(variant):
        start, ref_window, alt_window = variant_windows(variant, genome, window)
        return (start, iupac_as_n(ref_window), iupac_as_n(alt_window)) if iupac else (start, ref_window, alt_window)

    for variant in variants:  # every window readable before any is scored
        _, ref_window, alt_window = windows_of(variant)
        checked_sequence(chatnt.processor, f"{variant} (reference window)", ref_window)
        checked_sequence(chatnt.processor, f"{variant} (variant window)", alt_window)
    settings = {"vcf": str(Path(vcf).resolve()), "reference": str(Path(reference).resolve()), "question": question,
                "window": window, "max_indel": max_indel, "batch_size": batch_size, "max_new_tokens": max_new_tokens,
                "bf16": bf16, "iupac_as_n": iupac, "model": chatnt.path, "variants": len(variants)}
    run.resume(settings)
    shared_prefix = SharedPromptPrefix()

    def rows_of(batch) -> list[str]:
        windows = [windows_of(variant) for variant in batch]
        dna = [[sequence] * placeholders for _, ref_window, alt_window in windows for sequence in (ref_window, alt_window)]
        results = answer_batch(chatnt, [template] * len(dna), dna, [True] * len(dna), max_new_tokens=max_new_tokens,
                               bf16=bf16, shared_prefix=shared_prefix)
        return [_row(variant, start, ref_result, alt_result)
                for variant, (start, _, _), ref_result, alt_result in zip(batch, windows, results[::2], results[1::2])]

    started = time.perf_counter()
    run.answer_batches(variants, lambda variant: variant.index, lambda variant: str(variant.index), rows_of,
                       len(variants), unit="variant", desc="variants", progress=progress)
    summary = VariantsSummary(str(out), len(variants), len(variants) - run.done_earlier, 0.0, [])
    if shard.is_main:
        run.write_merged(key=lambda row: int(row.split("\t", 1)[0]), without_index=True)
        run.remove_partials()
        summary.largest = _largest_changes(out)
    else:
        shard.wait_for_everyone()  # the main process merges once every shard is done
    summary.seconds = time.perf_counter() - started
    return summary


def _row(variant, start: int, ref_result, alt_result) -> str:
    cells = (variant.index, variant.chrom, variant.pos, variant.id, variant.ref, variant.alt, start,
             f"{ref_result.p_yes:.4f}", f"{alt_result.p_yes:.4f}", f"{alt_result.p_yes - ref_result.p_yes:+.4f}",
             tsv_cell(ref_result.answer), tsv_cell(alt_result.answer))
    return "\t".join(map(str, cells)) + "\n"


def _largest_changes(out: Path, count: int = 3) -> list[tuple[str, float]]:
    """The variants of a finished table whose delta is largest in size, with it."""
    with open(out, encoding="utf-8") as handle:
        header = next(handle).rstrip("\n").split("\t")
        rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in handle]
    changes = [(f"{row['chrom']}:{row['pos']} {row['ref']}>{row['alt']}", float(row["delta"])) for row in rows]
    return sorted(changes, key=lambda item: -abs(item[1]))[:count]


__all__ = ["COLUMNS", "VariantsSummary", "score_variants"]
