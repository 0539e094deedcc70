"""Building ChatNT from pretrained parts, checkpoints without the frozen decoder, and PEFT LoRA."""

import os

import pytest
import torch
from chatnt import ChatNTForConditionalGeneration, NucleotideTransformerModel, NucleotideTransformerTokenizer
from helpers import build_text_tokenizer, publish_to_hub_cache, tiny_dna_config
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SEQUENCE = "ACGTACGTAAGGCTTTGACAATCGGATC"
PLAIN_DECODER = "chatnt-tests/plain-llama"  # the decoder below, on the test run's Hub cache


def _plain_text_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny tokenizer without <DNA>, as a decoder tokenizer comes from its authors."""
    backend = build_text_tokenizer().backend_tokenizer
    # Same vocabulary size, but the <DNA> entry renamed: from_encoder_decoder_pretrained must add it.
    backend_without = type(backend).from_str(backend.to_str().replace('"<DNA>"', '"<RESERVED>"'))
    return PreTrainedTokenizerFast(tokenizer_object=backend_without, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


@pytest.fixture(scope="module")
def pretrained_parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    torch.manual_seed(0)
    encoder = NucleotideTransformerModel(tiny_dna_config(max_position_embeddings=128))
    encoder.save_pretrained(root / "encoder")
    NucleotideTransformerTokenizer().save_pretrained(root / "encoder")
    tokenizer = _plain_text_tokenizer()
    decoder = LlamaForCausalLM(LlamaConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
        vocab_size=len(tokenizer), tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ))
    decoder.save_pretrained(root / "decoder")
    tokenizer.save_pretrained(root / "decoder")
    publish_to_hub_cache(root / "decoder", PLAIN_DECODER)
    return root


@pytest.fixture
def built(pretrained_parts):
    return ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        pretrained_parts / "encoder", PLAIN_DECODER, num_latents=4, projector_num_heads=4,
        projector_intermediate_size=64,
    )


def test_builds_from_pretrained_encoder_and_decoder(pretrained_parts, built):
    model, processor = built
    decoder = AutoModelForCausalLM.from_pretrained(pretrained_parts / "decoder")
    encoder = NucleotideTransformerModel.from_pretrained(pretrained_parts / "encoder")
    original_rows = decoder.get_input_embeddings().weight.shape[0]
    assert "<DNA>" in processor.tokenizer.get_vocab()
    assert model.get_input_embeddings().weight.shape[0] == original_rows + 1 == len(processor.tokenizer)
    assert model.config.dna_token_id == processor.dna_token_id == original_rows
    torch.testing.assert_close(model.get_input_embeddings().weight[:original_rows], decoder.get_input_embeddings().weight)
    torch.testing.assert_close(
        model.model.language_model.layers[1].mlp.up_proj.weight, decoder.model.layers[1].mlp.up_proj.weight
    )
    torch.testing.assert_close(model.model.dna_encoder.encoder.layer[0].intermediate.dense.weight,
                               encoder.encoder.layer[0].intermediate.dense.weight)
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()  # tied, as the decoder
    assert model.config.max_dna_tokens == 128
    assert not any(p.requires_grad for p in model.model.language_model.parameters())
    output = model.generate(**processor("Is <DNA> a promoter?", [SEQUENCE]), max_new_tokens=3, do_sample=False)
    assert output.shape[0] == 1


def test_no_resize_when_the_tokenizer_already_has_the_dna_token(tmp_path, pretrained_parts, built):
    model, processor = built
    model.save_pretrained(tmp_path / "decoder_with_dna", include_text_model=True)
    # A decoder whose tokenizer and embeddings already hold <DNA>: the vocabulary must stay as it is.
    text_model = LlamaForCausalLM(model.config.text_config)
    text_model.save_pretrained(tmp_path / "decoder_with_dna")
    processor.tokenizer.save_pretrained(tmp_path / "decoder_with_dna")
    again, _ = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        pretrained_parts / "encoder", tmp_path / "decoder_with_dna", num_latents=4, projector_num_heads=4
    )
    assert again.get_input_embeddings().weight.shape[0] == model.get_input_embeddings().weight.shape[0]


def test_checkpoint_without_decoder_reloads_the_same_model(tmp_path, built):
    model, processor = built
    with torch.no_grad():
        model.model.projector.latents.add_(0.5)  # "trained" parts differ from any fresh init
        model.get_input_embeddings().weight[-1] += 1.0  # the new <DNA> row is stored too
    model.save_pretrained(tmp_path / "light", include_text_model=False)
    processor.save_pretrained(tmp_path / "light")
    stored = load_file(tmp_path / "light" / "model.safetensors")
    assert not any(name.startswith(("model.language_model.", "lm_head.")) for name in stored)
    assert any(name.startswith("model.dna_encoder.") for name in stored)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "light").eval()
    assert reloaded.name_or_path == str(tmp_path / "light")
    inputs = processor("Is <DNA> a promoter?", [SEQUENCE])
    torch.testing.assert_close(reloaded(**inputs).logits, model.eval()(**inputs).logits)
    assert not any(p.requires_grad for p in reloaded.model.language_model.parameters())
    model.save_pretrained(tmp_path / "full")
    full_size = (tmp_path / "full" / "model.safetensors").stat().st_size
    assert (tmp_path / "light" / "model.safetensors").stat().st_size < full_size


def test_a_different_decoder_is_refused(tmp_path, pretrained_parts, built):
    model, _ = built
    model.save_pretrained(tmp_path / "light", include_text_model=False)
    other = AutoModelForCausalLM.from_pretrained(pretrained_parts / "decoder")
    with torch.no_grad():
        other.model.layers[0].mlp.up_proj.weight.mul_(1.01)
    other.save_pretrained(tmp_path / "other_decoder")
    with pytest.raises(ValueError, match="not the one this checkpoint was trained with"):
        ChatNTForConditionalGeneration.from_pretrained(tmp_path / "light", text_model_name_or_path=tmp_path / "other_decoder")


def _verified_decoders(monkeypatch, tmp_path, calls: list):
    """A fresh record of verified decoders, and every full decoder hash counted in ``calls``."""
    import chatnt.modeling_chatnt as modeling

    monkeypatch.setenv("CHATNT_CACHE", str(tmp_path / "cache"))
    checksum = modeling.text_model_checksum
    monkeypatch.setattr(modeling, "text_model_checksum", lambda *args: calls.append(1) or checksum(*args))


def test_a_verified_decoder_is_not_hashed_again_until_its_files_change(tmp_path, monkeypatch, pretrained_parts, built):
    model, _ = built
    model.save_pretrained(tmp_path / "light", include_text_model=False)
    decoder = tmp_path / "decoder"
    AutoModelForCausalLM.from_pretrained(pretrained_parts / "decoder").save_pretrained(decoder)
    hashes = []
    _verified_decoders(monkeypatch, tmp_path, hashes)
    load = lambda: ChatNTForConditionalGeneration.from_pretrained(tmp_path / "light", text_model_name_or_path=decoder)
    load()
    load()
    assert len(hashes) == 1  # the second load trusted the first one's verdict
    (decoder / "model.safetensors").touch()  # same bytes, but the file changed as far as its identity shows
    load()
    assert len(hashes) == 2
    with pytest.raises(ValueError, match="not the one this checkpoint was trained with"):
        ChatNTForConditionalGeneration.from_pretrained(tmp_path / "light", text_model_name_or_path=decoder, dtype=torch.float64)


def test_a_decoder_whose_weights_change_after_its_verdict_is_refused(tmp_path, monkeypatch, pretrained_parts, built):
    model, _ = built
    model.save_pretrained(tmp_path / "light", include_text_model=False)
    decoder = tmp_path / "decoder"
    AutoModelForCausalLM.from_pretrained(pretrained_parts / "decoder").save_pretrained(decoder)
    _verified_decoders(monkeypatch, tmp_path, [])
    ChatNTForConditionalGeneration.from_pretrained(tmp_path / "light", text_model_name_or_path=decoder)  # verified
    weights = decoder / "model.safetensors"
    before = weights.stat()
    other = AutoModelForCausalLM.from_pretrained(decoder)
    with torch.no_grad():
        other.model.layers[0].mlp.up_proj.weight.mul_(1.01)  # same size on disk: only the values differ
    other.save_pretrained(tmp_path / "other")
    # Rewritten in place (same inode, same size) and given back its old modification time: only the change
    # time, which nobody can set back, tells.
    with open(weights, "r+b") as file:
        file.write((tmp_path / "other" / "model.safetensors").read_bytes())
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = weights.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    with pytest.raises(ValueError, match="not the one this checkpoint was trained with"):
        ChatNTForConditionalGeneration.from_pretrained(tmp_path / "light", text_model_name_or_path=decoder)


def test_a_decoder_file_written_while_it_was_loaded_gets_no_verdict(tmp_path, monkeypatch, pretrained_parts):
    from chatnt.decoder_reference import is_verified_decoder, remember_verified_decoder, weight_files_identity

    monkeypatch.setenv("CHATNT_CACHE", str(tmp_path / "cache"))
    decoder = tmp_path / "decoder"
    AutoModelForCausalLM.from_pretrained(pretrained_parts / "decoder").save_pretrained(decoder)
    verdict = (torch.float32, "0" * 64, 10)
    before_loading = weight_files_identity(decoder)
    (decoder / "model.safetensors").touch()  # written to between the identity and the end of the hash
    remember_verified_decoder(decoder, before_loading, *verdict)
    assert not (tmp_path / "cache" / "verified_decoders.json").exists()  # no verdict recorded
    identity = weight_files_identity(decoder)
    remember_verified_decoder(decoder, identity, *verdict)
    assert is_verified_decoder(decoder, identity, *verdict)
    assert not is_verified_decoder(decoder, identity, torch.bfloat16, "0" * 64, 10)
    (decoder / "model.safetensors").touch()  # written to while the next load reads it
    assert not is_verified_decoder(decoder, identity, *verdict)


def test_saving_without_a_changed_decoder_is_refused(tmp_path, built):
    model, _ = built
    with torch.no_grad():
        model.model.language_model.layers[0].self_attn.q_proj.weight.add_(0.1)
    with pytest.raises(ValueError, match="differ from the referenced ones"):
        model.save_pretrained(tmp_path / "light", include_text_model=False)


def test_lora_on_decoder_attention_and_encoder_trains_saves_reloads_and_generates(tmp_path, make_model, make_processor):
    model, processor = make_model(decoder_init_range=0.2), make_processor()
    model.save_pretrained(tmp_path / "base")
    lora = LoraConfig(
        task_type="CAUSAL_LM", r=4, lora_alpha=8,
        target_modules=r".*(language_model\..*\.(q_proj|v_proj)|dna_encoder\..*\.(query|value))",
    )
    peft_model = get_peft_model(model, lora)
    wrapped = [name for name, module in peft_model.named_modules() if hasattr(module, "lora_A")]
    assert any("language_model" in name for name in wrapped) and any("dna_encoder" in name for name in wrapped)
    assert not any("projector" in name for name in wrapped)
    inputs = processor(["Is <DNA> a promoter?"], [[SEQUENCE]], answers=["Yes, it is a promoter."])
    optimizer = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    peft_model.train()
    losses = []
    for _ in range(10):
        loss = peft_model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    peft_model.eval()
    question = processor("Is <DNA> a promoter?", [SEQUENCE])
    expected = peft_model(**question).logits
    peft_model.save_pretrained(tmp_path / "adapter")
    base = ChatNTForConditionalGeneration.from_pretrained(tmp_path / "base")
    # The projector trained too (outside LoRA); carry it over as a user would with modules_to_save.
    base.model.projector.load_state_dict(model.model.projector.state_dict())
    reloaded = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    torch.testing.assert_close(reloaded(**question).logits, expected)
    generated = reloaded.generate(**question, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == question["input_ids"].shape[1] + 4


def test_trained_parts_stored_in_bfloat16_halve_the_file_and_reload_in_float32(tmp_path, built):
    model, processor = built
    model.save_pretrained(tmp_path / "fp32", include_text_model=False)
    model.save_pretrained(tmp_path / "bf16", include_text_model=False, trained_parts_dtype=torch.bfloat16)
    stored = load_file(tmp_path / "bf16" / "model.safetensors")
    assert {tensor.dtype for tensor in stored.values() if tensor.is_floating_point()} == {torch.bfloat16}
    fp32_size = (tmp_path / "fp32" / "model.safetensors").stat().st_size
    assert (tmp_path / "bf16" / "model.safetensors").stat().st_size < 0.6 * fp32_size
    reloaded = ChatNTForConditionalGeneration.from_pretrained(tmp_path / "bf16")
    assert reloaded.dtype == torch.float32
    for name, tensor in stored.items():
        torch.testing.assert_close(reloaded.state_dict()[name], tensor.float())
        torch.testing.assert_close(reloaded.state_dict()[name], model.state_dict()[name], atol=0.02, rtol=0.01)
    # Saving in bf16 leaves the model itself in float32.
    assert model.dtype == torch.float32


def test_a_decoder_that_cannot_be_found_is_named_with_the_fix(tmp_path, built):
    model, _ = built
    model.config.text_model_reference["source"] = {"hub_id": "chatnt-tests/moved-away", "revision": "0" * 40}
    model.save_pretrained(tmp_path / "light", include_text_model=False)
    with pytest.raises(OSError, match=r"chatnt-tests/moved-away \(Hub, revision 0+\).*text_model_name_or_path="):
        ChatNTForConditionalGeneration.from_pretrained(tmp_path / "light")
