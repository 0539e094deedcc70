"""ChatNT for Hugging Face: conversational DNA/RNA language models.

Importing this package registers the ChatNT and Nucleotide Transformer classes with the transformers
Auto classes, so a saved ChatNT directory loads with ``AutoModelForCausalLM.from_pretrained(path)``
without ``trust_remote_code``.
"""

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
from .fasta import FastaRecord, iter_fasta, parse_fasta_text, read_fasta
from .modeling_chatnt import ChatNTForConditionalGeneration, ChatNTModel, ChatNTPreTrainedModel
from .modeling_nucleotide_transformer import (
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerForSequenceClassification,
    NucleotideTransformerModel,
)
from .processing_chatnt import DEFAULT_SYSTEM_PROMPT, DNA_TOKEN, ChatNTProcessor
from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizer, clean_dna_sequence

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

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "DNA_TOKEN",
    "ChatNTConfig",
    "ChatNTForConditionalGeneration",
    "ChatNTModel",
    "ChatNTPreTrainedModel",
    "ChatNTProcessor",
    "FastaRecord",
    "NucleotideTransformerConfig",
    "NucleotideTransformerForMaskedLM",
    "NucleotideTransformerForSequenceClassification",
    "NucleotideTransformerModel",
    "NucleotideTransformerTokenizer",
    "clean_dna_sequence",
    "iter_fasta",
    "parse_fasta_text",
    "read_fasta",
]
