"""The ``chatnt`` command line: ask questions about the sequences of FASTA files.

    chatnt ask "Is @YAL003W a protein-coding region?" --fasta ../shared/data/yeast/someORF.fa
    chatnt predict --fasta records.fa --question "Is @seq a promoter? Answer yes or no." --out results.tsv
    chatnt compare --ref @wt --alt @mut --fasta variants.fa
    chatnt chat --fasta ../shared/data/yeast/someORF.fa
    chatnt attribute "Is @YAL003W a protein-coding region?" --fasta ../shared/data/yeast/someORF.fa --out attr/
    chatnt evaluate --model checkpoints/chatnt-mini --output_dir runs/eval   (see chatnt evaluate --help)

Every command but evaluate is also a Python function (chatnt.cli.ask, predict, compare, chat, attribute).
Bad input prints "chatnt: error: ..." and exits with status 2.
"""

import argparse
import json
import re
import sys
from pathlib import Path

# Only light modules at the top: `chatnt --help` answers in well under a second. The commands (torch,
# transformers) are imported when one runs.
from .commands.loading import SHIPPED_MODEL, default_model  # noqa: F401  (chatnt.cli.default_model, public)
from .commands.questions import COMPARE_QUESTION, CONFIDENCE_MODES

_COMMAND_FUNCTIONS = ("ask", "chat", "compare", "predict")


def __getattr__(name: str):
    # chatnt.cli.ask, chat, compare, predict: the commands as Python functions, imported on first use.
    if name in _COMMAND_FUNCTIONS:
        from . import commands

        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def attribute(
    question: str,
    fasta: str | None = None,
    sequences=None,
    model: str | None = None,
    trust_remote_code: bool = False,
    answer: str | None = None,
    out: str | None = None,
    max_new_tokens: int = 32,
    bf16: bool = False,
    iupac: bool = False,
):
    """Which bases of each sequence the answer's first token rests on (gradient x input), with plots.

    The first answer token carries the label in ChatNT's answers ("Yes", "Mafk"), so its logit is
    differentiated with respect to the DNA encoder's input embeddings
    (see :mod:`chatnt.evaluation.attribution`).

    Args:
        question: English, referring to sequences by ``@record_id`` (FASTA) or ``<DNA>`` (in order).
        fasta: a FASTA file whose record ids the ``@`` tags name.
        sequences: instead of a FASTA file, a list of sequences (for ``<DNA>``) or a dict of named ones.
        model: a ChatNT directory or Hub id; default: the shipped model (see ``default_model``); loaded once per
            process (:func:`chatnt.commands.loading.load_chatnt`).
        trust_remote_code: run code saved with the model (a remote-code DNA encoder or tokenizer).
        answer: the answer to explain; default: the model's greedy answer.
        out: a folder for ``<name>_track.png``, ``<name>_logo.png`` and ``attribution.json``; ``None``
            writes nothing.
        max_new_tokens: length limit of the generated answer.
        bf16: bfloat16 autocast (faster on a CPU, less exact gradients).
        iupac: read IUPAC ambiguity codes in the FASTA file as N (``--iupac-as-n``).

    Returns:
        The :class:`~chatnt.evaluation.attribution.AnswerAttribution`.
    """
    from .commands.loading import load_chatnt
    from .evaluation.attribution import attribute as attribute_answer

    from .commands.sequences import read_records

    if fasta is None and sequences is None:
        raise ValueError("attribute needs DNA: pass a FASTA file (--fasta) or sequences.")
    dna = read_records(fasta, iupac) if fasta is not None else sequences  # bad input reported before the model loads
    loaded = load_chatnt(model, trust_remote_code)
    result = attribute_answer(
        loaded.model, loaded.processor, question, dna, answer=answer,
        max_new_tokens=max_new_tokens, bf16=bf16,
    )
    if out is not None:
        write_attribution(result, out, question)
    return result


def _file_stem(name: str, used: set) -> str:
    # Record ids such as chr4:126246986-126247186 hold characters that are awkward in file names.
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "sequence"
    candidate, number = stem, 2
    while candidate in used:  # the same record asked about twice
        candidate, number = f"{stem}_{number}", number + 1
    used.add(candidate)
    return candidate


