"""How ChatNT talks to a DNA/RNA encoder it did not write, in one place.

Encoders differ in four ways that matter here, and each is read from the encoder or declared by the user
(``ChatNTConfig.dna_encoder_interface``), never guessed silently:

* ``hidden_size``: the width of the states the projection reads (``hidden_size``, ``d_model``, ``n_embd``, ...).
* ``accepts_attention_mask``: whether ``forward`` takes ``attention_mask``. Encoders that do not (long
  convolutions, state-space models) are run on unpadded sequences, grouped by length, so a sequence's states
  never depend on what else is in the batch.
* ``max_positions``: the longest input in the encoder's own tokens (specials included); ``None`` declares an
  encoder without a limit.
* padding side: the processor pads on the side the encoder's tokenizer names (``tokenizer.padding_side``); the
  model reads the DNA mask, so either side works. The projection reads every token's state: no pooling.

The tokenizer side is adapted here too: the processor checks and cleans each sequence itself (alphabet, case,
RNA, IUPAC, length), then spells it the way the encoder's tokenizer reads nucleotides (upper or lower case, T or
U). Remote-code encoders and tokenizers travel with a saved ChatNT: :func:`copy_remote_code` writes their files
beside ChatNT's.
"""

import filecmp
import inspect
import shutil
import sys
from pathlib import Path

import torch
from torch import nn
from transformers.dynamic_module_utils import get_relative_import_files

# Config attributes that name an encoder's width, and its position limit, in the spellings models use.
WIDTH_NAMES = ("hidden_size", "d_model", "n_embd", "hidden_dim", "embed_dim", "dim", "width")
POSITION_LIMIT_NAMES = (
    "max_position_embeddings", "max_seq_len", "max_seq_length", "max_sequence_length", "n_positions", "seq_len",
)
INTERFACE_KEYS = ("hidden_size", "accepts_attention_mask", "max_positions")


def _describe(dna_config) -> str:
    return f"the DNA encoder's config ({type(dna_config).__name__}, model_type {getattr(dna_config, 'model_type', '')!r})"


def read_encoder_interface(encoder: nn.Module, declared: dict | None = None) -> dict:
    """The encoder's width, mask handling and position limit: what ``declared`` says, the rest read from it.

    Args:
        encoder: the DNA/RNA encoder module (its ``config`` and ``forward`` are read).
        declared: any of ``hidden_size`` (int), ``accepts_attention_mask`` (bool), ``max_positions`` (int, or
            ``None`` for no limit), for encoders whose config does not say.

    Raises:
        ValueError: an unknown key in ``declared``, or a trait neither declared nor readable, naming the
            attribute names looked for and how to declare it.
    """
    declared = dict(declared or {})
    unknown = sorted(set(declared) - set(INTERFACE_KEYS))
    if unknown:
        raise ValueError(f"dna_encoder_interface has unknown key(s) {unknown}; the keys are {list(INTERFACE_KEYS)}.")
    config = encoder.config
    interface = {}
    if "hidden_size" in declared:
        interface["hidden_size"] = int(declared["hidden_size"])
    else:
        width = _first_int(config, WIDTH_NAMES)
        if width is None:
            raise ValueError(
                f"Cannot tell the width of {_describe(config)}: it has none of {', '.join(WIDTH_NAMES)}. Declare it: "
                "dna_encoder_interface={'hidden_size': <width of last_hidden_state>}."
            )
        interface["hidden_size"] = width
    if "accepts_attention_mask" in declared:
        interface["accepts_attention_mask"] = bool(declared["accepts_attention_mask"])
    else:
        # Only a named parameter counts: a forward(**kwargs) may drop the mask and let padding change the states.
        interface["accepts_attention_mask"] = "attention_mask" in inspect.signature(encoder.forward).parameters
    if "max_positions" in declared:
        limit = declared["max_positions"]
        interface["max_positions"] = None if limit is None else int(limit)
    else:
        limit = _first_int(config, POSITION_LIMIT_NAMES)
        if limit is None:
            raise ValueError(
                f"Cannot tell the position limit of {_describe(config)}: it has none of {', '.join(POSITION_LIMIT_NAMES)}. "
                "Declare it: dna_encoder_interface={'max_positions': <longest input in tokens>} (None for no limit)."
            )
        interface["max_positions"] = limit
    return interface


