"""Exporting a trained DNAHLM: inference files only, safetensors, size limit, loadable as is."""

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from tokenizers import Tokenizer, models, pre_tokenizers

from chatnt.training.dnahlm.export import export


@pytest.fixture()
def trained_dir(tmp_path):
    vocab = {"<|endoftext|>": 0, "<|pad|>": 1, **{c: i + 2 for i, c in enumerate("ACGT")}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<|pad|>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>", pad_token="<|pad|>")
    model = GPT2LMHeadModel(GPT2Config(vocab_size=6, n_layer=1, n_embd=16, n_head=2, n_positions=32, use_cache=False))
    source = tmp_path / "run"
    model.save_pretrained(source)
    tokenizer.save_pretrained(source)
    torch.save({"not": "shippable"}, source / "training_args.bin")
    return source, model


def test_export_writes_only_inference_files(trained_dir, tmp_path):
    source, model = trained_dir
    files = {p.name for p in export(str(source), str(tmp_path / "ckpt"))}
    assert "model.safetensors" in files and "config.json" in files and "tokenizer.json" in files
    assert not {name for name in files if name.endswith((".bin", ".pt", ".pth"))}
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt")
    assert reloaded.config.use_cache is True
    ids = torch.tensor([[2, 3, 4, 5]])
    torch.testing.assert_close(reloaded(ids).logits, model.eval()(ids).logits)


def test_export_refuses_files_over_the_limit(trained_dir, tmp_path):
    source, _ = trained_dir
    with pytest.raises(ValueError, match="Files over"):
        export(str(source), str(tmp_path / "ckpt"), max_file_mb=0.001)
