"""VCF variants (SNVs and short indels) and the reference and alternative windows around each.

Only the first five columns are read (``CHROM POS ID REF ALT``); a line with several ALT alleles gives one variant
per allele. POS is 1-based, as VCF writes it; windows are 0-based, half-open, as BED.
"""

import gzip
import os
import re
from dataclasses import dataclass

from ..fasta import is_gzip, iter_fasta
from .windows import index_name

_BASES = re.compile(r"^[ACGTNacgtn]+$")


@dataclass(frozen=True)
class Variant:
    index: int  # place in the file, alleles of one line in order
    chrom: str
    pos: int  # 1-based, as in the VCF
    id: str
    ref: str
    alt: str

    def __str__(self) -> str:
        return f"{self.chrom}:{self.pos} {self.ref}>{self.alt}"


def read_vcf(path: str | os.PathLike, max_indel: int) -> list[Variant]:
    """The variants of a VCF file (plain or gzip).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a line with fewer than five columns, a POS that is not a positive whole number, alleles that
            are not bases (symbolic ``<DEL>``, ``*``, breakends), or REF/ALT longer than ``max_indel`` + 1 bases
            (one line naming the file and line), or a file without variants.
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    variants: list[Variant] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 5:
                raise ValueError(f"{path}, line {number}: a VCF line needs CHROM POS ID REF ALT, tab-separated.")
            chrom, pos, variant_id, ref, alts = fields[:5]
            if not pos.isdigit() or int(pos) < 1:
                raise ValueError(f"{path}, line {number}: POS {pos!r} is not a position (1-based whole number).")
            for alt in alts.split(","):
                if not _BASES.match(ref) or not _BASES.match(alt):
                    raise ValueError(
                        f"{path}, line {number}: {ref}>{alt} is not a SNV or short indel written in bases (symbolic "
                        "alleles, '*' and breakends are not scored). Remove the line, e.g. with bcftools view -v snps,indels."
                    )
                if max(len(ref), len(alt)) > max_indel + 1:
                    raise ValueError(
                        f"{path}, line {number}: {chrom}:{pos} changes {max(len(ref), len(alt)) - 1} bases, more than "
                        f"--max-indel {max_indel}. Raise --max-indel (with a --window that holds it) or remove the line."
                    )
                variants.append(Variant(len(variants), chrom, int(pos), variant_id, ref.upper(), alt.upper()))
    if not variants:
        raise ValueError(f"{path} holds no variant line (only headers or nothing). Pass a VCF with records.")
    return variants


class Reference:
    """The reference genome's bases: by index for an uncompressed FASTA, else the needed records held in memory."""

    def __init__(self, fasta: str | os.PathLike, chromosomes: set[str]):
        self.path = os.fspath(fasta)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"reference FASTA not found: {self.path!r}.")
        if is_gzip(self.path):
            self.records = {record.id: record.sequence for record in iter_fasta(self.path) if record.id in chromosomes}
            self.lengths = {name: len(sequence) for name, sequence in self.records.items()}
        else:
            import pyfaidx

            self.records = pyfaidx.Fasta(self.path, indexname=index_name(self.path), as_raw=True, rebuild=True)
            self.lengths = {name: len(record) for name, record in self.records.items()}
        missing = sorted(chromosomes - set(self.lengths))
        if missing:
            raise ValueError(
                f"the VCF names {', '.join(missing[:5])}, which the reference {self.path} does not hold: is it the "
                "reference the variants were called against?"
            )

    def bases(self, chrom: str, start: int, end: int) -> str:
        return str(self.records[chrom][start:end])


def check_ref_alleles(variants: list[Variant], reference: Reference) -> None:
    """Refuses, naming them, variants whose REF is not the reference's bases at POS (or lies past its end)."""
    wrong = []
    for variant in variants:
        start = variant.pos - 1
        found = reference.bases(variant.chrom, start, start + len(variant.ref)).upper()
        if found != variant.ref:
            wrong.append(f"{variant} (reference: {found or 'past the end'})")
    if wrong:
        listed = "; ".join(wrong[:5]) + (f"; and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        raise ValueError(
            f"{len(wrong)} variant(s) have a REF that does not match the reference: {listed}. Is the VCF for another "
            "genome build, or another reference FASTA?"
        )


def variant_windows(variant: Variant, reference: Reference, window: int) -> tuple[int, str, str]:
    """``(start, reference window, alternative window)``: ``window`` reference bases centred on the REF allele
    (moved inward at a record's ends), and the same bases with REF replaced by ALT (longer or shorter by the indel)."""
    length = reference.lengths[variant.chrom]
    pos0 = variant.pos - 1
    start = max(0, min(pos0 - (window - len(variant.ref)) // 2, length - window))
    ref_window = reference.bases(variant.chrom, start, start + window)
    offset = pos0 - start
    alt_window = ref_window[:offset] + variant.alt + ref_window[offset + len(variant.ref):]
    return start, ref_window, alt_window


__all__ = ["Reference", "Variant", "check_ref_alleles", "read_vcf", "variant_windows"]