def write_attribution(result, out: str, question: str | None = None) -> list[Path]:
    """Writes ``<out>/<name>_track.png`` and ``<out>/<name>_logo.png`` per sequence and ``<out>/attribution.json``.

    Names are made file-safe (``chr4:1-200`` -> ``chr4_1-200``); the JSON records each sequence's
    ``files``.
    """
    from .evaluation.plots import attribution_logo, attribution_track

    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"question": question, **result.to_dict()}
    written, used = [], set()
    for sequence, entry in zip(result.sequences, payload["sequences"]):
        stem = _file_stem(sequence.name, used)
        track = attribution_track(sequence, directory / f"{stem}_track.png")
        logo = attribution_logo(sequence, directory / f"{stem}_logo.png")
        entry["files"] = [track.name, logo.name]
        written += [track, logo]
    json_path = directory / "attribution.json"
    json_path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return [*written, json_path]


def attribution_table(result) -> str:
    """The answer, the target token and per sequence its peak and top-5 6-mers, as plain text."""
    lines = [f"answer: {result.answer}", f"target token: {result.target_token!r}", ""]
    lines.append(f"{'sequence':<28} {'bp':>6} {'peak':>6}  top 6-mers (start:k-mer score)")
    for sequence in result.sequences:
        kmers = "  ".join(f"{start}:{kmer} {score:.3g}" for start, kmer, score in sequence.top_kmers(6, 5))
        lines.append(f"{sequence.name:<28} {len(sequence.sequence):>6} {sequence.peak():>6}  {kmers}")
    return "\n".join(lines)


def _prepare_to_run() -> None:
    """What a command needs before it loads a model (bin/chatnt skipped it, so that --help answers at once)."""
    from transformers.utils import logging as transformers_logging

    from . import register_auto_classes

    register_auto_classes()  # the processor's loaders find the DNA tokenizer through AutoTokenizer
    # The answer is the output: transformers' progress bar of every model load would surround it.
    transformers_logging.disable_progress_bar()


def _evaluate(arguments: list[str]) -> int:
    """``chatnt evaluate ...``: chatnt.training.evaluate_chatnt with the same arguments and help."""
    from .training.evaluate_chatnt import main as evaluate_main

    _prepare_to_run()

    program = sys.argv[0]
    sys.argv[0] = "chatnt evaluate"  # argparse names the program after argv[0]: usage lines read as typed
    # The other chatnt commands spell options with hyphens, the python -m recipes (as HF scripts) with underscores:
    # both are accepted here.
    arguments = [re.sub(r"(?<=\w)-(?=\w)", "_", word) if word.startswith("--") else word for word in arguments]
    try:
        evaluate_main(arguments)
    except SystemExit as exit_request:  # argparse's --help (0) and usage errors (2)
        code = exit_request.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    finally:
        sys.argv[0] = program
    return 0


def _add_model_options(parser: argparse.ArgumentParser, max_new_tokens: int, confidence: bool = True,
                       truncate: bool = True) -> None:
    """Options every answering command shares."""
    parser.add_argument("--model", help=f"ChatNT directory or Hub id (default: {SHIPPED_MODEL} if present)")
    parser.add_argument("--max-new-tokens", type=int, default=max_new_tokens,
                        help="length limit of each answer (default: %(default)s)")
    if confidence:
        parser.add_argument(
            "--confidence", choices=CONFIDENCE_MODES, default="auto",
            help="add the calibrated yes/no probability: auto = for yes/no questions (default), always, never",
        )
    if truncate:  # scan chooses its window length instead
        parser.add_argument("--truncate", action="store_true",
                            help="keep the start of a sequence longer than the encoder's limit (default: an error)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                        help="bfloat16 autocast, as chatnt-mini was trained and calibrated (default: on)")
    _add_iupac_option(parser)
    _add_trust_option(parser)


def _add_iupac_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--iupac-as-n", dest="iupac", action="store_true",
                        help="read IUPAC ambiguity codes (R, Y, S, W, K, M, B, D, H, V) as N (default: an error)")


