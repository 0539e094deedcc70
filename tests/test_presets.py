"""parse_with_preset: the preset's values are defaults, explicit flags win, unknown presets are named."""

from dataclasses import dataclass, field

import pytest
from chatnt.training.presets import parse_with_preset


@dataclass
class Script:
    preset: str = field(default="mini")
    name: str = "run"


@dataclass
class Training:
    steps: int = 1
    rate: float = 0.1
    fixed: str = "unset"


PRESETS = {"mini": {"steps": 10}, "large": {"steps": 1000, "rate": 0.01}}


def test_the_chosen_preset_gives_the_defaults():
    script, training = parse_with_preset(["--preset", "large"], (Script, Training), PRESETS)
    assert (script.preset, training.steps, training.rate) == ("large", 1000, 0.01)
    _, training = parse_with_preset([], (Script, Training), PRESETS)
    assert (training.steps, training.rate) == (10, 0.1)  # the field's default preset, "mini"


def test_explicit_flags_and_fixed_defaults():
    _, training = parse_with_preset(["--preset", "large", "--steps", "5"], (Script, Training), PRESETS, fixed="yes")
    assert (training.steps, training.rate, training.fixed) == (5, 0.01, "yes")


def test_an_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown preset 'huge'; choose one of \['large', 'mini'\]"):
        parse_with_preset(["--preset", "huge"], (Script, Training), PRESETS)


def test_help_lists_every_argument(capsys):
    with pytest.raises(SystemExit):
        parse_with_preset(["--help"], (Script, Training), PRESETS)
    printed = capsys.readouterr().out
    assert all(flag in printed for flag in ("--preset", "--name", "--steps", "--rate"))
