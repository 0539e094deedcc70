"""Command-line parsing where a ``--preset`` chooses the defaults of every other argument.

Each recipe has named presets (``mini`` for a CPU, larger ones for GPUs) whose training values must be
the *defaults* of the full parse, so that any flag given on the command line still wins. That takes two
passes: the first reads ``--preset`` alone, the second parses everything with the preset's defaults.
"""

import sys
from collections.abc import Mapping, Sequence

from transformers import HfArgumentParser


def parse_with_preset(
    argv: list[str] | None,
    dataclass_types: Sequence[type],
    preset_defaults: Mapping[str, Mapping],
    **fixed_defaults,
) -> tuple:
    """Parses ``argv`` into ``dataclass_types`` with the chosen preset's values as defaults.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        dataclass_types: the dataclasses to fill; the first has the ``preset`` field.
        preset_defaults: preset name -> defaults for the full parse (e.g. TrainingArguments fields).
        **fixed_defaults: defaults every preset shares (applied after the preset's).

    Returns:
        One instance per dataclass type, as ``HfArgumentParser.parse_args_into_dataclasses``.

    Raises:
        ValueError: an unknown preset, naming the known ones.
    """
    argv = sys.argv[1:] if argv is None else argv
    preset = dataclass_types[0].preset  # the field's default
    # With --help the full parser must print every argument, so the first pass is skipped.
    if not {"-h", "--help"} & set(argv):
        preset = HfArgumentParser(dataclass_types[0]).parse_known_args(argv)[0].preset
    if preset not in preset_defaults:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(preset_defaults)}.")
    parser = HfArgumentParser(tuple(dataclass_types))
    parser.set_defaults(**{**preset_defaults[preset], **fixed_defaults})
    return parser.parse_args_into_dataclasses(args=argv)


__all__ = ["parse_with_preset"]
