"""ChatNT for Hugging Face: conversational DNA/RNA language models.

Importing this package registers the ChatNT and Nucleotide Transformer classes with the transformers
Auto classes, so a saved ChatNT directory loads with ``AutoModelForCausalLM.from_pretrained(path)``
without ``trust_remote_code``. The package's names (``chatnt.ChatNTProcessor``, ...) are imported on
first use.

The ``chatnt`` command sets ``CHATNT_DEFER_AUTO_REGISTRATION=1`` before importing the package (see
``bin/chatnt``): registering means importing torch and most of transformers (seconds), which a command
that only prints its help must not wait for, and the command loads models through these classes
directly. ``register_auto_classes()`` registers them at any later time.
"""

import importlib
import os

# Public name -> the module that defines it.
_EXPORTS = {
    "ChatNTConfig": "configuration_chatnt",
    "NucleotideTransformerConfig": "configuration_nucleotide_transformer",
    "FastaRecord": "fasta",
    "iter_fasta": "fasta",
    "parse_fasta_text": "fasta",
    "read_fasta": "fasta",
    "ChatNTForConditionalGeneration": "modeling_chatnt",
    "ChatNTModel": "modeling_chatnt",
    "ChatNTPreTrainedModel": "modeling_chatnt",
    "NucleotideTransformerForMaskedLM": "modeling_nucleotide_transformer",
    "NucleotideTransformerForSequenceClassification": "modeling_nucleotide_transformer",
    "NucleotideTransformerModel": "modeling_nucleotide_transformer",
    "Answer": "inference",
    "answer": "inference",
    "classify": "perplexity_classifier",
    "DEFAULT_SYSTEM_PROMPT": "processing_chatnt",
    "DNA_TOKEN": "configuration_chatnt",
    "ChatNTProcessor": "processing_chatnt",
    "NucleotideTransformerTokenizer": "tokenization_nucleotide_transformer",
    "clean_dna_sequence": "tokenization_nucleotide_transformer",
}
DEFER_REGISTRATION_VARIABLE = "CHATNT_DEFER_AUTO_REGISTRATION"


def lazy_exports(package: str, exports: dict[str, str], namespace: dict):
    """A module ``__getattr__`` (PEP 562) for ``package`` that imports ``exports[name]``, the name of a
    submodule, when ``name`` is first read, and keeps the value in the module's ``namespace``."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{exports[name]}", package), name)
        namespace[name] = value  # later lookups skip __getattr__
        return value

    return __getattr__


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


def register_auto_classes() -> None:
    """Registers ChatNT and the Nucleotide Transformer with ``AutoConfig``, ``AutoModel``,
    ``AutoModelForCausalLM``, ``AutoModelForMaskedLM``, ``AutoModelForSequenceClassification``,
    ``AutoTokenizer`` and ``AutoProcessor`` (what ``import chatnt`` does; calling it again changes nothing)."""
    from transformers import (
        AutoConfig,
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoModelForSequenceClassification,
        AutoProcessor,
        AutoTokenizer,
    )

    from .configuration_chatnt import ChatNTConfig
    from .configuration_nucleotide_transformer import NucleotideTransformerConfig
    from .modeling_chatnt import ChatNTForConditionalGeneration, ChatNTModel
    from .modeling_nucleotide_transformer import (
        NucleotideTransformerForMaskedLM,
        NucleotideTransformerForSequenceClassification,
        NucleotideTransformerModel,
    )
    from .processing_chatnt import ChatNTProcessor
    from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizer

    AutoConfig.register(NucleotideTransformerConfig.model_type, NucleotideTransformerConfig, exist_ok=True)
    AutoConfig.register(ChatNTConfig.model_type, ChatNTConfig, exist_ok=True)
    AutoModel.register(NucleotideTransformerConfig, NucleotideTransformerModel, exist_ok=True)
    AutoModelForMaskedLM.register(NucleotideTransformerConfig, NucleotideTransformerForMaskedLM, exist_ok=True)
    AutoModelForSequenceClassification.register(
        NucleotideTransformerConfig, NucleotideTransformerForSequenceClassification, exist_ok=True
    )
    AutoModel.register(ChatNTConfig, ChatNTModel, exist_ok=True)
    AutoModelForCausalLM.register(ChatNTConfig, ChatNTForConditionalGeneration, exist_ok=True)
    AutoTokenizer.register(NucleotideTransformerConfig, fast_tokenizer_class=NucleotideTransformerTokenizer, exist_ok=True)
    AutoProcessor.register(ChatNTConfig, ChatNTProcessor, exist_ok=True)


if os.environ.get(DEFER_REGISTRATION_VARIABLE) != "1":
    register_auto_classes()

__all__ = sorted([*_EXPORTS, "lazy_exports", "register_auto_classes"])
