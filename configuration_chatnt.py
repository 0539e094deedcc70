"""Configuration of ChatNT: a DNA encoder, a projection into the decoder's embedding space, and a causal LM."""

import copy

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from .configuration_nucleotide_transformer import NucleotideTransformerConfig

PROJECTOR_TYPES = ("english_aware_perceiver", "perceiver", "linear")

# The placeholder token of the decoder vocabulary (``dna_token_id``) where DNA vectors go in a prompt.
DNA_TOKEN = "<DNA>"

# Written into every saved config.json: the remote-code entry points, and the text-generation pipeline
# that carries DNA (stock TextGenerationPipeline cannot), so that
# `pipeline("text-generation", model=path, trust_remote_code=True)` builds a ChatNT pipeline.
AUTO_MAP = {
    "AutoConfig": "configuration_chatnt.ChatNTConfig",
    "AutoModel": "modeling_chatnt.ChatNTModel",
    "AutoModelForCausalLM": "modeling_chatnt.ChatNTForConditionalGeneration",
}
CUSTOM_PIPELINES = {
    "text-generation": {
        "impl": "pipeline_chatnt.ChatNTPipeline",
        "pt": ["AutoModelForCausalLM"],
        "tf": [],
        "type": "multimodal",
    }
}


class RemoteCodeEncoderConfig(PreTrainedConfig):
    """The saved config of a remote-code DNA encoder whose code has not run yet.

    Reading a config runs no code; the encoder's own config class (saved in the ChatNT folder) is loaded only when
    the model is built with ``trust_remote_code=True`` (see ``modeling_chatnt.load_remote_dna_config``). Until
    then this holds the saved values, which stay readable (``config.dna_config.d_model``) and are saved unchanged.
    """

    def to_dict(self) -> dict:
        output = super().to_dict()
        output["model_type"] = self.model_type  # the encoder's own type, not this stand-in's
        return output


def is_remote_code_placeholder(dna_config) -> bool:
    # By name: the remote code and the package may each hold a copy of this class.
    return type(dna_config).__name__ == RemoteCodeEncoderConfig.__name__


def dna_config_from_dict(config_dict: dict) -> PreTrainedConfig:
    """Builds the DNA encoder's config: NT v2 (also from a published ESM-format dict), any registered type, or
    a stand-in for a remote-code encoder's config (one with an ``auto_map``), resolved when the model is built."""
    if NucleotideTransformerConfig.is_nt_v2_config_dict(config_dict):
        return NucleotideTransformerConfig(**{k: v for k, v in config_dict.items() if k != "model_type"})
    model_type = config_dict.get("model_type")
    values = {k: v for k, v in config_dict.items() if k != "model_type"}
    if model_type in CONFIG_MAPPING:
        return CONFIG_MAPPING[model_type](**values)
    if "AutoConfig" in (config_dict.get("auto_map") or {}):
        placeholder = RemoteCodeEncoderConfig(**values)
        placeholder.model_type = model_type
        return placeholder
    raise ValueError(
        f"dna_config has model_type {model_type!r}, which transformers does not know, and no auto_map naming its "
        "code. Pass a config object (for remote-code encoders: AutoConfig.from_pretrained(path, "
        "trust_remote_code=True)) instead of a dict."
    )


