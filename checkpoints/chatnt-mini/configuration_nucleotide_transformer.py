"""Configuration of the Nucleotide Transformer v2 (NT v2) DNA encoder.

The field names are those of the ESM configuration format that the published NT v2 checkpoints use
(``add_bias_fnn``, ``position_embedding_type="rotary"``, ``emb_layer_norm_before``, ...), so a
published ``config.json`` loads into this class as it is.
"""

from transformers import PreTrainedConfig


class NucleotideTransformerConfig(PreTrainedConfig):
    r"""
    Configuration of a [`NucleotideTransformerModel`]. The defaults give the NT v2 500M architecture
    used as ChatNT's DNA encoder in the paper (29 layers, hidden 1024, 16 heads, SwiGLU FFN 4096,
    rotary positions, no FFN bias).

    Args:
        vocab_size: 4107 for the 6-mer vocabulary (6 special tokens, 4096 6-mers, A T C G N).
        hidden_size: width of the residual stream.
        num_hidden_layers: number of pre-LayerNorm transformer blocks.
        num_attention_heads: attention heads per block.
        intermediate_size: width of the SwiGLU hidden layer (the first dense layer is twice as wide).
        hidden_dropout_prob / attention_probs_dropout_prob: dropout rates (0 in NT v2).
        max_position_embeddings: longest input in tokens, ``<cls>`` included (2050 in NT v2).
        layer_norm_eps: LayerNorm epsilon (1e-5 in the JAX reference code).
        position_embedding_type: only ``"rotary"`` is supported (NT v2 has no learned positions).
        rope_theta: base of the rotary frequencies.
        add_bias_fnn: whether the FFN dense layers carry a bias (``False`` in NT v2).
        emb_layer_norm_before: LayerNorm right after the token embedding (``False`` in NT v2).
        token_dropout: ESM's mask-token rescaling; accepted for compatibility, must be ``False``.
        pad_token_id / mask_token_id: ids of ``<pad>`` and ``<mask>`` (1 and 2).

    Example:
        >>> from chatnt import NucleotideTransformerConfig, NucleotideTransformerModel
        >>> config = NucleotideTransformerConfig(hidden_size=64, num_hidden_layers=2,
        ...                                      num_attention_heads=4, intermediate_size=128)
        >>> encoder = NucleotideTransformerModel(config)
    """

    model_type = "nucleotide_transformer"

    vocab_size: int = 4107
    hidden_size: int = 1024
    num_hidden_layers: int = 29
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 2050
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5
    position_embedding_type: str = "rotary"
    rope_theta: float = 10000.0
    add_bias_fnn: bool = False
    emb_layer_norm_before: bool = False
    token_dropout: bool = False
    pad_token_id: int = 1
    mask_token_id: int = 2
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        if self.position_embedding_type != "rotary":
            raise ValueError(
                f"NucleotideTransformerConfig supports position_embedding_type='rotary' only (NT v2), got "
                f"{self.position_embedding_type!r}. For an encoder with learned positions (NT v1, ESM), use "
                "transformers' EsmConfig as the dna_config instead."
            )
        if self.token_dropout:
            raise ValueError("token_dropout=True (ESM-2 mask rescaling) is not part of NT v2; set it to False.")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})."
            )
        # Keys of the published ESM-format config.json that have no meaning for NT v2 are dropped here
        # rather than stored, so that re-saved configs stay clean.
        for unused in ("is_folding_model", "esmfold_config", "vocab_list", "use_cache", "architectures_esm"):
            kwargs.pop(unused, None)
        super().__post_init__(**kwargs)

    @classmethod
    def is_nt_v2_config_dict(cls, config_dict: dict) -> bool:
        """Whether an ESM-format config dict describes an NT v2 checkpoint (SwiGLU FFN, rotary).

        Stock ``EsmModel`` cannot hold NT v2 weights (it has neither the gated FFN nor
        ``add_bias_fnn``), so such configs must be read with this class.
        """
        return config_dict.get("model_type") in (cls.model_type, "esm") and "add_bias_fnn" in config_dict


NucleotideTransformerConfig.register_for_auto_class()

__all__ = ["NucleotideTransformerConfig"]