def _add_trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run code saved with the model: needed for a remote-code DNA encoder or tokenizer")


def _add_ask_command(commands) -> None:
    """``chatnt ask``: one answer about named sequences."""
    ask_parser = commands.add_parser(
        "ask", help="answer one question about sequences in a FASTA file",
        description="One answer; for a yes/no question also the calibrated probability of that answer, e.g. "
        "'No. (P(no) = 0.97, calibrated)', and a note when the classifier prefers the other answer.",
    )
    ask_parser.add_argument("question", help='English question; refer to records as @id, e.g. "Is @seq1 a promoter?"')
    ask_parser.add_argument("--fasta", help="FASTA file (plain or gzip) whose record ids the @tags name")
    _add_model_options(ask_parser, max_new_tokens=64)


def _add_predict_command(commands) -> None:
    """``chatnt predict``: one question over every record of a FASTA file."""
    predict_parser = commands.add_parser(
        "predict", help="the same question over every record of a FASTA file, into a TSV (resumable)",
        description="Asks QUESTION about every record (streamed, batched). The question names the record as <DNA> "
        "or a single @tag (e.g. @seq). Rows collect in OUT.partial, flushed per batch; re-running the same "
        "command after an interruption skips finished records; OUT appears only when every record is done. "
        "Columns: id, answer, parsed (label or value), probability (calibrated P(yes)), calibrated, truncated.",
    )
    predict_parser.add_argument("--fasta", required=True, help="FASTA file (plain or gzip), read one record at a time")
    predict_parser.add_argument("--question", required=True,
                                help='asked of each record, e.g. "Is @seq a promoter? Answer yes or no."')
    predict_parser.add_argument("--out", required=True, help="TSV to write (e.g. results.tsv)")
    predict_parser.add_argument("--batch-size", type=int, default=8,
                                help="records answered together (default: %(default)s)")
    predict_parser.add_argument("--task",
                                help="task registry name whose parser fills 'parsed' (e.g. core_promoter, gc_content)")
    predict_parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT and start again")
    predict_parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_model_options(predict_parser, max_new_tokens=32)


def _add_scan_command(commands) -> None:
    """``chatnt scan``: one question over the windows of long sequences."""
    scan_parser = commands.add_parser(
        "scan", help="the same question over sliding windows of long sequences (genomes), into BED/bedGraph tracks",
        description="Asks QUESTION about every window of the FASTA file's records (whole genomes; gzip is streamed, an "
        "uncompressed file is read by index), optionally limited to BED regions, on one or both strands. Writes "
        "OUT.tsv, OUT.bed, OUT.bedGraph (OUT.minus.bedGraph) and OUT.png; resumable like predict, and runs under "
        "`accelerate launch -m chatnt.cli scan ...` with each process taking its share of windows.",
    )
    scan_parser.add_argument("--fasta", required=True, help="FASTA file (plain or gzip), e.g. a genome")
    scan_parser.add_argument("--question", required=True, help='asked of each window, e.g. "Is @seq a promoter?"')
    scan_parser.add_argument("--out", required=True, help="prefix of the output files (OUT.tsv, OUT.bed, ...)")
    scan_parser.add_argument("--window", type=int, default=1000, help="window length in bp (default: %(default)s)")
    scan_parser.add_argument("--stride", type=int, help="bp between window starts (default: the window length)")
    scan_parser.add_argument("--strands", choices=("+", "-", "both"), default="+", help="default: %(default)s")
    scan_parser.add_argument("--bed", help="scan only these regions (BED, 0-based half-open)")
    scan_parser.add_argument("--region", action="append", default=[], help="scan only chrom:start-end (repeatable)")
    scan_parser.add_argument("--plot-region", help="chrom:start-end drawn in OUT.png (default: the first scanned)")
    scan_parser.add_argument("--batch-size", type=int, default=8, help="windows answered together (default: %(default)s)")
    scan_parser.add_argument("--task", help="task registry name whose parser fills 'parsed' (e.g. gc_content)")
    scan_parser.add_argument("--overwrite", action="store_true", help="replace existing outputs and start again")
    scan_parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_model_options(scan_parser, max_new_tokens=16, truncate=False)