class ChatNTConfig(PreTrainedConfig):
    r"""
    Configuration of [`ChatNTModel`] and [`ChatNTForConditionalGeneration`].

    Args:
        dna_config: the DNA encoder's config. Default: Nucleotide Transformer v2 (500M architecture).
            Any config whose model ``AutoModel.from_config`` builds and that returns ``last_hidden_state``
            works (ESM, BERT, remote-code encoders).
        text_config: the causal LM's config (``text_config`` is the name generation and TRL look for).
            Default: LLaMA (Vicuna-7B shape, as in the paper).
        projector_type: ``"english_aware_perceiver"`` (ChatNT; latents also attend to the question),
            ``"perceiver"`` (no English stream) or ``"linear"`` (one vector per DNA token, as RNA-GPT).
        num_latents: K, the vectors each sequence becomes with a Perceiver projection (64 in the paper).
        projector_num_layers: Perceiver depth (3 in the paper).
        projector_num_heads: attention heads of the Perceiver; default: the decoder's head count.
        projector_intermediate_size: width of the Perceiver's GELU MLP; default: the decoder's FFN width.
        projector_layer_norm_eps: epsilon of the Perceiver's LayerNorms.
        english_vocab_size: rows of the Perceiver's own English token embedding table; default: the
            decoder's vocabulary size (it embeds the decoder tokenizer's ids).
        english_embedding_size: width of that table. Default (None): the decoder width, as published.
            A smaller width adds a linear map up to the decoder width, so small models need not store a
            vocabulary x width table (49k x 576 = 28 M parameters with SmolLM2).
        dna_encoder_interface: how the DNA encoder is called, ``{"hidden_size", "accepts_attention_mask",
            "max_positions"}`` (see ``dna_encoders``). Declare the traits an encoder's config does not state (e.g.
            ``{"max_positions": 1026}``); the rest are read from the encoder when the model is built, and the
            complete interface is saved.
        dna_token: the placeholder string in prompts.
        dna_token_id: its id in the decoder vocabulary. Left unset, a new id is appended to the decoder
            vocabulary (``text_config.vocab_size`` grows by one), so the id is always a valid row.
        keep_dna_token: as the published ChatNT, each sequence's K vectors are followed by the ``<DNA>``
            token itself (its own embedding), and the English-aware Perceiver reads that token with the
            question. The processor then writes K + 1 ``<DNA>`` tokens per sequence (its ``keep_dna_token``).
        dna_token_clamped: as the published ChatNT, the ``<DNA>`` id equals the decoder's vocabulary size and
            has no embedding row of its own: it reads the last row of the decoder's and the Perceiver's tables
            (the published code's embedding lookup clamps out-of-range ids), and the LM head never predicts it.
        text_final_norm_eps: epsilon of the decoder's final RMSNorm when it differs from its layers' (the
            published decoder: 1e-5 at the end, 1e-6 in the layers); ``None`` keeps the decoder's own.
        max_dna_tokens: longest tokenized DNA sequence accepted, specials included (2048 ~ 12 kb for NT v2).
            Default: the encoder's position limit, at most 2048 (set when the model is built).
        train_dna_encoder / train_projector / train_text_model: which parts are trainable after
            construction; the paper trains the encoder and the projection and freezes the decoder.
        text_model_reference: where the decoder comes from, ``{"name_or_path", "sha256", "vocab_size"}``
            (set by ``from_encoder_decoder_pretrained``; ``vocab_size`` is the decoder's own, before new
            tokens). It lets a checkpoint omit the frozen decoder and still be reassembled safely.
        text_model_included: whether the checkpoint's weights include the decoder (False for checkpoints
            saved with ``save_pretrained(..., include_text_model=False)``).

    Example:
        >>> from chatnt import ChatNTConfig, NucleotideTransformerConfig
        >>> from transformers import LlamaConfig
        >>> config = ChatNTConfig(
        ...     dna_config=NucleotideTransformerConfig(hidden_size=32, num_hidden_layers=2,
        ...                                            num_attention_heads=4, intermediate_size=64),
        ...     text_config=LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                             intermediate_size=64, vocab_size=100),
        ...     num_latents=4)
        >>> config.dna_token_id, config.text_config.vocab_size
        (100, 101)
    """

    model_type = "chatnt"
    sub_configs_defaults = {
        # Named by class: in remote code the NT type is not in transformers' registry. Dicts of other
        # encoder types are resolved in __post_init__ before this spec is consulted.
        "dna_config": SubConfigSpec(config_class=NucleotideTransformerConfig),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama"),
    }

    dna_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    projector_type: str = "english_aware_perceiver"
    num_latents: int = 64
    projector_num_layers: int = 3
    projector_num_heads: int | None = None
    projector_intermediate_size: int | None = None
    projector_layer_norm_eps: float = 1e-5
    english_vocab_size: int | None = None
    english_embedding_size: int | None = None
    dna_encoder_interface: dict | None = None
    dna_token: str = "<DNA>"
    dna_token_id: int | None = None
    keep_dna_token: bool = False
    dna_token_clamped: bool = False
    text_final_norm_eps: float | None = None
    max_dna_tokens: int | None = None
    train_dna_encoder: bool = True
    train_projector: bool = True
    train_text_model: bool = False
    text_model_reference: dict | None = None
    text_model_included: bool = True
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        # Checkpoints of 2026-11/12 name their Perceiver layer; only the published one is implemented now.
        layer = kwargs.pop("perceiver_layer", "published")
        if layer != "published":
            raise ValueError(
                f"This checkpoint's Perceiver layer is {layer!r}, a layer of this project's checkpoints before "
                "2026-12-05 that chatnt no longer implements; retrain it with python -m chatnt.training.chatnt_sft."
            )
        # The NT config is not in transformers' registry when loaded as remote code, so both sub-configs
        # are resolved here before the generic sub-config handling sees them.
        if self.dna_config is None:
            self.dna_config = NucleotideTransformerConfig()
        elif isinstance(self.dna_config, dict):
            self.dna_config = dna_config_from_dict(self.dna_config)
        else:  # a copy: the generic sub-config handling below rewrites fields of the object it holds
            self.dna_config = copy.deepcopy(self.dna_config)
        if self.text_config is None:
            self.text_config = CONFIG_MAPPING["llama"]()
        elif not isinstance(self.text_config, dict):
            self.text_config = copy.deepcopy(self.text_config)
        else:
            text_dict = dict(self.text_config)
            self.text_config = CONFIG_MAPPING[text_dict.pop("model_type", "llama")](**text_dict)
        super().__post_init__(**kwargs)

        if self.projector_type not in PROJECTOR_TYPES:
            raise ValueError(f"projector_type must be one of {PROJECTOR_TYPES}, got {self.projector_type!r}.")
        if self.keep_dna_token and self.projector_type == "linear":
            raise ValueError("keep_dna_token needs a Perceiver projection (K vectors per sequence), not 'linear'.")
        text = self.text_config
        if self.dna_token_clamped:
            if self.dna_token_id is None:
                self.dna_token_id = text.vocab_size
            if self.dna_token_id != text.vocab_size:
                raise ValueError(
                    f"dna_token_clamped means the <DNA> id equals the decoder vocabulary size ({text.vocab_size}), "
                    f"got dna_token_id={self.dna_token_id}."
                )
        elif self.dna_token_id is None:
            self.dna_token_id = text.vocab_size
            text.vocab_size += 1
        if not self.dna_token_clamped and not 0 <= self.dna_token_id < text.vocab_size:
            raise ValueError(
                f"dna_token_id {self.dna_token_id} is outside the decoder vocabulary (size {text.vocab_size}). "
                "Add the <DNA> token to the tokenizer and resize the decoder embeddings first, or leave "
                "dna_token_id unset to append it."
            )
        self.projector_num_heads = self.projector_num_heads or text.num_attention_heads
        self.projector_intermediate_size = self.projector_intermediate_size or text.intermediate_size
        self.english_vocab_size = self.english_vocab_size or text.vocab_size
        if self.projector_type != "linear" and text.hidden_size % self.projector_num_heads:
            raise ValueError(
                f"The Perceiver works at the decoder width ({text.hidden_size}), which must be divisible by "
                f"projector_num_heads ({self.projector_num_heads})."
            )
        if getattr(text, "tie_word_embeddings", False):
            self.tie_word_embeddings = True
        self.auto_map = {**AUTO_MAP, **(getattr(self, "auto_map", None) or {})}
        self.custom_pipelines = {**CUSTOM_PIPELINES, **(getattr(self, "custom_pipelines", None) or {})}

    def to_dict(self) -> dict:
        output = super().to_dict()
        # Where the parts were read from is a path on the machine that built the model: it is not saved.
        for name in ("dna_config", "text_config"):
            output[name].pop("_name_or_path", None)
        # A remote-code encoder's code is saved in the ChatNT folder itself (see dna_encoders.copy_remote_code),
        # so its auto_map entries name files there, not the repository it came from ("owner/repo--file.Class").
        auto_map = output["dna_config"].get("auto_map")
        if auto_map:
            output["dna_config"]["auto_map"] = {key: value.split("--")[-1] for key, value in auto_map.items()}
        return output

    @property
    def dna_tokens_per_sequence(self) -> int | None:
        """Placeholder tokens one sequence fills in the prompt: K, or None for one per DNA token (linear)."""
        return None if self.projector_type == "linear" else self.num_latents


ChatNTConfig.register_for_auto_class()

__all__ = ["DNA_TOKEN", "ChatNTConfig", "PROJECTOR_TYPES", "RemoteCodeEncoderConfig", "is_remote_code_placeholder"]