def _first_int(config, names: tuple[str, ...]) -> int | None:
    """The value of the first of ``names`` that ``config`` holds as an integer."""
    return next((getattr(config, name) for name in names if isinstance(getattr(config, name, None), int)), None)


def encoder_states(encoder: nn.Module, interface: dict, input_ids: torch.LongTensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Per-token states (sequences, length, width) of a batch of DNA tokens, zeros at padding.

    An encoder that takes no mask would read padding as sequence, so such an encoder runs on each group of
    equal-length sequences without any padding (one call per distinct length).
    """
    if interface["accepts_attention_mask"]:
        return _last_hidden_state(encoder(input_ids=input_ids, attention_mask=attention_mask))
    real = attention_mask.bool()
    lengths = real.sum(-1)
    states = None
    for length in lengths.unique().tolist():
        rows = (lengths == length).nonzero().squeeze(-1)
        unpadded = input_ids[rows][real[rows]].view(len(rows), length)  # the padding side does not matter here
        group_states = _last_hidden_state(encoder(input_ids=unpadded))
        if states is None:
            states = group_states.new_zeros(*input_ids.shape, group_states.shape[-1])
        row_index = rows[:, None].expand(-1, input_ids.shape[1])
        selected = real[rows]
        states[row_index[selected], selected.nonzero()[:, 1]] = group_states.reshape(-1, group_states.shape[-1])
    return states


def _last_hidden_state(outputs) -> torch.Tensor:
    states = getattr(outputs, "last_hidden_state", None)
    if states is None:
        states = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
    if not isinstance(states, torch.Tensor) or states.dim() != 3:
        raise TypeError(
            "The DNA encoder returned no per-token states: ChatNT reads last_hidden_state (or the first output) of "
            "shape (sequences, tokens, width). Load the encoder's base model (AutoModel), not a task head."
        )
    return states


def nucleotide_spelling(tokenizer) -> dict:
    """How the encoder's tokenizer spells nucleotides: a ``str.translate`` table from clean upper-case DNA.

    Clean DNA is upper case with T; a tokenizer that has U and no T (RNA) gets U, one with lower case letters only
    gets lower case. Tokenizers that cut k-mers or BPE pieces read upper-case DNA and are left alone.
    """
    vocabulary = tokenizer.get_vocab()
    letters = "ACGTN"
    if not any(letter in vocabulary for letter in letters) and all(letter.lower() in vocabulary for letter in "acg"):
        letters = letters.lower()
    if "T" not in vocabulary and "t" not in vocabulary and ("U" in vocabulary or "u" in vocabulary):
        letters = letters.replace("T", "U").replace("t", "u")
    return str.maketrans("ACGTN", letters)


def is_remote_code(obj) -> bool:
    """Whether ``obj``'s class was loaded from a model folder's own code (``trust_remote_code``)."""
    return type(obj).__module__.startswith("transformers_modules.")


def copy_remote_code(obj, folder) -> list[str]:
    """Copies the code file of a remote-code object (and the files it imports relatively) into ``folder``.

    A ChatNT folder is loaded as one repository: the encoder's and its tokenizer's code must lie in its root,
    where transformers looks for every ``auto_map`` entry of the folder. Nothing is copied for classes that
    come from installed packages.

    Raises:
        ValueError: a file of the same name but other content is already there (two codes would clash).
    """
    if not is_remote_code(obj):
        return []
    source = sys.modules[type(obj).__module__].__file__
    copied = []
    for path in [source, *get_relative_import_files(source)]:
        target = Path(folder) / Path(path).name
        if target.exists() and not filecmp.cmp(path, target, shallow=False):
            raise ValueError(
                f"Cannot save the code of {type(obj).__name__}: {target} already holds another file of that name. "
                "Rename the encoder's code file (and its auto_map entries) before combining it with ChatNT."
            )
        shutil.copyfile(path, target)
        copied.append(target.name)
    return copied


__all__ = [
    "INTERFACE_KEYS",
    "POSITION_LIMIT_NAMES",
    "WIDTH_NAMES",
    "copy_remote_code",
    "encoder_states",
    "is_remote_code",
    "nucleotide_spelling",
    "read_encoder_interface",
]
