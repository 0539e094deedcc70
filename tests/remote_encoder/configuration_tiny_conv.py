"""Config of a tiny long-convolution DNA encoder, written for the tests as remote code.

It has the traits of real remote-code DNA encoders on the Hub that ChatNT must adapt to: its width is called
``d_model`` (not ``hidden_size``) and its position limit ``max_seq_len`` (not ``max_position_embeddings``).
"""

from transformers import PreTrainedConfig


class TinyConvConfig(PreTrainedConfig):
    model_type = "tiny_conv_dna"

    vocab_size: int = 12
    d_model: int = 24
    n_layer: int = 2
    kernel_size: int = 9
    max_seq_len: int = 66
    pad_token_id: int | None = 4
    initializer_range: float = 0.02


TinyConvConfig.register_for_auto_class()
