"""A tiny long-convolution DNA encoder, written for the tests as remote code.

Its ``forward`` takes ``input_ids`` only (no ``attention_mask``: padding is read as sequence), its convolutions look
both ways along the sequence (as bidirectional long-range DNA models do), so padding after a sequence changes the
states of its last bases, and its learned position table holds ``max_seq_len`` rows, so a longer input fails inside
the encoder.
"""

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithNoAttention

from .configuration_tiny_conv import TinyConvConfig


class TinyConvBlock(nn.Module):
    def __init__(self, config: TinyConvConfig):
        super().__init__()
        self.norm = nn.LayerNorm(config.d_model)
        self.in_proj = nn.Linear(config.d_model, 2 * config.d_model)
        # Depthwise convolution centred on each position: it reads kernel_size // 2 bases on either side.
        self.conv = nn.Conv1d(config.d_model, config.d_model, config.kernel_size, groups=config.d_model,
                              padding=config.kernel_size // 2)
        self.out_proj = nn.Linear(config.d_model, config.d_model)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        value, gate = self.in_proj(self.norm(hidden)).chunk(2, dim=-1)
        mixed = self.conv(value.transpose(1, 2)).transpose(1, 2)
        return hidden + self.out_proj(mixed * torch.sigmoid(gate))


class TinyConvPreTrainedModel(PreTrainedModel):
    config_class = TinyConvConfig
    config: TinyConvConfig
    base_model_prefix = "backbone"


class TinyConvModel(TinyConvPreTrainedModel):
    def __init__(self, config: TinyConvConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.d_model)
        self.positions = nn.Embedding(config.max_seq_len, config.d_model)
        self.layers = nn.ModuleList(TinyConvBlock(config) for _ in range(config.n_layer))
        self.norm = nn.LayerNorm(config.d_model)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings

    def set_input_embeddings(self, value):
        self.embeddings = value

    def forward(self, input_ids: torch.LongTensor, output_hidden_states: bool = False, return_dict: bool = True):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        hidden = self.embeddings(input_ids) + self.positions(positions)
        all_hidden = [hidden]
        for layer in self.layers:
            hidden = layer(hidden)
            all_hidden.append(hidden)
        hidden = self.norm(hidden)
        return BaseModelOutputWithNoAttention(
            last_hidden_state=hidden, hidden_states=tuple(all_hidden) if output_hidden_states else None
        )


TinyConvModel.register_for_auto_class("AutoModel")
