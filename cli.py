"""The ``chatnt`` command line: ask questions about the sequences of a FASTA file.

    chatnt ask "Is @YAL003W a protein-coding region?" --fasta ../shared/data/yeast/someORF.fa
    chatnt attribute "Is @YAL003W a protein-coding region?" --fasta ../shared/data/yeast/someORF.fa --out attr/
    chatnt evaluate --model checkpoints/chatnt-mini --output_dir runs/eval   (see chatnt evaluate --help)

``ask`` and ``attribute`` are also Python functions.
"""

import argparse
import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent
SHIPPED_MODEL = REPO_ROOT / "checkpoints" / "chatnt-mini"


def default_model() -> str:
    """The shipped ChatNT checkpoint, or, until one is trained, an untrained starter built offline.

    The starter is the real SmolLM2-135M-Instruct decoder with a freshly initialised NT v2 encoder and
    English-aware Perceiver: it answers in English, but its answers are not informed by the DNA.
    """
    if SHIPPED_MODEL.is_dir():
        return str(SHIPPED_MODEL)
    from .configuration_nucleotide_transformer import NucleotideTransformerConfig
    from .modeling_chatnt import ChatNTForConditionalGeneration
    from .modeling_nucleotide_transformer import NucleotideTransformerModel
    from .offline_models import default_cache_dir, smollm2_instruct

    starter = default_cache_dir() / "chatnt-untrained-starter"
    if not (starter / "config.json").is_file():
        print(f"No trained ChatNT checkpoint in {SHIPPED_MODEL}; building an UNTRAINED starter in {starter} "
              "(SmolLM2 decoder + random NT encoder).", file=sys.stderr)
        encoder_dir = starter / "encoder"
        NucleotideTransformerModel(
            NucleotideTransformerConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, intermediate_size=1024)
        ).save_pretrained(encoder_dir)
        model, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(encoder_dir, smollm2_instruct())
        model.save_pretrained(starter, include_text_model=False)
        processor.save_pretrained(starter)
    return str(starter)


def ask(question: str, fasta: str | None = None, sequences=None, model: str | None = None, max_new_tokens: int = 64) -> str:
    """One answer to a question about DNA.

    Args:
        question: English, referring to sequences by ``@record_id`` (FASTA) or ``<DNA>`` (in order).
        fasta: a FASTA file whose record ids the ``@`` tags name.
        sequences: instead of a FASTA file, a list of sequences (for ``<DNA>``) or a dict of named ones.
        model: a ChatNT directory or Hub id; default: the shipped model (see ``default_model``).
    """
    from transformers import pipeline

    from .offline_models import decoder_kwargs

    model = model or default_model()
    generator = pipeline(
        "text-generation", model=model, trust_remote_code=True, model_kwargs=decoder_kwargs(model)
    )
    output = generator(question, dna_sequences=fasta if fasta is not None else sequences,
                       max_new_tokens=max_new_tokens, do_sample=False)
    return output[0]["generated_text"].strip()


def attribute(
    question: str,
    fasta: str | None = None,
    sequences=None,
    model: str | None = None,
    answer: str | None = None,
    out: str | None = None,
    max_new_tokens: int = 32,
    bf16: bool = False,
):
    """Which bases of each sequence the answer's first token rests on (gradient x input), with plots.

    The first answer token carries the label in ChatNT's answers ("Yes", "Mafk"), so its logit is
    differentiated with respect to the DNA encoder's input embeddings
    (see :mod:`chatnt.evaluation.attribution`).

    Args:
        question: English, referring to sequences by ``@record_id`` (FASTA) or ``<DNA>`` (in order).
        fasta: a FASTA file whose record ids the ``@`` tags name.
        sequences: instead of a FASTA file, a list of sequences (for ``<DNA>``) or a dict of named ones.
        model: a ChatNT directory or Hub id; default: the shipped model (see ``default_model``).
        answer: the answer to explain; default: the model's greedy answer.
        out: a folder for ``<name>_track.png``, ``<name>_logo.png`` and ``attribution.json``; ``None``
            writes nothing.
        max_new_tokens: length limit of the generated answer.
        bf16: bfloat16 autocast (faster on a CPU, less exact gradients).

    Returns:
        The :class:`~chatnt.evaluation.attribution.AnswerAttribution`.
    """
    from .evaluation.attribution import attribute as attribute_answer
    from .modeling_chatnt import ChatNTForConditionalGeneration
    from .offline_models import decoder_kwargs
    from .processing_chatnt import ChatNTProcessor

    if fasta is None and sequences is None:
        raise ValueError("attribute needs DNA: pass a FASTA file (--fasta) or sequences.")
    model = model or default_model()
    chatnt_model = ChatNTForConditionalGeneration.from_pretrained(model, **decoder_kwargs(model))
    processor = ChatNTProcessor.from_pretrained(model)
    result = attribute_answer(
        chatnt_model, processor, question, fasta if fasta is not None else sequences, answer=answer,
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


def _evaluate(arguments: list[str]) -> int:
    """``chatnt evaluate ...``: chatnt.training.evaluate_chatnt with the same arguments and help."""
    from .training.evaluate_chatnt import main as evaluate_main

    program = sys.argv[0]
    sys.argv[0] = "chatnt evaluate"  # argparse names the program after argv[0]: usage lines read as typed
    try:
        evaluate_main(arguments)
    except SystemExit as exit_request:  # argparse's --help (0) and usage errors (2)
        code = exit_request.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    finally:
        sys.argv[0] = program
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "evaluate":
        # Forwarded untouched, --help included, so evaluate_chatnt's own parser answers.
        return _evaluate(argv[1:])
    parser = argparse.ArgumentParser(prog="chatnt", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    ask_parser = commands.add_parser("ask", help="answer one question about sequences in a FASTA file")
    ask_parser.add_argument("question", help='English question; refer to records as @id, e.g. "Is @seq1 a promoter?"')
    ask_parser.add_argument("--fasta", help="FASTA file (plain or gzip) whose record ids the @tags name")
    ask_parser.add_argument("--model", help=f"ChatNT directory or Hub id (default: {SHIPPED_MODEL} if present)")
    ask_parser.add_argument("--max-new-tokens", type=int, default=64)
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
    commands.add_parser(  # listed here; main() forwards its arguments before parsing
        "evaluate", add_help=False,
        help="per-task test scores of a model (python -m chatnt.training.evaluate_chatnt; see chatnt evaluate --help)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "attribute":
            result = attribute(args.question, fasta=args.fasta, model=args.model, answer=args.answer, out=args.out,
                               max_new_tokens=args.max_new_tokens, bf16=args.bf16)
            print(attribution_table(result))
            print(f"\nwrote {len(result.sequences)} track(s), logo(s) and attribution.json to {args.out}")
        else:
            print(ask(args.question, fasta=args.fasta, model=args.model, max_new_tokens=args.max_new_tokens))
    except (ValueError, FileNotFoundError, IsADirectoryError) as error:
        print(f"chatnt: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
