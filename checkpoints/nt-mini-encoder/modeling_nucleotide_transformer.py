"""Nucleotide Transformer v2 (NT v2) DNA encoder in PyTorch.

Module and parameter names follow the ESM layout of the published NT v2 checkpoints
(``esm.encoder.layer.0.attention.self.query.weight``, ``...intermediate.dense.weight``, ...), so
``NucleotideTransformerForMaskedLM.from_pretrained("InstaDeepAI/nucleotide-transformer-v2-500m-multi-species")``
loads the published weights without renaming when a user is online. What stock ESM lacks and NT v2
needs: a SwiGLU feed-forward (``dense(h -> 2*ffn)``, split, ``silu(a) * b``) and ``add_bias_fnn``.
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput, SequenceClassifierOutput

from .configuration_nucleotide_transformer import NucleotideTransformerConfig


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class NucleotideTransformerRotaryEmbedding(nn.Module):
    """Rotary position embedding over positions 0..L-1, as in the published NT v2 (ESM) code."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.base = config.rope_theta
        # Not persistent: it is a function of the config, and published checkpoints store one copy per
        # layer under another name, which loading ignores.
        self.register_buffer("inv_freq", self.compute_inv_freq(), persistent=False)

    def compute_inv_freq(self) -> torch.Tensor:
        return 1.0 / (self.base ** (torch.arange(0, self.head_dim, 2, dtype=torch.float) / self.head_dim))

    def forward(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(length, device=device, dtype=torch.float)
        freqs = torch.outer(positions, self.inv_freq.to(device))
        angles = torch.cat((freqs, freqs), dim=-1)
        return angles.cos(), angles.sin()


class NucleotideTransformerEmbeddings(nn.Module):
    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.layer_norm = (
            nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if config.emb_layer_norm_before else None
        )

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None) -> torch.Tensor:
        embeddings = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        if self.layer_norm is not None:
            embeddings = self.layer_norm(embeddings)
        if attention_mask is not None:
            # As in the published code: padded positions enter the encoder as zero vectors.
            embeddings = embeddings * attention_mask.unsqueeze(-1).to(embeddings.dtype)
        return embeddings


class NucleotideTransformerSelfAttention(nn.Module):
    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = config.attention_probs_dropout_prob

    def forward(self, hidden_states, attention_mask, rotary) -> torch.Tensor:
        batch, length, _ = hidden_states.shape

        def split_heads(x):
            return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

        # ESM scales the query before the rotation; the order matters with rotary embeddings.
        query = split_heads(self.query(hidden_states)) * self.head_dim**-0.5
        key = split_heads(self.key(hidden_states))
        value = split_heads(self.value(hidden_states))
        cos, sin = (t.to(query.dtype) for t in rotary)
        query = query * cos + rotate_half(query) * sin
        key = key * cos + rotate_half(key) * sin
        # A boolean mask keeps masking exact in fp16/bf16 (no large negative constant to overflow).
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_mask, dropout_p=self.dropout if self.training else 0.0, scale=1.0
        )
        return context.transpose(1, 2).reshape(batch, length, -1)


class NucleotideTransformerSelfOutput(nn.Module):
    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return residual + self.dropout(self.dense(hidden_states))


class NucleotideTransformerAttention(nn.Module):
    """Pre-LayerNorm self-attention block with its residual connection."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.self = NucleotideTransformerSelfAttention(config)
        self.output = NucleotideTransformerSelfOutput(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, attention_mask, rotary):
        return self.output(self.self(self.LayerNorm(hidden_states), attention_mask, rotary), hidden_states)


class NucleotideTransformerIntermediate(nn.Module):
    """First half of the SwiGLU feed-forward: ``silu(a) * b`` from one dense layer twice as wide."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=config.add_bias_fnn)

    def forward(self, hidden_states):
        gate, value = self.dense(hidden_states).chunk(2, dim=-1)
        return F.silu(gate) * value


class NucleotideTransformerOutput(nn.Module):
    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.add_bias_fnn)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return residual + self.dropout(self.dense(hidden_states))


class NucleotideTransformerLayer(GradientCheckpointingLayer):
    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.attention = NucleotideTransformerAttention(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = NucleotideTransformerIntermediate(config)
        self.output = NucleotideTransformerOutput(config)

    def forward(self, hidden_states, attention_mask, rotary):
        hidden_states = self.attention(hidden_states, attention_mask, rotary)
        return self.output(self.intermediate(self.LayerNorm(hidden_states)), hidden_states)


class NucleotideTransformerEncoder(nn.Module):
    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.layer = nn.ModuleList(NucleotideTransformerLayer(config) for _ in range(config.num_hidden_layers))
        self.emb_layer_norm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)