def _add_variants_command(commands) -> None:
    """``chatnt variants``: VCF variants scored by a yes/no question."""
    variants_parser = commands.add_parser(
        "variants", help="score the variants of a VCF: change of the calibrated P(yes) of one question",
        description="For every SNV and short indel of VCF, asks the yes/no QUESTION of the reference window around it "
        "and of the same window with the variant applied; OUT (TSV) holds both calibrated P(yes) and their difference "
        "(delta). Variants whose REF does not match the reference are refused, all named, before any is scored. "
        "Resumable, and runs under `accelerate launch -m chatnt.cli variants ...` like predict.",
    )
    variants_parser.add_argument("--vcf", required=True, help="VCF (plain or gzip) of SNVs and short indels")
    variants_parser.add_argument("--reference", required=True, help="the FASTA the variants were called against")
    variants_parser.add_argument("--question", required=True, help='a yes/no question, e.g. "Is @seq a promoter?"')
    variants_parser.add_argument("--out", required=True, help="TSV to write")
    variants_parser.add_argument("--window", type=int, default=600, help="bp around each variant (default: %(default)s)")
    variants_parser.add_argument("--max-indel", type=int, default=50, help="longest indel scored (default: %(default)s)")
    variants_parser.add_argument("--batch-size", type=int, default=8, help="variants scored together (default: %(default)s)")
    variants_parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT and start again")
    variants_parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_model_options(variants_parser, max_new_tokens=8, confidence=False, truncate=False)


def _add_compare_command(commands) -> None:
    """``chatnt compare``: one question over a reference and a variant."""
    compare_parser = commands.add_parser(
        "compare", help="one question over a reference and a variant sequence",
        description="Asks one question about two records of a FASTA file, a reference (--ref) and a variant (--alt): "
        "the ChatNT paper's variant use. The question names them @ref and @alt (or their ids). Default question: "
        + COMPARE_QUESTION.replace("%", "%%"),
    )
    compare_parser.add_argument("--ref", required=True, help="reference record id, e.g. @wt")
    compare_parser.add_argument("--alt", required=True, help="variant record id, e.g. @mut")
    compare_parser.add_argument("--fasta", required=True, help="FASTA file holding both records")
    compare_parser.add_argument("--question", help="the question (default: does the variant change the function?)")
    _add_model_options(compare_parser, max_new_tokens=64)


def _add_chat_command(commands) -> None:
    """``chatnt chat``: an interactive conversation."""
    chat_parser = commands.add_parser(
        "chat", help="an interactive conversation about FASTA records (reads standard input)",
        description="Reads questions line by line from standard input (a terminal or a pipe); questions name records "
        "as @id or <DNA>; the conversation is kept across turns. Commands: /load FILE, /list, /reset, /history, "
        "/help, /quit.",
    )
    chat_parser.add_argument("--fasta", action="append", default=[], help="FASTA file to load (repeatable)")
    _add_model_options(chat_parser, max_new_tokens=64)


def _add_attribute_command(commands) -> None:
    """``chatnt attribute``: which bases an answer rests on."""
    attribute_parser = commands.add_parser(
        "attribute", help="which bases an answer rests on: gradient x input maps, logos and a table"
    )
    attribute_parser.add_argument("question", help='English question; refer to records as @id, e.g. "Is @seq1 bound?"')
    attribute_parser.add_argument("--fasta", required=True, help="FASTA file (plain or gzip) of the @tagged records")
    attribute_parser.add_argument(
        "--answer", help="the answer to explain (default: the model's greedy answer); pass the label alone (e.g. "
        "Mafk) when the model opens with a preamble such as 'The answer is', so that the label's token is explained",
    )
    attribute_parser.add_argument("--model", help=f"ChatNT directory or Hub id (default: {SHIPPED_MODEL} if present)")
    attribute_parser.add_argument(
        "--out", default="attribution", help="folder for the PNGs and attribution.json (default: %(default)s)"
    )
    attribute_parser.add_argument("--max-new-tokens", type=int, default=32)
    attribute_parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast: faster on a CPU, less exact")
    _add_iupac_option(attribute_parser)
    _add_trust_option(attribute_parser)


