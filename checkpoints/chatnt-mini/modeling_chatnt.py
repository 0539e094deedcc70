"""ChatNT: DNA encoder -> projection -> frozen causal LM, in the structure of transformers' LLaVA.

Data flow of one forward pass:
1. Each DNA sequence is encoded on its own by the DNA encoder (``get_dna_features``).
2. The projection turns the encoder states into vectors at the decoder width: K latents per sequence
   (Perceiver, English-aware or plain) or one vector per DNA token (linear, as RNA-GPT).
3. Those vectors replace the ``<DNA>`` placeholder tokens of the prompt (``get_placeholder_mask`` +
   ``masked_scatter``); the processor has already expanded each ``<DNA>`` to the right count.
4. The causal LM reads the mixed embeddings; ``ChatNTForConditionalGeneration`` adds the LM head, the
   loss on ``labels`` and generation, where DNA is encoded once, at prefill, and the KV cache does
   the rest.
"""

import json
import os
import re
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from packaging import version
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.configuration_utils import PreTrainedConfig
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.dynamic_module_utils import get_class_from_dynamic_module, get_relative_imports
from transformers.utils import cached_file, logging
from transformers.utils.hub import hf_api
from transformers.utils.deprecation import deprecate_kwarg

from .calibration import CALIBRATION_FILE, PlattCalibrator
from .configuration_chatnt import DNA_TOKEN, ChatNTConfig, is_remote_code_placeholder
from .configuration_nucleotide_transformer import NucleotideTransformerConfig
from .decoder_reference import (
    NEW_TOKEN_ROWS_FILE,
    is_verified_decoder,
    load_new_token_rows,
    load_trained_parts,
    remember_verified_decoder,
    save_new_token_rows,
    text_model_checksum,
    trained_parts_state_dict,
    weight_files_identity,
)
from .decoder_sources import decoder_location, describe, parse_source, reference_source, source_of
from .dna_encoders import copy_remote_code, encoder_states, read_encoder_interface
from .modeling_nucleotide_transformer import NucleotideTransformerModel
from .model_folders import first_line, is_local_model_folder
from .processing_chatnt import ChatNTProcessor
from .tokenization_nucleotide_transformer import NucleotideTransformerTokenizer

logger = logging.get_logger(__name__)

# The remote code's one version requirement: transformers 5.24 renamed the decoder cache argument and output
# (past_key_values -> cache), and forward, generate and the outputs here use the new name.
MIN_TRANSFORMERS_VERSION = "5.24.0"
if version.parse(transformers.__version__) < version.parse(MIN_TRANSFORMERS_VERSION):
    raise ImportError(
        f"ChatNT needs transformers>={MIN_TRANSFORMERS_VERSION}, found {transformers.__version__}: "
        "pip install -U 'transformers>=5.24,<6'."
    )

# from_pretrained arguments that say where files are, passed on when fetching the trained parts.
HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only", "subfolder", "force_download")

# Weight files in pickle formats, which ChatNT never loads: unpickling can run arbitrary code.
PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# Pickles a transformers Trainer writes next to safetensors weights: training state, not weights.
_TRAINER_STATE_FILES = re.compile(r"^(training_args\.bin|optimizer\.pt|scheduler\.pt|scaler\.pt|rng_state.*\.pth)$")


def check_checkpoint_files(
    pretrained_model_name_or_path, subfolder: str = "", text_model_included: bool | None = None
) -> bool:
    """Refuses, with a one-line error, a local model folder that ChatNT cannot load as it is.

    Without this check transformers builds a default-sized model when ``config.json`` is missing (no
    error, gigabytes of memory), reads ``pytorch_model.bin`` by unpickling it, and reports a missing
    weights file as a malformed Hub id.

    Args:
        pretrained_model_name_or_path: a local folder, or a Hub id (``owner/name``), which is not checked.
        subfolder: where the model lies inside the folder.
        text_model_included: whether the weights hold the decoder, when the caller passes its own config
            (``config.json`` is then not needed); ``None`` reads it from ``config.json``.

    Returns:
        True for a loadable local folder, False for a Hub id (left to transformers to resolve).

    Raises:
        FileNotFoundError: the folder does not exist (and is not shaped like a Hub id), or lacks
            ``config.json`` or a weights file.
        ValueError: the path is a file, ``config.json`` is not JSON, or the weights are only in a pickle
            format (``.bin``, ``.pt``, ...): only safetensors are loaded.
    """
    path = os.fspath(pretrained_model_name_or_path)
    if not is_local_model_folder(path, "config.json and model.safetensors", "model.save_pretrained"):
        return False
    folder = os.path.join(path, subfolder)
    config_file = os.path.join(folder, "config.json")
    if text_model_included is None:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(
                f"{path!r} has no config.json, so it is not a saved ChatNT model. Pass the folder written by "
                "model.save_pretrained (e.g. checkpoints/chatnt-mini), or copy the whole model folder again."
            )
        try:
            with open(config_file, encoding="utf-8") as handle:
                text_model_included = json.load(handle).get("text_model_included", True)
        except (ValueError, AttributeError) as error:
            raise ValueError(
                f"{config_file!r} is not a JSON object ({error}): the file is damaged; copy the model folder again."
            ) from None
    files = set(os.listdir(folder))
    if text_model_included:
        needed = ["model.safetensors"] if "model.safetensors.index.json" not in files else []
    else:  # saved without its decoder: the trained parts and the new tokens' embedding rows
        needed = ["model.safetensors", NEW_TOKEN_ROWS_FILE]
    missing = [name for name in needed if name not in files]
    if not missing:
        return True
    pickles = sorted(
        name for name in files if name.endswith(PICKLE_WEIGHT_SUFFIXES) and not _TRAINER_STATE_FILES.match(name)
    )
    if pickles and "model.safetensors" in missing:
        raise ValueError(
            f"{path!r} holds its weights only as {', '.join(pickles)} (pickle), and ChatNT loads only safetensors "
            "weights: unpickling a file can run any code in it. Where you trust the file, load it with the code that "
            "wrote it and re-save it with save_pretrained, which writes model.safetensors."
        )
    raise FileNotFoundError(
        f"{path!r} has no {' or '.join(missing)}: the model weights are missing. Copy the whole folder written by "
        "save_pretrained again (config.json and the .safetensors files travel together)."
    )


def _refuse_pickle_loading(kwargs: dict) -> None:
    """Makes transformers load safetensors only, and refuses a request for anything else."""
    if kwargs.get("use_safetensors") is False:
        raise ValueError(
            "use_safetensors=False is refused: ChatNT loads only safetensors weights (unpickling a .bin or .pt "
            "file can run any code in it). Leave use_safetensors out."
        )
    kwargs["use_safetensors"] = True