class NucleotideTransformerPreTrainedModel(PreTrainedModel):
    config_class = NucleotideTransformerConfig
    config: NucleotideTransformerConfig
    base_model_prefix = "esm"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["NucleotideTransformerLayer"]
    # Published checkpoints carry ESM parts that NT v2 never uses.
    _keys_to_ignore_on_load_unexpected = [r"rotary_embeddings\.inv_freq", r"contact_head\.", r"pooler\."]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, NucleotideTransformerRotaryEmbedding):
            init.copy_(module.inv_freq, module.compute_inv_freq())
        elif isinstance(module, NucleotideTransformerLMHead):
            init.zeros_(module.bias)


class NucleotideTransformerModel(NucleotideTransformerPreTrainedModel):
    """The NT v2 encoder: 6-mer token ids in, one hidden vector per token out.

    Example:
        >>> from chatnt import NucleotideTransformerConfig, NucleotideTransformerModel, NucleotideTransformerTokenizer
        >>> tokenizer = NucleotideTransformerTokenizer()
        >>> encoder = NucleotideTransformerModel(NucleotideTransformerConfig(
        ...     hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128))
        >>> batch = tokenizer(["ACGTACGTAAN", "TTGACA"], padding=True, return_tensors="pt")
        >>> encoder(**batch).last_hidden_state.shape
        torch.Size([2, 7, 64])
    """

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__(config)
        self.embeddings = NucleotideTransformerEmbeddings(config)
        self.rotary_embeddings = NucleotideTransformerRotaryEmbedding(config)
        self.encoder = NucleotideTransformerEncoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds to the Nucleotide Transformer.")
        length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        if length > self.config.max_position_embeddings:
            raise ValueError(
                f"DNA input has {length} tokens but this encoder accepts at most "
                f"{self.config.max_position_embeddings} (max_position_embeddings). Shorten or split the sequence."
            )
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        hidden_states = self.embeddings(input_ids, inputs_embeds, attention_mask)
        key_mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        rotary = self.rotary_embeddings(length, hidden_states.device)

        all_hidden_states = (hidden_states,) if output_hidden_states else None
        for layer in self.encoder.layer:
            hidden_states = layer(hidden_states, key_mask, rotary)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
        hidden_states = self.encoder.emb_layer_norm_after(hidden_states)
        if output_hidden_states:
            # As in ESM, the last entry is the normalised output.
            all_hidden_states = all_hidden_states[:-1] + (hidden_states,)
        return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden_states)


class NucleotideTransformerLMHead(nn.Module):
    """Masked-LM head of NT v2 / ESM: dense, GELU, LayerNorm, then a decoder with a separate bias."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states):
        hidden_states = self.layer_norm(F.gelu(self.dense(hidden_states)))
        return self.decoder(hidden_states) + self.bias


class NucleotideTransformerForMaskedLM(NucleotideTransformerPreTrainedModel):
    """NT v2 with its masked-LM head, for encoder pre-training (``esm`` + ``lm_head``, as published)."""

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__(config)
        self.esm = NucleotideTransformerModel(config)
        self.lm_head = NucleotideTransformerLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings):
        self.lm_head.decoder = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MaskedLMOutput:
        outputs = self.esm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
        )
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]).float(), labels.view(-1), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


class NucleotideTransformerForSequenceClassification(NucleotideTransformerPreTrainedModel):
    """NT v2 with a linear head on the mean of its token embeddings (the probe of the NT paper's
    downstream tasks), for single-task baselines.

    ``config.problem_type`` picks the loss as in transformers' sequence classifiers:
    ``"single_label_classification"`` (cross-entropy; the default when ``num_labels > 1``),
    ``"multi_label_classification"`` (binary cross-entropy per label) or ``"regression"`` (mean squared
    error; the default when ``num_labels == 1``).
    """

    def __init__(self, config: NucleotideTransformerConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.esm = NucleotideTransformerModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        outputs = self.esm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
        )
        hidden_states = outputs.last_hidden_state
        if attention_mask is None:
            pooled = hidden_states.mean(dim=1)
        else:
            # Padding must not dilute the mean: average over the real tokens only.
            weights = attention_mask.to(hidden_states.dtype).unsqueeze(-1)
            pooled = (hidden_states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        logits = self.classifier(pooled)
        loss = None
        if labels is not None:
            problem_type = self.config.problem_type or (
                "regression" if self.num_labels == 1 else "single_label_classification"
            )
            if problem_type == "regression":
                loss = F.mse_loss(logits.squeeze(-1).float(), labels.float().view(-1))
            elif problem_type == "single_label_classification":
                loss = F.cross_entropy(logits.float(), labels.view(-1).long())
            elif problem_type == "multi_label_classification":
                loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
            else:
                raise ValueError(
                    f"Unknown problem_type {problem_type!r}; use regression, single_label_classification "
                    "or multi_label_classification."
                )
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


NucleotideTransformerModel.register_for_auto_class("AutoModel")
NucleotideTransformerForMaskedLM.register_for_auto_class("AutoModelForMaskedLM")
NucleotideTransformerForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = [
    "NucleotideTransformerForMaskedLM",
    "NucleotideTransformerForSequenceClassification",
    "NucleotideTransformerModel",
    "NucleotideTransformerPreTrainedModel",
]
