"""Checkpoints that reference their frozen decoder instead of carrying it.

ChatNT trains the DNA encoder and the projection; the decoder (a 7B LLM in the paper, SmolLM2 here) stays
as published. Such a checkpoint stores only the trained parts, the embedding rows of tokens added to the
decoder vocabulary (``<DNA>``), and a reference to the decoder: where to load it from and a sha256 of its
weights. Loading fetches the decoder, refuses one whose weights differ, and reassembles the model.
"""

import hashlib
import os

import torch
from safetensors.torch import load_file, save_file
from transformers.utils import cached_file

TRAINED_PARTS_FILE = "model.safetensors"
NEW_TOKEN_ROWS_FILE = "new_token_embeddings.safetensors"
DECODER_PREFIXES = ("model.language_model.", "lm_head.")


def text_model_checksum(base_model: torch.nn.Module, lm_head: torch.nn.Module, vocab_size: int) -> str:
    """sha256 of a decoder's weights: every tensor of the base model and the LM head, by name.

    Embedding matrices count only their first ``vocab_size`` rows, so the checksum of a decoder is the
    same before and after rows for new tokens are appended. Values are hashed as stored (dtype included):
    load the decoder in the dtype it was referenced with.
    """
    digest = hashlib.sha256()
    tensors = {f"model.{name}": tensor for name, tensor in base_model.state_dict().items()}
    tensors["lm_head.weight"] = lm_head.weight
    vocabulary_matrices = {base_model.get_input_embeddings().weight.data_ptr(), lm_head.weight.data_ptr()}
    for name in sorted(tensors):
        tensor = tensors[name].detach()
        if tensor.data_ptr() in vocabulary_matrices:
            tensor = tensor[:vocab_size]
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def trained_parts_state_dict(model) -> dict[str, torch.Tensor]:
    """The model's weights without the decoder (encoder, projection, anything else trained)."""
    return {name: tensor for name, tensor in model.state_dict().items() if not name.startswith(DECODER_PREFIXES)}


def save_new_token_rows(model, directory: str | os.PathLike, vocab_size: int) -> None:
    """Embedding rows of tokens appended to the decoder vocabulary (input, and output if untied)."""
    rows = {"input_embeddings": model.get_input_embeddings().weight[vocab_size:].detach().contiguous()}
    output = model.get_output_embeddings().weight
    if output.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        rows["output_embeddings"] = output[vocab_size:].detach().contiguous()
    save_file(rows, os.path.join(directory, NEW_TOKEN_ROWS_FILE))


def load_new_token_rows(model, source: str | os.PathLike, vocab_size: int, **hub_kwargs) -> None:
    rows = load_file(cached_file(source, NEW_TOKEN_ROWS_FILE, **hub_kwargs))
    with torch.no_grad():
        model.get_input_embeddings().weight[vocab_size:] = rows["input_embeddings"]
        if "output_embeddings" in rows:
            model.get_output_embeddings().weight[vocab_size:] = rows["output_embeddings"]


def load_trained_parts(source: str | os.PathLike, **hub_kwargs) -> dict[str, torch.Tensor]:
    return load_file(cached_file(source, TRAINED_PARTS_FILE, **hub_kwargs))


__all__ = [
    "NEW_TOKEN_ROWS_FILE",
    "load_new_token_rows",
    "load_trained_parts",
    "save_new_token_rows",
    "text_model_checksum",
    "trained_parts_state_dict",
]
