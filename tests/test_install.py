"""The install the README's commands make: locked versions, tested lower bounds, a command line that starts at once."""

import os
import re
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK = REPO_ROOT / "requirements.lock"
sys.path.insert(0, str(REPO_ROOT / "tools"))
from requirement_floors import floors  # noqa: E402


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{LOCK.name}: {line!r} is not an exact pin (name==version)"
            pins[_normalized(name)] = version.strip()
    return pins


def test_every_lower_bound_of_setup_py_is_the_locked_version():
    # make test installs the lock, so a bound above or below its pin would be a bound nobody tested.
    locked = _locked()
    for name, bound in floors().items():
        pinned = locked.get(_normalized(name))
        assert pinned is not None, f"{name} is required by setup.py but not in {LOCK.name}: run make lock"
        assert pinned.split("+")[0] == bound, f"setup.py requires {name}>={bound}, {LOCK.name} pins {pinned}: run make lock"


@pytest.mark.skipif(os.environ.get("CHATNT_UNLOCKED") == "1", reason="make test-latest runs unlocked on purpose")
def test_the_environment_is_the_lock():
    locked = _locked()
    installed = {_normalized(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"] != "chatnt"}
    assert {name: version for name, version in installed.items() if locked.get(name) != version} == {}
    assert sorted(set(locked) - set(installed)) == []


def test_the_command_line_starts_without_torch_or_transformers():
    # What bin/chatnt does before `chatnt --help`: no import that takes seconds.
    script = (
        "import os, sys; os.environ['CHATNT_DEFER_AUTO_REGISTRATION'] = '1'; import chatnt.cli; "
        "chatnt.cli.build_parser(); print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]"


def test_the_chatnt_command_prints_its_help():
    command = Path(sys.executable).parent / "chatnt"
    output = subprocess.run([str(command), "--help"], capture_output=True, text=True, check=True)
    assert output.stdout.startswith("usage: chatnt") and output.stderr == ""


def test_a_plain_import_registers_the_auto_classes_and_names_load_on_use():
    script = (
        "import chatnt; from transformers import AutoConfig; "
        "print(type(AutoConfig.for_model('chatnt')).__name__, chatnt.ChatNTProcessor.__name__)"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert output.stdout.split() == ["ChatNTConfig", "ChatNTProcessor"]


def test_the_floors_come_from_setup_py_and_a_requirement_without_one_is_refused(tmp_path):
    setup_py = tmp_path / "setup.py"
    setup_py.write_text(
        'setup(install_requires=["torch>=2.13.0", "transformers>=5.24.0,<6"],\n'
        '      extras_require={"demo": ["gradio>=6.31.0,<7"], "test": ["gradio>=6.31.0,<7"]})\n'
    )
    assert floors(setup_py) == {"torch": "2.13.0", "transformers": "5.24.0", "gradio": "6.31.0"}
    setup_py.write_text('setup(install_requires=["torch>=2.13.0", "tqdm"])\n')
    with pytest.raises(SystemExit, match="'tqdm' without a lower bound"):
        floors(setup_py)
    setup_py.write_text('setup(install_requires=["gradio>=6.0"], extras_require={"demo": ["gradio>=6.31.0"]})\n')
    with pytest.raises(SystemExit, match="two lower bounds"):
        floors(setup_py)