def _add_evaluate_command(commands) -> None:
    """``chatnt evaluate``: listed only: main() forwards its arguments."""
    commands.add_parser(  # listed here; main() forwards its arguments before parsing
        "evaluate", add_help=False,
        help="per-task test scores of a model (python -m chatnt.training.evaluate_chatnt; see chatnt evaluate --help)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``chatnt`` argument parser (``evaluate`` is forwarded before parsing; see :func:`main`)."""
    parser = argparse.ArgumentParser(prog="chatnt", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (_add_ask_command, _add_predict_command, _add_scan_command, _add_variants_command,
                        _add_compare_command, _add_chat_command, _add_attribute_command, _add_evaluate_command):
        add_command(commands)
    return parser


def _run(args) -> int:
    from .commands import ask, chat, compare, predict, scan, score_variants

    _prepare_to_run()
    shared = dict(model=args.model, max_new_tokens=args.max_new_tokens, trust_remote_code=args.trust_remote_code)
    shared = shared if args.command != "attribute" else {}
    if args.command in ("ask", "predict", "scan", "compare", "chat"):
        shared.update(confidence=args.confidence, bf16=args.bf16, iupac=args.iupac)
        if args.command != "scan":
            shared["truncate"] = args.truncate
    if args.command == "ask":
        print(ask(args.question, fasta=args.fasta, **shared))
    elif args.command == "predict":
        summary = predict(args.fasta, args.question, args.out, batch_size=args.batch_size, task=args.task,
                          overwrite=args.overwrite, progress=not args.no_progress, **shared)
        print(summary.report())
    elif args.command == "scan":
        summary = scan(args.fasta, args.question, args.out, window=args.window, stride=args.stride,
                       strands=args.strands, bed=args.bed, regions=args.region, plot_region=args.plot_region,
                       batch_size=args.batch_size, task=args.task, overwrite=args.overwrite,
                       progress=not args.no_progress, **shared)
        if summary.files:  # the main process reports; the others have only their share
            print(summary.report())
    elif args.command == "variants":
        summary = score_variants(args.vcf, args.reference, args.question, args.out, model=args.model,
                                 trust_remote_code=args.trust_remote_code, window=args.window, max_indel=args.max_indel,
                                 batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, bf16=args.bf16,
                                 overwrite=args.overwrite, progress=not args.no_progress, iupac=args.iupac)
        if summary.largest:  # the main process reports
            print(summary.report())
    elif args.command == "compare":
        outcome = compare(args.ref, args.alt, fasta=args.fasta, question=args.question, **shared)
        print(f"question: {outcome.question}")
        print(f"@{outcome.ref} vs @{outcome.alt}: {outcome.describe_difference()}")
        print(outcome.result)
    elif args.command == "chat":
        chat(args.fasta, **shared)
    else:
        result = attribute(args.question, fasta=args.fasta, model=args.model, trust_remote_code=args.trust_remote_code,
                           answer=args.answer, out=args.out,
                           max_new_tokens=args.max_new_tokens, bf16=args.bf16, iupac=args.iupac)
        print(attribution_table(result))
        print(f"\nwrote {len(result.sequences)} track(s), logo(s) and attribution.json to {args.out}")
    return 0


def main(argv=None) -> int:
    """Runs ``chatnt``; returns the exit status (0, 2 for bad input, 130 when interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "evaluate":
        # Forwarded untouched, --help included, so evaluate_chatnt's own parser answers.
        return _evaluate(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as error:
        message = " ".join(str(error).split())  # one line, whatever the message held
        print(f"chatnt: error: {message}", file=sys.stderr)
        return 2
    except OSError as error:  # the file system refused (read-only, full disk, ...): name the path and the way out
        where = f" ({error.filename})" if error.filename else ""
        print(f"chatnt: error: {error.strerror or error}{where}. Free or fix that location, or write elsewhere "
              "(--out).", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = ""
        if args.command == "predict":
            hint = " Rows so far are in the .partial file: run the same command again to resume."
        print(f"chatnt: interrupted.{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
