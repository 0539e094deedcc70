"""Reading FASTA files (plain or gzip) with errors that say what is wrong and where."""

import gzip
import io
import os
import re
import zlib
from dataclasses import dataclass
from typing import Iterator

# .txt is not among them: a text file may hold anything, so a name like "notes.txt" given where a sequence goes is
# reported as a file name (the processor's check), never opened as FASTA behind the user's back.
FASTA_SUFFIXES = re.compile(r"\.(fa|fasta|fas|fna|ffn|frn|faa|seq)(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: ``id`` is the header's first whitespace-separated word (spaces or tabs, as Biopython and
    samtools read it), ``description`` the rest of the header."""

    id: str
    sequence: str
    description: str = ""

    @property
    def header(self) -> str:
        """The header line without ``>``: the id and the description."""
        return f"{self.id} {self.description}" if self.description else self.id


def looks_like_fasta_path(value) -> bool:
    """Whether a ``dna_sequences`` value names a FASTA file rather than holding a sequence."""
    return isinstance(value, os.PathLike) or (isinstance(value, str) and bool(FASTA_SUFFIXES.search(value)))


def _not_fasta_reason(line: str, line_number: int) -> str:
    """Why a line before any header is not FASTA, and what to do, for the common look-alikes."""
    start = f"line {line_number} starts with {line[:30]!r}, but FASTA records start with a '>' header line."
    if line.startswith("@"):
        return f"{start} It looks like FASTQ: convert it to FASTA (e.g. `seqtk seq -a reads.fq > reads.fa`)."
    if set(line.upper()) <= set("ACGTUN"):
        return f"{start} Add a header such as '>seq1' above the sequence, or pass the sequence itself."
    return f"{start} Pass a FASTA file (a '>id' line, then the sequence lines, per record)."


def _open_bytes(path: str | os.PathLike) -> io.BufferedIOBase:
    """The file's bytes, gunzipped when its content (not its name) is gzip. Lines are decoded one by one by
    :func:`iter_fasta`, so that bytes which are not UTF-8 are reported with their line."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"FASTA file not found: {path!r}. Check the path (relative paths start at {os.getcwd()!r}).")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory; pass a FASTA file inside it.")
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the file's content (not its name) is gzip."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _decode(line: bytes | str, name: str, line_number: int) -> str:
    """One line as text: strict UTF-8 (a replaced byte would silently change an id), without a byte-order mark."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{name}, line {line_number}: byte {line[error.start:error.start + 1]!r} at column {error.start + 1} is "
                "not UTF-8 text. Save the file as UTF-8 (e.g. `iconv -f WINDOWS-1252 -t UTF-8 in.fa > out.fa`)."
            ) from None
    return line.removeprefix("\ufeff") if line_number == 1 else line


def _checked_header(line: str, line_number: int, name: str, seen: dict[str, int], unique_ids: bool) -> str:
    """The header of a ``>`` line (without ``>``), refused without an id or, with ``unique_ids``, with an id already in
    ``seen`` (id -> line); records the id there."""
    header = line[1:].strip()
    if not header:
        raise ValueError(
            f"{name}, line {line_number}: a '>' header without a sequence id. Write the id right after '>' (e.g. '>seq1')."
        )
    record_id = header.split()[0]
    if unique_ids and record_id in seen:
        raise ValueError(
            f"{name}, line {line_number}: duplicate record id {record_id!r} (first seen on line {seen[record_id]}). "
            "Rename one of them: record ids must be unique so that @id refers to one sequence."
        )
    seen[record_id] = line_number
    return header


def iter_fasta_lines(
    source: str | os.PathLike | io.IOBase, name: str | None = None, unique_ids: bool = True
) -> Iterator[tuple[str, str | None]]:
    """Streams a FASTA file line by line: ``(header, None)`` at each record, then ``(header, bases)`` for each of its
    sequence lines (whitespace removed, case kept), without holding a record in memory (a chromosome can be
    hundreds of megabases). :func:`iter_fasta` builds records from it; windows over a genome are cut from it.

    Lines starting with ``;`` are comments before the first record and between a header and its sequence (the old
    FASTA convention); one among a record's sequence lines is refused, since skipping it could silently join what
    its author meant to keep apart. Record ids must be unique (``@id`` names one sequence) unless ``unique_ids`` is
    False (data sets that list one accession several times, e.g. the copies of a multi-copy rRNA operon).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is empty, is not FASTA (text before the first ``>``), has a header
            without an id, a record without sequence, two records with the same id, a ``;`` line among
            sequence lines, bytes that are not UTF-8, or is a damaged gzip file. Every message is one line that
            names the file (and line) and the fix.
    """
    owns_handle = not hasattr(source, "read")
    handle = _open_bytes(source) if owns_handle else source
    name = name or (os.fspath(source) if owns_handle else getattr(source, "name", "<stream>"))
    seen: dict[str, int] = {}
    header = header_line = None
    has_bases = False

    def check_has_bases():
        if header is not None and not has_bases:
            raise ValueError(
                f"{name}, line {header_line}: record {header.split()[0]!r} has no sequence. Add its sequence "
                "lines below the header, or delete the header."
            )

    try:
        for line_number, line in enumerate(handle, start=1):
            line = _decode(line, name, line_number).strip()
            if not line:
                continue
            if line.startswith(";"):
                if has_bases:
                    raise ValueError(
                        f"{name}, line {line_number}: a ';' comment line inside the sequence of record "
                        f"{header.split()[0]!r}. Move the comment above the record's header, or delete the line."
                    )
                continue
            if line.startswith(">"):
                check_has_bases()
                header, header_line, has_bases = _checked_header(line, line_number, name, seen, unique_ids), line_number, False
                yield header, None
            elif header is None:
                raise ValueError(f"{name} is not a FASTA file: {_not_fasta_reason(line, line_number)}")
            else:
                has_bases = True
                yield header, "".join(line.split())
        if header is None:
            raise ValueError(
                f"{name} holds no FASTA record (the file is empty or has only blank lines). Pass a file with at "
                "least one '>id' header line followed by its sequence."
            )
        check_has_bases()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        # A damaged .gz fails mid-read with errors that name neither the file nor a way out.
        raise ValueError(
            f"{name} is a damaged gzip file ({error}). Compress it again (gzip FILE) or pass the uncompressed FASTA."
        ) from None
    finally:
        if owns_handle:
            handle.close()


def iter_fasta(
    source: str | os.PathLike | io.IOBase, name: str | None = None, unique_ids: bool = True
) -> Iterator[FastaRecord]:
    """Streams the records of a FASTA file (path, gzip path, or open text or binary handle), one at a time.

    Sequence lines are joined and stripped of whitespace; letters keep their case (the processor upper-cases
    soft-masked bases and checks the alphabet). The file is checked as :func:`iter_fasta_lines` says.
    """
    header, chunks = None, []
    for line_header, bases in iter_fasta_lines(source, name, unique_ids):
        if bases is not None:
            chunks.append(bases)
            continue
        if header is not None:
            yield _record(header, chunks)
        header, chunks = line_header, []
    yield _record(header, chunks)


def _record(header: str, chunks: list[str]) -> FastaRecord:
    record_id, *description = header.split(None, 1)
    return FastaRecord(record_id, "".join(chunks), description[0].strip() if description else "")


def read_fasta(source: str | os.PathLike | io.TextIOBase) -> dict[str, str]:
    """All records of a FASTA file as ``{id: sequence}``, in file order.

    Example:
        >>> from chatnt import read_fasta
        >>> sequences = read_fasta("promoters.fa")
        >>> list(sequences)[:2]
        ['seq1', 'seq2']
    """
    return {record.id: record.sequence for record in iter_fasta(source)}


def parse_fasta_text(text: str, name: str = "<text>") -> dict[str, str]:
    """Records of FASTA given as a string (e.g. pasted into a demo), as ``{id: sequence}``."""
    return {record.id: record.sequence for record in iter_fasta(io.StringIO(text), name=name)}


__all__ = [
    "FastaRecord", "is_gzip", "iter_fasta", "iter_fasta_lines", "looks_like_fasta_path", "parse_fasta_text", "read_fasta"]