class ChatNTPerceiverCrossAttention(nn.Module):
    """Latents attend to ``[stream; latents]`` (Flamingo style), queries pre-LayerNorm'ed, with a residual.

    As in the published layer, keys and values are the stream as it is and the latents as they entered the
    resampler layer.
    """

    def __init__(self, hidden_size: int, num_heads: int, eps: float):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.latents_norm = nn.LayerNorm(hidden_size, eps=eps)
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.k_proj = nn.Linear(hidden_size, hidden_size)
        self.v_proj = nn.Linear(hidden_size, hidden_size)
        self.o_proj = nn.Linear(hidden_size, hidden_size)

    def forward(
        self, latents: torch.Tensor, stream: torch.Tensor, stream_mask: torch.Tensor, layer_input: torch.Tensor
    ) -> torch.Tensor:
        batch, num_latents, hidden = latents.shape
        queries = self.latents_norm(latents)
        keys_values = torch.cat([stream, layer_input], dim=1)
        # Padding of the stream is masked; the latents themselves are always visible. A boolean mask
        # keeps this exact in fp16/bf16.
        mask = torch.cat([stream_mask.bool(), stream_mask.new_ones(batch, num_latents, dtype=torch.bool)], dim=1)

        def split_heads(x):
            return x.view(batch, -1, self.num_heads, self.head_dim).transpose(1, 2)

        attended = F.scaled_dot_product_attention(
            split_heads(self.q_proj(queries)),
            split_heads(self.k_proj(keys_values)),
            split_heads(self.v_proj(keys_values)),
            attn_mask=mask[:, None, None, :],
        )
        return latents + self.o_proj(attended.transpose(1, 2).reshape(batch, num_latents, hidden))


class ChatNTPerceiverMLP(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int, eps: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size, eps=eps)
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return latents + self.fc2(F.gelu(self.fc1(self.norm(latents))))


class ChatNTPerceiverLayer(nn.Module):
    """One resampler layer of the published ChatNT: attend to the DNA, then (English-aware) to the question,
    then an MLP. Both attentions take their key/value latents from the layer's input, so the English attention
    does not see what the DNA attention just added; only its queries do."""

    def __init__(self, config: ChatNTConfig, english_aware: bool):
        super().__init__()
        hidden, heads, eps = config.text_config.hidden_size, config.projector_num_heads, config.projector_layer_norm_eps
        self.dna_attention = ChatNTPerceiverCrossAttention(hidden, heads, eps)
        self.english_attention = ChatNTPerceiverCrossAttention(hidden, heads, eps) if english_aware else None
        self.mlp = ChatNTPerceiverMLP(hidden, config.projector_intermediate_size, eps)

    def forward(self, latents, dna_states, dna_mask, english_states=None, english_mask=None):
        layer_input = latents
        latents = self.dna_attention(latents, dna_states, dna_mask, layer_input)
        if self.english_attention is not None:
            latents = self.english_attention(latents, english_states, english_mask, layer_input)
        return self.mlp(latents)


def build_english_embeddings(config: ChatNTConfig) -> nn.Module:
    """The Perceiver's own table for the question's tokens: full width, or narrow plus a linear map up."""
    hidden, width = config.text_config.hidden_size, config.english_embedding_size
    if width is None or width == hidden:
        return nn.Embedding(config.english_vocab_size, hidden)
    return nn.Sequential(nn.Embedding(config.english_vocab_size, width), nn.Linear(width, hidden, bias=False))


class ChatNTPerceiverResampler(nn.Module):
    """Resamples a DNA sequence's encoder states into K vectors at the decoder width.

    The English-aware variant (ChatNT) also lets the latents read the question, embedded by the
    resampler's own embedding table, so the same DNA can be summarised differently per question.
    """

    def __init__(self, config: ChatNTConfig, english_aware: bool):
        super().__init__()
        hidden = config.text_config.hidden_size
        self.english_aware = english_aware
        self.dna_projection = nn.Linear(config.dna_encoder_interface["hidden_size"], hidden)
        self.latents = nn.Parameter(torch.empty(config.num_latents, hidden))
        self.english_embeddings = build_english_embeddings(config) if english_aware else None
        self.layers = nn.ModuleList(
            ChatNTPerceiverLayer(config, english_aware) for _ in range(config.projector_num_layers)
        )

    def forward(self, dna_states, dna_mask, english_input_ids=None, english_mask=None) -> torch.Tensor:
        """(sequences, length, dna hidden) -> (sequences, K, decoder hidden)."""
        dna_states = self.dna_projection(dna_states)
        english_states = None
        if self.english_aware:
            if english_input_ids is None:
                raise ValueError("The English-aware Perceiver needs the question's token ids (english_input_ids).")
            english_states = self.english_embeddings(english_input_ids)
        latents = self.latents.to(dna_states.dtype).unsqueeze(0).expand(dna_states.shape[0], -1, -1)
        for layer in self.layers:
            latents = layer(latents, dna_states, dna_mask, english_states, english_mask)
        return latents


class ChatNTLinearProjector(nn.Module):
    """One decoder-width vector per DNA token (RNA-GPT's projection)."""

    def __init__(self, config: ChatNTConfig):
        super().__init__()
        self.dna_projection = nn.Linear(config.dna_encoder_interface["hidden_size"], config.text_config.hidden_size)

    def forward(self, dna_states, dna_mask, english_input_ids=None, english_mask=None) -> torch.Tensor:
        return self.dna_projection(dna_states)


def build_projector(config: ChatNTConfig) -> nn.Module:
    if config.projector_type == "linear":
        return ChatNTLinearProjector(config)
    return ChatNTPerceiverResampler(config, english_aware=config.projector_type == "english_aware_perceiver")


def build_dna_encoder(dna_config) -> nn.Module:
    # Compared by model_type, not class: remote code may load the config and the model from two copies
    # of the same file.
    if dna_config.model_type == NucleotideTransformerConfig.model_type:
        return NucleotideTransformerModel(dna_config)
    if is_remote_code_placeholder(dna_config):
        raise ValueError(
            f"The DNA encoder ({dna_config.model_type!r}) is remote code that has not been loaded: load the model "
            "with from_pretrained(path, trust_remote_code=True) (command line: --trust-remote-code)."
        )
    # Any other encoder; a remote-code config was loaded from the folder its code lies in (its _name_or_path).
    return AutoModel.from_config(dna_config, trust_remote_code=bool(getattr(dna_config, "auto_map", None)))


