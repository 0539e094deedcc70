"""``chatnt variants``: how much each variant of a VCF changes the calibrated answer to one yes/no question.

For every SNV or short indel the question is asked of the reference window around it and of the same window with
the variant applied (see :func:`chatnt.genome.vcf.variant_windows`); the row holds both calibrated P(yes) and their
difference. Variants whose REF is not the reference's base are refused, all named, before any is scored. Rows are
resumable and spread over processes as :mod:`chatnt.commands.sharding` says; the finished TSV has the columns
``chrom pos id ref alt window_start p_ref p_alt delta answer_ref answer_alt`` (``delta`` = ``p_alt - p_ref``).
"""

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..genome.vcf import Reference, check_ref_alleles, read_vcf, variant_windows
from ..prefix_cache import SharedPromptPrefix
from .answering import answer_batch
from .loading import load_chatnt
from .questions import record_question_template
from .sequences import checked_sequence, iupac_as_n
from .sharding import current_shard, finished_lines, merged_rows, row_count, settings_file, stale_partials

COLUMNS = ("index", "chrom", "pos", "id", "ref", "alt", "window_start", "p_ref", "p_alt", "delta", "answer_ref",
           "answer_alt")
_UNSAFE = re.compile("[\t\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")


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
    from tqdm.auto import tqdm

    out = Path(out)
    if window < 2 * max_indel + 2:
        raise ValueError(f"--window {window} cannot hold an indel of --max-indel {max_indel} with context: use a "
                         f"--window of at least {2 * max_indel + 2}.")
    template, placeholders = record_question_template(question)
    variants = read_vcf(vcf, max_indel)
    genome = Reference(reference, {variant.chrom for variant in variants})
    check_ref_alleles(variants, genome)
    if out.exists() and not overwrite:
        raise ValueError(f"{out} already exists (a finished run). Pass --overwrite to replace it, or pick another --out.")
    shard = current_shard(batch_size)
    if overwrite and shard.is_main:
        for path in (out, *stale_partials(out, shard), *shard.partials(out)):
            path.unlink(missing_ok=True)
            settings_file(path).unlink(missing_ok=True)
    shard.wait_for_everyone()
    stale = stale_partials(out, shard)
    if stale:
        raise ValueError(f"{stale[0]} is part of an interrupted run with another number of processes. Resume it with "
                         "that number, or pass --overwrite to start again.")
    chatnt = load_chatnt(model, trust_remote_code)
    def windows_of(variant):
        start, ref_window, alt_window = variant_windows(variant, genome, window)
        return (start, iupac_as_n(ref_window), iupac_as_n(alt_window)) if iupac else (start, ref_window, alt_window)

    for variant in variants:  # every window readable before any is scored
        _, ref_window, alt_window = windows_of(variant)
        checked_sequence(chatnt.processor, f"{variant} (reference window)", ref_window)
        checked_sequence(chatnt.processor, f"{variant} (variant window)", alt_window)

    partial = shard.partial(out)
    settings = {"vcf": str(Path(vcf).resolve()), "reference": str(Path(reference).resolve()), "question": question,
                "window": window, "max_indel": max_indel, "batch_size": batch_size, "max_new_tokens": max_new_tokens,
                "bf16": bf16, "iupac_as_n": iupac, "model": chatnt.path, "processes": shard.world,
                "variants": len(variants)}
    header = "\t".join(COLUMNS)
    if partial.exists():
        earlier = json.loads(settings_file(partial).read_text()) if settings_file(partial).exists() else None
        if earlier != settings:
            changed = sorted(key for key in settings if (earlier or {}).get(key) != settings[key])
            raise ValueError(f"{partial} holds an interrupted run with other settings ({', '.join(changed)} differ). "
                             "Re-run with the same settings to resume it, or pass --overwrite to start again.")
        done = {int(line.split("\t", 1)[0]) for line in finished_lines(partial, header)}
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        settings_file(partial).write_text(json.dumps(settings, indent=1) + "\n")
        partial.write_text(header + "\n")
        done = set()
    shard.wait_for_everyone()
    done_earlier = row_count(shard.partials(out))

    mine = sum(1 for variant in variants if shard.takes(variant.index))
    started = time.perf_counter()
    bar = tqdm(total=mine, initial=len(done), unit="variant", desc="variants", disable=not progress or not shard.is_main,
               file=sys.stderr)
    shared_prefix = SharedPromptPrefix()
    with open(partial, "a", encoding="utf-8") as sink, bar:
        for batch in shard.batches(variants, lambda variant: variant.index, lambda variant: variant.index in done):
            windows = [windows_of(variant) for variant in batch]
            dna = [[sequence] * placeholders for _, ref_window, alt_window in windows for sequence in (ref_window, alt_window)]
            results = answer_batch(chatnt, [template] * len(dna), dna, [True] * len(dna), max_new_tokens=max_new_tokens,
                                   bf16=bf16, shared_prefix=shared_prefix)
            for variant, (start, _, _), ref_result, alt_result in zip(batch, windows, results[::2], results[1::2]):
                cells = (variant.index, variant.chrom, variant.pos, variant.id, variant.ref, variant.alt, start,
                         f"{ref_result.p_yes:.4f}", f"{alt_result.p_yes:.4f}", f"{alt_result.p_yes - ref_result.p_yes:+.4f}",
                         _UNSAFE.sub(" ", ref_result.answer), _UNSAFE.sub(" ", alt_result.answer))
                sink.write("\t".join(map(str, cells)) + "\n")
            sink.flush()
            bar.update(len(batch))
    shard.wait_for_everyone()
    seconds = time.perf_counter() - started
    summary = VariantsSummary(str(out), len(variants), len(variants) - done_earlier, seconds, [])
    if not shard.is_main:
        return summary
    writing, deltas = Path(f"{out}.writing"), []
    with open(writing, "w", encoding="utf-8") as sink:
        sink.write("\t".join(COLUMNS[1:]) + "\n")
        for line in merged_rows(shard.partials(out), key=lambda row: int(row.split("\t", 1)[0])):
            cells = line.split("\t")
            sink.write("\t".join(cells[1:]))
            deltas.append((f"{cells[1]}:{cells[2]} {cells[4]}>{cells[5]}", float(cells[9])))
    os.replace(writing, out)
    for path in shard.partials(out):
        path.unlink()
        settings_file(path).unlink(missing_ok=True)
    summary.largest = sorted(deltas, key=lambda item: -abs(item[1]))[:3]
    return summary


__all__ = ["COLUMNS", "VariantsSummary", "score_variants"]
