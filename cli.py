"""The ``chatnt`` command line: ask questions about the sequences of a FASTA file.

    chatnt ask "Is @YAL003W a protein-coding region?" --fasta ../shared/data/yeast/someORF.fa

Each command is also a Python function (``ask``).
"""

import argparse
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="chatnt", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    ask_parser = commands.add_parser("ask", help="answer one question about sequences in a FASTA file")
    ask_parser.add_argument("question", help='English question; refer to records as @id, e.g. "Is @seq1 a promoter?"')
    ask_parser.add_argument("--fasta", help="FASTA file (plain or gzip) whose record ids the @tags name")
    ask_parser.add_argument("--model", help=f"ChatNT directory or Hub id (default: {SHIPPED_MODEL} if present)")
    ask_parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        print(ask(args.question, fasta=args.fasta, model=args.model, max_new_tokens=args.max_new_tokens))
    except (ValueError, FileNotFoundError, IsADirectoryError) as error:
        print(f"chatnt: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