def load_remote_dna_config(config: ChatNTConfig, folder, trust_remote_code: bool | None, hub_kwargs: dict) -> None:
    """Replaces a saved remote-code encoder config (a stand-in) by the encoder's own config class, whose code
    lies in the ChatNT folder, once the user allowed that code to run.

    Raises:
        ValueError: ``trust_remote_code`` was not given, naming the encoder's code and the flag.
    """
    dna_config = config.dna_config
    if not is_remote_code_placeholder(dna_config):
        return
    auto_map = dna_config.auto_map
    if not trust_remote_code:
        raise ValueError(
            f"{os.fspath(folder)!r} holds a DNA encoder whose code is saved with it ({auto_map.get('AutoModel')}); "
            "pass trust_remote_code=True to run that code (command line: --trust-remote-code)."
        )
    config_class = get_class_from_dynamic_module(auto_map["AutoConfig"], folder, **hub_kwargs)
    values = {key: value for key, value in dna_config.to_dict().items() if key != "model_type"}
    config.dna_config = config_class(**values)
    # AutoModel.from_config finds the encoder's model class in the folder its config was read from.
    config.dna_config._name_or_path = os.fspath(folder)


def copy_pipeline_code(config: ChatNTConfig, folder) -> None:
    """Copies the code of the pipelines ``config.custom_pipelines`` names (and the files they import
    relatively) into ``folder``, so that ``pipeline("text-generation", model=folder, trust_remote_code=True)``
    works there.

    transformers copies only the model's own file and what it imports; the pipeline sits above the model (it
    imports the model's layers, never the reverse), so it is copied here by name. Each file is looked for
    beside this one (the installed package, or the module cache of a folder loaded with remote code, which
    holds the files of what ran), else in the folder or repository the model came from. A file found in
    neither is reported in a warning: the model still loads from the folder, only the pipeline would not.
    """
    source = getattr(config, "_name_or_path", "") or ""
    wanted = [entry["impl"].split(".")[0] + ".py" for entry in (config.custom_pipelines or {}).values()]
    done = set()
    while wanted:
        name = wanted.pop()
        if name in done:
            continue
        done.add(name)
        path = Path(__file__).with_name(name)
        if not path.is_file():
            try:
                path = Path(cached_file(source, name, _raise_exceptions_for_missing_entries=False) or "")
            except (OSError, ValueError):
                path = Path("")
        if not path.is_file():
            logger.warning(
                f"The saved folder lacks {name} (not beside {__file__} and not in {source!r}): "
                "pipeline(..., trust_remote_code=True) will not load from it. Save from an installed chatnt."
            )
            continue
        shutil.copyfile(path, Path(folder) / name)
        wanted += [module + ".py" for module in get_relative_imports(path)]


class ChatNTPreTrainedModel(PreTrainedModel):
    config_class = ChatNTConfig
    config: ChatNTConfig
    base_model_prefix = "model"
    input_modalities = ("text",)
    supports_gradient_checkpointing = True
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_attention_backend = True

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """Loads a saved model: safetensors weights only, and a local folder missing a file is refused
        with the file's name (see :func:`check_checkpoint_files`)."""
        _refuse_pickle_loading(kwargs)
        config = kwargs.get("config")
        included = getattr(config, "text_model_included", True) if isinstance(config, PreTrainedConfig) else None
        check_checkpoint_files(pretrained_model_name_or_path, kwargs.get("subfolder") or "", included)
        hub_kwargs = {key: kwargs[key] for key in HUB_KWARGS if kwargs.get(key) is not None}
        if not isinstance(config, PreTrainedConfig):
            saved = cls.config_class.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
            # Passed on only when its encoder needs resolving: otherwise transformers reads the config itself,
            # applying any config overrides among the keyword arguments.
            if is_remote_code_placeholder(saved.dna_config):
                config = kwargs["config"] = saved
        if isinstance(config, PreTrainedConfig):
            code_kwargs = {key: value for key, value in hub_kwargs.items() if key != "subfolder"}
            load_remote_dna_config(config, pretrained_model_name_or_path, kwargs.get("trust_remote_code"), code_kwargs)
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        # Loading materialises fresh parameters (all trainable), so the freezing policy is applied again.
        model.apply_trainable_parts()
        return model

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Saves as transformers does, plus the pipeline's code and the code of a remote-code DNA encoder, so
        that the folder loads on its own (``trust_remote_code=True``) where those are not at hand."""
        result = super().save_pretrained(save_directory, *args, **kwargs)
        encoder = self.base_model.dna_encoder
        copy_remote_code(encoder.config, save_directory)
        copy_remote_code(encoder, save_directory)
        if kwargs.get("is_main_process", True):
            copy_pipeline_code(self.config, save_directory)
        return result

    def apply_trainable_parts(self):
        """Sets ``requires_grad`` from the config: by default encoder and projection train, the decoder is frozen."""
        chatnt = self.base_model  # ChatNTModel, itself or inside the generation class
        chatnt.dna_encoder.requires_grad_(self.config.train_dna_encoder)
        chatnt.projector.requires_grad_(self.config.train_projector)
        chatnt.language_model.requires_grad_(self.config.train_text_model)
        if getattr(self, "lm_head", None) is not None:
            self.lm_head.requires_grad_(self.config.train_text_model)

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, ChatNTPerceiverResampler):
            init.normal_(module.latents, std=self.config.text_config.initializer_range)


class ChatNTModel(ChatNTPreTrainedModel):
    """DNA encoder, projection and language model, without the LM head (LLaVA's ``LlavaModel``)."""

    def __init__(self, config: ChatNTConfig, dna_encoder: nn.Module | None = None, language_model: nn.Module | None = None):
        super().__init__(config)
        # Pretrained parts may be passed in (from_encoder_decoder_pretrained), else they are built from config.
        # A passed-in module's own config describes it (attention implementation included), so it becomes
        # the sub-config.
        if dna_encoder is not None:
            config.dna_config = dna_encoder.config
        if language_model is not None:
            rows = language_model.get_input_embeddings().weight.shape[0]
            if rows < config.text_config.vocab_size:
                raise ValueError(
                    f"The decoder has {rows} embedding rows but the config needs {config.text_config.vocab_size} "
                    "(<DNA> included): call resize_token_embeddings on it first."
                )
            config.text_config = language_model.config
        self.dna_encoder = dna_encoder if dna_encoder is not None else build_dna_encoder(config.dna_config)
        # Width, mask handling and position limit of the encoder, complete from here on (and saved).
        config.dna_encoder_interface = read_encoder_interface(self.dna_encoder, config.dna_encoder_interface)
        limit = config.dna_encoder_interface["max_positions"]
        if config.max_dna_tokens is None:
            config.max_dna_tokens = 2048 if limit is None else min(2048, limit)
        elif limit is not None and config.max_dna_tokens > limit:
            raise ValueError(
                f"max_dna_tokens is {config.max_dna_tokens}, more than the DNA encoder's {limit} positions: set "
                f"max_dna_tokens <= {limit}."
            )
        self.projector = build_projector(config)
        self.language_model = (
            language_model if language_model is not None else AutoModel.from_config(config.text_config)
        )
        if config.text_final_norm_eps is not None:
            self.set_final_norm_eps(config.text_final_norm_eps)
        self.post_init()
        self.apply_trainable_parts()

    def set_final_norm_eps(self, eps: float) -> None:
        """Gives the decoder's final RMSNorm its own epsilon (the published decoder's differs from its layers')."""
        final_norm = getattr(self.language_model, "norm", None)
        if not hasattr(final_norm, "variance_epsilon"):
            raise ValueError(
                "text_final_norm_eps needs a LLaMA-style decoder whose final RMSNorm is `norm`; "
                f"{type(self.language_model).__name__} has none. Leave text_final_norm_eps unset."
            )
        final_norm.variance_epsilon = eps

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    def embedding_ids(self, token_ids: torch.LongTensor, table_size: int) -> torch.LongTensor:
        """The rows of an embedding table the tokens read: the ids themselves, except a clamped ``<DNA>`` id
        (``config.dna_token_clamped``, the published ChatNT), which has no row and reads the last one."""
        if not self.config.dna_token_clamped:
            return token_ids
        return token_ids.masked_fill(token_ids == self.config.dna_token_id, table_size - 1)

    def dna_vector_mask(self, input_ids: torch.LongTensor) -> torch.Tensor:
        """Positions that receive DNA vectors: every ``<DNA>`` token, or, with ``config.keep_dna_token``
        (K + 1 tokens per sequence), all but the last of each sequence's K + 1, which stays a token."""
        is_dna = input_ids == self.config.dna_token_id
        if not self.config.keep_dna_token:
            return is_dna
        rank = is_dna.long().cumsum(-1) - 1  # n-th <DNA> token of its row, counted from 0
        return is_dna & (rank % (self.config.num_latents + 1) != self.config.num_latents)

    def get_dna_features(
        self,
        dna_input_ids: torch.LongTensor,
        dna_attention_mask: torch.Tensor | None = None,
        english_input_ids: torch.LongTensor | None = None,
        english_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Encodes and projects DNA sequences, one row per sequence.

        Args:
            dna_input_ids: (sequences, length) DNA token ids.
            dna_attention_mask: (sequences, length), 1 for real tokens.
            english_input_ids / english_attention_mask: (sequences, prompt length), the question each
                sequence belongs to (English-aware Perceiver only).

        Returns:
            (sequences, K, hidden) for a Perceiver; (sequences, length, hidden) for the linear projection,
            whose padded rows the placeholder scatter skips.
        """
        if dna_attention_mask is None:
            dna_attention_mask = torch.ones_like(dna_input_ids)
        if dna_attention_mask.shape != dna_input_ids.shape:
            raise ValueError(
                f"dna_attention_mask has shape {tuple(dna_attention_mask.shape)} but dna_input_ids has "
                f"{tuple(dna_input_ids.shape)}; they must match (one row per DNA sequence)."
            )
        if dna_input_ids.shape[1] > self.config.max_dna_tokens:
            raise ValueError(
                f"DNA input has {dna_input_ids.shape[1]} tokens, more than max_dna_tokens="
                f"{self.config.max_dna_tokens}. Shorten the sequence or split it into windows."
            )
        dna_states = encoder_states(self.dna_encoder, self.config.dna_encoder_interface, dna_input_ids, dna_attention_mask)
        return self.projector(dna_states, dna_attention_mask, english_input_ids, english_attention_mask)

    def get_placeholder_mask(self, input_ids: torch.LongTensor, inputs_embeds: torch.Tensor, dna_features: torch.Tensor):
        """Mask of the ``<DNA>`` placeholder positions, checked against the number of DNA vectors."""
        placeholder_mask = self.dna_vector_mask(input_ids)
        num_placeholders, num_vectors = int(placeholder_mask.sum()), dna_features.shape[0]
        if num_placeholders != num_vectors:
            per_sequence = self.config.dna_tokens_per_sequence
            detail = (
                f" (each sequence fills {per_sequence} placeholder tokens: the prompts hold "
                f"{num_placeholders / per_sequence:g} sequences' worth, {num_vectors // per_sequence} sequences "
                "were given)"
                if per_sequence
                else " (the linear projection fills one placeholder token per DNA token)"
            )
            raise ValueError(
                f"DNA placeholders and DNA sequences do not match: tokens: {num_placeholders}, "
                f"DNA vectors: {num_vectors}{detail}. Build inputs with ChatNTProcessor, which expands each "
                f"{self.config.dna_token} to the right count."
            )
        return placeholder_mask.unsqueeze(-1).expand_as(inputs_embeds)

    def sequence_to_example(self, input_ids: torch.LongTensor, dna_attention_mask: torch.Tensor) -> torch.LongTensor:
        """Index of the example (row of ``input_ids``) that each DNA sequence belongs to.

        Sequences are flattened across the batch in prompt order, so the n-th sequence fills the n-th
        block of placeholders; the block's row is its example.
        """
        per_sequence = self.config.dna_tokens_per_sequence
        if per_sequence is None:
            vectors_per_sequence = dna_attention_mask.sum(-1)
        else:
            vectors_per_sequence = torch.full((dna_attention_mask.shape[0],), per_sequence, device=input_ids.device)
        first_vector = torch.cumsum(vectors_per_sequence, 0) - vectors_per_sequence
        placeholders_before_row_end = torch.cumsum(self.dna_vector_mask(input_ids).sum(-1), 0)
        example = torch.searchsorted(placeholders_before_row_end, first_vector.to(input_ids.device), right=True)
        return example.clamp(max=input_ids.shape[0] - 1)

    def embed_prompt(
        self,
        input_ids: torch.LongTensor | None,
        attention_mask: torch.Tensor | None = None,
        dna_input_ids: torch.LongTensor | None = None,
        dna_attention_mask: torch.Tensor | None = None,
        english_attention_mask: torch.Tensor | None = None,
        prompt_input_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The decoder's input embeddings: the prompt's token embeddings with the DNA vectors at their slots
        (arguments as for :meth:`forward`)."""
        if inputs_embeds is None:
            embeddings = self.get_input_embeddings()
            inputs_embeds = embeddings(self.embedding_ids(input_ids, embeddings.num_embeddings))

        if dna_input_ids is not None and dna_input_ids.shape[0] > 0:
            if input_ids is None:
                raise ValueError("DNA inputs need input_ids, to find the <DNA> placeholders they replace.")
            if dna_attention_mask is None:
                dna_attention_mask = torch.ones_like(dna_input_ids)
            english_input_ids = english_mask = None
            if self.config.projector_type == "english_aware_perceiver":
                prompt = input_ids if prompt_input_ids is None else prompt_input_ids
                if english_attention_mask is None:
                    english_attention_mask = torch.ones_like(prompt) if attention_mask is None else attention_mask
                if english_attention_mask.shape[1] > prompt.shape[1]:
                    raise ValueError(
                        f"english_attention_mask covers {english_attention_mask.shape[1]} tokens but the prompt has "
                        f"{prompt.shape[1]}. When the cache already holds the prompt's start, pass the whole "
                        "prompt as prompt_input_ids (generate does this itself)."
                    )
                # A shorter mask covers the prompt only (generation without cache re-reads generated
                # tokens, which are not part of the question).
                english_attention_mask = F.pad(english_attention_mask, (0, prompt.shape[1] - english_attention_mask.shape[1]))
                # The question is read without the DNA vectors' slots and without padding-id tokens (the
                # published layer masks them, eos included where it doubles as padding).
                english_attention_mask = english_attention_mask.bool() & ~self.dna_vector_mask(prompt)
                if self.config.text_config.pad_token_id is not None:
                    english_attention_mask &= prompt != self.config.text_config.pad_token_id
                example = self.sequence_to_example(input_ids, dna_attention_mask)
                english_input_ids = self.embedding_ids(prompt[example], self.config.english_vocab_size)
                english_mask = english_attention_mask[example]
            dna_features = self.get_dna_features(dna_input_ids, dna_attention_mask, english_input_ids, english_mask)
            if self.config.projector_type == "linear":
                dna_features = dna_features[dna_attention_mask.bool()]
            else:
                dna_features = dna_features.flatten(0, 1)
            dna_features = dna_features.to(inputs_embeds.device, inputs_embeds.dtype)
            placeholder_mask = self.get_placeholder_mask(input_ids, inputs_embeds, dna_features)
            inputs_embeds = inputs_embeds.masked_scatter(placeholder_mask, dna_features)
        elif input_ids is not None and self.dna_vector_mask(input_ids).any():
            raise ValueError(
                f"The prompt holds {int(self.dna_vector_mask(input_ids).sum())} {self.config.dna_token} "
                "placeholder tokens but no DNA was given: pass dna_input_ids (ChatNTProcessor builds both)."
            )

        return inputs_embeds

    # As transformers' own models since 5.24 (LLaVA included): the decoder cache is `cache`; the old name
    # still works, with transformers' deprecation warning, until transformers 5.40.
    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        dna_input_ids: torch.LongTensor | None = None,
        dna_attention_mask: torch.Tensor | None = None,
        english_attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        prompt_input_ids: torch.LongTensor | None = None,
        shared_prefix_length: int | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        r"""
        english_attention_mask: which prompt tokens the English-aware Perceiver reads. Default: every
            attended token except the DNA vectors' slots and padding-id tokens; a mask shorter than the prompt
            leaves the tokens past its end unread. [`ChatNTForConditionalGeneration`] hides the answer tokens (``labels != -100``)
            in training and the generated tokens in ``generate``: the Perceiver reads the question only.
        prompt_input_ids: the whole prompt, when ``input_ids`` is only its end because ``cache``
            already holds a shared prefix (prefix caching, e.g. of the system message): the Perceiver still
            reads the whole question. Default: ``input_ids``. The placeholders must lie in ``input_ids``.
        shared_prefix_length: training with a frozen decoder: the number of leading tokens every row shares (the
            system message, before any DNA), which the decoder then runs once for the batch, without gradient,
            its cache serving every row. The states returned at those positions are zeros: no label may be
            predicted from them (the collator's ``share_prefix`` picks a length that guarantees it).
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        inputs_embeds = self.embed_prompt(
            input_ids, attention_mask, dna_input_ids, dna_attention_mask, english_attention_mask, prompt_input_ids,
            inputs_embeds,
        )
        if shared_prefix_length:
            return self._forward_shared_prefix(input_ids, inputs_embeds, attention_mask, cache, shared_prefix_length, **kwargs)

        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        return BaseModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


    def _forward_shared_prefix(self, input_ids, inputs_embeds, attention_mask, cache, length: int, **kwargs):
        batch = inputs_embeds.shape[0]
        if cache is not None or input_ids is None:
            raise ValueError("shared_prefix_length needs input_ids and builds its own cache: pass input_ids, no cache.")
        if any(parameter.requires_grad for parameter in self.language_model.parameters()):
            raise ValueError("shared_prefix_length needs a frozen decoder: the shared start runs without gradient.")
        shared = input_ids[:, :length]
        if (shared != shared[:1]).any() or self.dna_vector_mask(shared).any() or (
            attention_mask is not None and not attention_mask[:, :length].all()
        ):
            raise ValueError(
                f"shared_prefix_length={length}: the rows' first {length} tokens must be the same real tokens, before any DNA."
            )
        with torch.no_grad():
            prefix = self.language_model(inputs_embeds=inputs_embeds[:1, :length], use_cache=True)
        prefix.cache.batch_repeat_interleave(batch)
        outputs = self.language_model(
            inputs_embeds=inputs_embeds[:, length:], attention_mask=attention_mask, cache=prefix.cache, **kwargs
        )
        hidden = outputs.last_hidden_state
        return BaseModelOutputWithPast(
            last_hidden_state=torch.cat([hidden.new_zeros(batch, length, hidden.shape[-1]), hidden], dim=1),
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class ChatNTForConditionalGeneration(ChatNTPreTrainedModel, GenerationMixin):
    """ChatNT with the language-modelling head: answers English questions about DNA sequences.

    Example:
        >>> from chatnt import ChatNTForConditionalGeneration, ChatNTProcessor
        >>> model = ChatNTForConditionalGeneration.from_pretrained("path/to/chatnt")
        >>> processor = ChatNTProcessor.from_pretrained("path/to/chatnt")
        >>> inputs = processor("Is @seq a promoter?", dna_sequences={"seq": "ATGC..."}, return_tensors="pt")
        >>> answer = model.generate(**inputs, max_new_tokens=20)
    """

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}

    def __init__(self, config: ChatNTConfig, dna_encoder: nn.Module | None = None, text_model: nn.Module | None = None):
        """``dna_encoder`` (an encoder) and ``text_model`` (a causal LM) may be pretrained modules to use as
        they are; otherwise both are built from ``config``."""
        super().__init__(config)
        self.model = ChatNTModel(config, dna_encoder, text_model.base_model if text_model is not None else None)
        self.lm_head = (
            text_model.get_output_embeddings()
            if text_model is not None
            else nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        )
        # The tied input embedding's name depends on the decoder (embed_tokens for LLaMA, wte for GPT-2).
        embedding = self.model.language_model.get_input_embeddings().weight
        for name, parameter in self.model.language_model.named_parameters():
            if parameter is embedding:
                self._tied_weights_keys = {"lm_head.weight": f"model.language_model.{name}"}
        self.post_init()
        self.apply_trainable_parts()
        # Platt scaling of yes/no probabilities (see classify); saved as calibration.json beside the weights.
        self.calibrator: PlattCalibrator | None = None
        # The placeholder is an input-only token: an answer must never contain it (a clamped one has no logit).
        if self.generation_config is not None and not config.dna_token_clamped:
            self.generation_config.suppress_tokens = sorted(
                set(self.generation_config.suppress_tokens or []) | {config.dna_token_id}
            )

    @classmethod
    def from_encoder_decoder_pretrained(
        cls,
        dna_model_name_or_path: str | os.PathLike,
        text_model_name_or_path: str | os.PathLike,
        *,
        dtype: torch.dtype | None = None,
        trust_remote_code: bool = False,
        text_model_source: str | dict | None = None,
        **config_kwargs,
    ) -> tuple["ChatNTForConditionalGeneration", ChatNTProcessor]:
        """Builds ChatNT around a pretrained DNA encoder and a pretrained causal LM.

        Adds ``<DNA>`` to the decoder tokenizer (resizing the embeddings only if the vocabulary grew),
        records the decoder's reference and checksum, and returns the model with its processor.

        Args:
            dna_model_name_or_path: an NT v2 checkpoint (published ESM format or ours; read with the NT v2
                implementation and the 6-mer tokenizer) or any AutoModel encoder with its tokenizer, remote code
                included (with ``trust_remote_code=True``). Traits its config does not state are declared with
                ``dna_encoder_interface={...}`` (see ``dna_encoders``).
            text_model_name_or_path: any AutoModelForCausalLM checkpoint with a tokenizer (a local path, or
                a Hub id when online, e.g. ``HuggingFaceTB/SmolLM2-135M-Instruct``).
            text_model_source: where others can obtain the decoder, recorded in the decoder reference, when
                it cannot be read off ``text_model_name_or_path`` (a local copy of a Hub model):
                ``"owner/name@revision"`` or a source dict (see ``decoder_sources``). Hub ids, Hub cache
                folders and ``chatnt.offline_models`` builds are recognised without it.
            trust_remote_code: allow the encoder's, the decoder's and their tokenizers' own code to run (models
                whose repository holds their code, ``auto_map``); a saved ChatNT carries the encoder's code.
            config_kwargs: ChatNTConfig fields, e.g. ``projector_type="perceiver"``, ``num_latents=32``.

        Example:
            >>> from chatnt import ChatNTForConditionalGeneration
            >>> from chatnt.offline_models import smollm2_instruct
            >>> model, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
            ...     "checkpoints/nt-mini-encoder", smollm2_instruct(), projector_type="english_aware_perceiver")
        """
        # safetensors only, for both parts: unpickling a .bin or .pt file can run any code in it.
        load_kwargs = {"dtype": dtype, "trust_remote_code": trust_remote_code, "use_safetensors": True}
        dna_config_dict, _ = PreTrainedConfig.get_config_dict(dna_model_name_or_path)
        if NucleotideTransformerConfig.is_nt_v2_config_dict(dna_config_dict):
            dna_encoder = NucleotideTransformerModel.from_pretrained(dna_model_name_or_path, dtype=dtype, use_safetensors=True)
            try:
                dna_tokenizer = NucleotideTransformerTokenizer.from_pretrained(dna_model_name_or_path)
            except OSError:  # an encoder saved without tokenizer files uses the standard NT v2 vocabulary
                dna_tokenizer = NucleotideTransformerTokenizer()
        else:
            dna_encoder = AutoModel.from_pretrained(dna_model_name_or_path, **load_kwargs)
            dna_tokenizer = AutoTokenizer.from_pretrained(dna_model_name_or_path, trust_remote_code=trust_remote_code)

        text_model = AutoModelForCausalLM.from_pretrained(text_model_name_or_path, **load_kwargs)
        tokenizer = AutoTokenizer.from_pretrained(text_model_name_or_path, trust_remote_code=trust_remote_code)
        own_vocab_size = text_model.get_input_embeddings().weight.shape[0]
        if isinstance(text_model_source, str):
            text_model_source = parse_source(text_model_source)
        reference = {
            # Never the path read here: it means nothing on another machine (see decoder_sources).
            "source": text_model_source or source_of(text_model_name_or_path),
            "sha256": text_model_checksum(text_model.base_model, text_model.get_output_embeddings(), own_vocab_size),
            "vocab_size": own_vocab_size,
        }
        if DNA_TOKEN not in tokenizer.get_vocab():
            tokenizer.add_tokens([DNA_TOKEN], special_tokens=True)
        if tokenizer.pad_token is None:
            # Labels come from the answer spans, not from padding, so EOS can double as padding here
            # without hiding the end of each answer from the loss.
            tokenizer.pad_token = tokenizer.eos_token
        if len(tokenizer) > own_vocab_size:
            text_model.resize_token_embeddings(len(tokenizer))

        config = ChatNTConfig(
            dna_config=dna_encoder.config,
            text_config=text_model.config,
            dna_token_id=tokenizer.convert_tokens_to_ids(DNA_TOKEN),
            text_model_reference=reference,
            **config_kwargs,
        )
        model = cls(config, dna_encoder=dna_encoder, text_model=text_model)
        model.generation_config = text_model.generation_config
        model.generation_config.suppress_tokens = [config.dna_token_id]
        processor = ChatNTProcessor(
            tokenizer,
            dna_tokenizer,
            dna_tokens_per_sequence=config.dna_tokens_per_sequence,
            max_dna_tokens=config.max_dna_tokens,
        )
        return model, processor

    def save_pretrained(
        self,
        save_directory,
        *args,
        include_text_model: bool = True,
        trained_parts_dtype: torch.dtype | None = None,
        push_to_hub: bool = False,
        **kwargs,
    ):
        """Saves the model; ``include_text_model=False`` stores the trained parts and a decoder reference only.

        A decoder-free checkpoint is refused when the decoder no longer matches its reference (it was
        fine-tuned), since loading would then silently use other weights, or when the reference names no
        source others can obtain. ``trained_parts_dtype`` (e.g. ``torch.bfloat16``, to halve a shipped
        checkpoint) stores the floating-point trained parts in that dtype; loading copies them into the
        model's own dtype. ``push_to_hub=True`` (with ``repo_id``, ``token``, ``commit_message``,
        ``create_pr`` as in transformers) uploads every file written, the calibration and the new token
        rows included.
        """
        if not push_to_hub:
            return self._save_locally(save_directory, *args, include_text_model=include_text_model,
                                      trained_parts_dtype=trained_parts_dtype, **kwargs)
        # transformers uploads only what its own save_pretrained wrote, but calibration.json and the new token
        # rows are written around it: the upload happens here, once every file is in place.
        hub = {key: kwargs.pop(key) for key in ("commit_message", "create_pr", "token") if key in kwargs}
        repo_id = kwargs.pop("repo_id", os.path.basename(os.path.normpath(os.fspath(save_directory))))
        repo_id = hf_api().create_repo(repo_id, exist_ok=True, token=hub.get("token"), private=kwargs.pop("private", None)).repo_id
        os.makedirs(save_directory, exist_ok=True)
        timestamps = self._get_files_timestamps(save_directory)
        self._save_locally(save_directory, *args, include_text_model=include_text_model,
                           trained_parts_dtype=trained_parts_dtype, token=hub.get("token"), **kwargs)
        return self._upload_modified_files(save_directory, repo_id, timestamps, **hub)

    def _save_locally(self, save_directory, *args, include_text_model: bool, trained_parts_dtype, **kwargs):
        if include_text_model:
            self._save_calibration(save_directory)
            return super().save_pretrained(save_directory, *args, **kwargs)
        reference = self.config.text_model_reference
        if not reference:
            raise ValueError(
                "This model has no decoder reference to save instead of the decoder: build it with "
                "from_encoder_decoder_pretrained, or save with include_text_model=True."
            )
        if reference_source(reference) is None:
            raise ValueError(
                "The decoder was loaded from a local folder whose origin is unknown, so a checkpoint without it could "
                "not be loaded anywhere else. Pass text_model_source='owner/name@revision' to "
                "from_encoder_decoder_pretrained (where others can obtain that decoder), or save with "
                "include_text_model=True."
            )
        if self.current_text_model_checksum() != reference["sha256"]:
            raise ValueError(
                "The decoder's weights differ from the referenced ones (was it fine-tuned?). Save the full model "
                "with include_text_model=True."
            )
        self._save_calibration(save_directory)
        self.config.text_model_included = False
        try:
            state_dict = trained_parts_state_dict(self)
            if trained_parts_dtype is not None:
                state_dict = {
                    name: tensor.to(trained_parts_dtype) if tensor.is_floating_point() else tensor
                    for name, tensor in state_dict.items()
                }
            super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)
        finally:
            self.config.text_model_included = True
        save_new_token_rows(self, save_directory, reference["vocab_size"])

    def _save_calibration(self, save_directory) -> None:
        if self.calibrator is not None:
            os.makedirs(save_directory, exist_ok=True)
            self.calibrator.save(save_directory)

    def current_text_model_checksum(self) -> str:
        return text_model_checksum(self.model.language_model, self.lm_head, self.config.text_model_reference["vocab_size"])

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, text_model_name_or_path=None, **kwargs):
        """Loads a checkpoint; one saved without its decoder is reassembled from the referenced decoder.

        Args:
            text_model_name_or_path: where to load the referenced decoder from, if not from the recorded
                path or id (e.g. a local copy). Its weights must match the recorded sha256.
            trust_remote_code: needed when the DNA encoder is remote code (saved in the folder with the model).

        Raises:
            FileNotFoundError: the folder does not exist, lacks ``config.json`` or a weights file (named), or a
                Hub id is not available here.
            ValueError: weights only in a pickle format (``.bin``, ``.pt``, ...), or ``use_safetensors=False``:
                only safetensors are loaded, nothing is ever unpickled.
        """
        _refuse_pickle_loading(kwargs)
        config = kwargs.get("config")
        included = config.text_model_included if isinstance(config, ChatNTConfig) else None
        is_local = check_checkpoint_files(pretrained_model_name_or_path, kwargs.get("subfolder") or "", included)
        hub_kwargs = {key: kwargs[key] for key in HUB_KWARGS if kwargs.get(key) is not None}
        if not isinstance(config, ChatNTConfig):
            try:
                config = ChatNTConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
            except OSError as error:
                if is_local:
                    raise
                raise FileNotFoundError(
                    f"cannot load the model {pretrained_model_name_or_path!r}: it is not a local folder, and the Hub "
                    f"copy is not available here ({first_line(error)}). Pass a local model folder (e.g. checkpoints/chatnt-mini)."
                ) from None
        if is_remote_code_placeholder(config.dna_config):
            code_kwargs = {key: value for key, value in hub_kwargs.items() if key != "subfolder"}
            load_remote_dna_config(config, pretrained_model_name_or_path, kwargs.get("trust_remote_code"), code_kwargs)
            kwargs["config"] = config
        if config.text_model_included:
            model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        else:
            model = cls._from_trained_parts(
                pretrained_model_name_or_path, config, text_model_name_or_path, kwargs.get("dtype"), hub_kwargs
            )
        calibration = cached_file(
            pretrained_model_name_or_path, CALIBRATION_FILE, _raise_exceptions_for_missing_entries=False, **hub_kwargs
        )
        model.calibrator = PlattCalibrator.load(calibration) if calibration else None
        return model

    @classmethod
    def _from_trained_parts(cls, source, config: ChatNTConfig, text_model_name_or_path, dtype, hub_kwargs):
        reference = config.text_model_reference
        decoder_kwargs = {}
        if text_model_name_or_path is not None:
            decoder_source = text_model_name_or_path
        else:
            recorded = reference_source(reference)
            if recorded is None:
                raise OSError(
                    f"{source} was saved without its decoder and names no source for it (only "
                    f"{reference.get('name_or_path')!r}). Pass text_model_name_or_path= pointing to that decoder."
                )
            decoder_source, decoder_kwargs = decoder_location(recorded)
        files_read = weight_files_identity(decoder_source)  # before loading: a verdict is about the files read
        try:
            text_model = AutoModelForCausalLM.from_pretrained(
                decoder_source, dtype=dtype, use_safetensors=True, **decoder_kwargs
            )
        except OSError as error:
            wanted = describe(reference_source(reference)) if text_model_name_or_path is None else repr(decoder_source)
            raise OSError(
                f"{source} was saved without its decoder, {wanted}, which could not be loaded here "
                f"({first_line(error)}). Pass text_model_name_or_path= pointing to a copy of it, in safetensors."
            ) from error
        verdict = (decoder_source, files_read, text_model.dtype, reference["sha256"], reference["vocab_size"])
        if not is_verified_decoder(*verdict):
            checksum = text_model_checksum(text_model.base_model, text_model.get_output_embeddings(), reference["vocab_size"])
            if checksum != reference["sha256"]:
                raise ValueError(
                    f"The decoder at {decoder_source!r} is not the one this checkpoint was trained with: its weights' "
                    f"sha256 is {checksum[:16]}..., the checkpoint expects {reference['sha256'][:16]}.... Pass "
                    "text_model_name_or_path= pointing to the exact decoder (same weights and dtype)."
                )
            remember_verified_decoder(*verdict)
        if text_model.get_input_embeddings().weight.shape[0] != config.text_config.vocab_size:
            # The new rows (<DNA> and friends) are overwritten by load_new_token_rows below: no mean init.
            text_model.resize_token_embeddings(config.text_config.vocab_size, mean_resizing=False)
        config.text_model_included = True  # this instance now carries its decoder
        model = cls(config, text_model=text_model)
        missing, unexpected = model.load_state_dict(load_trained_parts(source, **hub_kwargs), strict=False)
        not_decoder = [name for name in missing if not name.startswith(("model.language_model.", "lm_head."))]
        if unexpected or not_decoder:
            raise ValueError(
                f"{source} does not match this model: unexpected weights {unexpected[:5]}, missing {not_decoder[:5]}."
            )
        load_new_token_rows(model, source, reference["vocab_size"], **hub_kwargs)
        model.config._name_or_path = str(source)  # as from_pretrained does; PEFT records it as the base model
        if dtype is not None:
            model.to(dtype)
        model.apply_trainable_parts()
        return model.eval()

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def get_dna_features(self, *args, **kwargs) -> torch.Tensor:
        return self.model.get_dna_features(*args, **kwargs)

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        dna_input_ids: torch.LongTensor | None = None,
        dna_attention_mask: torch.Tensor | None = None,
        english_attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        prompt_input_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        r"""
        labels: token ids aligned with ``input_ids`` (the shift happens inside the loss); -100 marks
            positions without loss (prompt, placeholders, padding).
        logits_to_keep: as in transformers: the last N positions, or a 1-D tensor of positions. With positions and
            ``labels``, the loss covers the labels that follow them (the training loss with the LM head only where
            the answers are: see ``chatnt.training.chatnt_sft.answer_loss``).
        prompt_input_ids: the whole prompt when ``cache`` holds its prefix (see [`ChatNTModel`]).
        """
        if labels is not None and english_attention_mask is None and input_ids is not None:
            english_attention_mask = (labels == -100) & (
                torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
            )
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            dna_input_ids=dna_input_ids,
            dna_attention_mask=dna_attention_mask,
            english_attention_mask=english_attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            prompt_input_ids=prompt_input_ids,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        slice_indices = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, slice_indices, :])
        loss = None
        if labels is not None and isinstance(logits_to_keep, torch.Tensor):
            # Logits at chosen positions only: each predicts the label one position on.
            shift_labels = labels[:, logits_to_keep + 1]
            loss = self.loss_function(
                logits=logits, labels=None, shift_labels=shift_labels, vocab_size=self.config.text_config.vocab_size
            )
        elif labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size)
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    def generate(self, input_ids=None, **kwargs):
        # The Perceiver's question is the prompt: fix its mask now, before generation extends attention_mask.
        if kwargs.get("dna_input_ids") is not None and kwargs.get("english_attention_mask") is None:
            prompt_mask = kwargs.get("attention_mask")
            kwargs["english_attention_mask"] = torch.ones_like(input_ids) if prompt_mask is None else prompt_mask
        return super().generate(input_ids, **kwargs)

    def prepare_inputs_for_generation(
        self, input_ids, dna_input_ids=None, dna_attention_mask=None, is_first_iteration=False, **kwargs
    ):
        model_inputs = super().prepare_inputs_for_generation(input_ids, is_first_iteration=is_first_iteration, **kwargs)
        # With a cache, DNA is encoded once at prefill; later steps only see new (non-placeholder) tokens.
        # Without a cache every step re-reads the whole prompt, placeholders included.
        if is_first_iteration or not kwargs.get("use_cache", True):
            model_inputs["dna_input_ids"] = dna_input_ids
            model_inputs["dna_attention_mask"] = dna_attention_mask
            # A cache passed in may already hold the prompt's start (prefix caching), which
            # shortens model_inputs["input_ids"]; the Perceiver reads the whole question all the same.
            if dna_input_ids is not None:
                model_inputs["prompt_input_ids"] = input_ids
        return model_inputs

    def _expand_inputs_for_generation(self, expand_size=1, is_encoder_decoder=False, input_ids=None, **model_kwargs):
        # DNA tensors hold a variable number of sequences per example, so the generic per-row
        # repeat_interleave would mix up examples: repeat each example's block of sequences instead.
        dna_input_ids = model_kwargs.pop("dna_input_ids", None)
        dna_attention_mask = model_kwargs.pop("dna_attention_mask", None)
        if expand_size > 1 and dna_input_ids is not None and input_ids is not None:
            if dna_attention_mask is None:
                dna_attention_mask = torch.ones_like(dna_input_ids)
            example = self.model.sequence_to_example(input_ids, dna_attention_mask)
            order = torch.cat(
                [torch.nonzero(example == row).flatten().repeat(expand_size) for row in range(input_ids.shape[0])]
            )
            dna_input_ids, dna_attention_mask = dna_input_ids[order], dna_attention_mask[order]
        input_ids, model_kwargs = super()._expand_inputs_for_generation(
            expand_size=expand_size, is_encoder_decoder=is_encoder_decoder, input_ids=input_ids, **model_kwargs
        )
        if dna_input_ids is not None:
            model_kwargs["dna_input_ids"] = dna_input_ids
            model_kwargs["dna_attention_mask"] = dna_attention_mask
        return input_ids, model_kwargs


ChatNTModel.register_for_auto_class("AutoModel")
ChatNTForConditionalGeneration.register_for_auto_class("AutoModelForCausalLM")

__all__ = ["ChatNTForConditionalGeneration", "ChatNTModel", "ChatNTPreTrainedModel", "check_checkpoint_files"]
