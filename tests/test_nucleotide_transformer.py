import json

import pytest
import torch
from chatnt import (
    ChatNTConfig,
    NucleotideTransformerConfig,
    NucleotideTransformerForMaskedLM,
    NucleotideTransformerModel,
)
from helpers import tiny_dna_config
from safetensors.torch import load_file, save_file
from transformers import AutoModel, BertConfig, EsmConfig


def test_forward_shapes_and_padding_invariance(dna_tokenizer):
    torch.manual_seed(0)
    encoder = NucleotideTransformerModel(tiny_dna_config()).eval()
    batch = dna_tokenizer(["ACGTACGTAAN", "TTGACA"], padding=True, return_tensors="pt")
    states = encoder(**batch).last_hidden_state
    assert states.shape == (2, 7, 32)  # <cls> ACGTAC G T A A N
    alone = encoder(**dna_tokenizer(["TTGACA"], return_tensors="pt")).last_hidden_state
    torch.testing.assert_close(alone[0], states[1, :2], atol=1e-5, rtol=1e-5)


def test_swiglu_ffn_without_bias_has_published_shapes():
    encoder = NucleotideTransformerModel(tiny_dna_config())
    intermediate = encoder.encoder.layer[0].intermediate.dense
    assert intermediate.weight.shape == (2 * 64, 32) and intermediate.bias is None
    assert encoder.encoder.layer[0].output.dense.bias is None


def test_loads_a_published_style_esm_checkpoint_without_renaming(tmp_path, dna_tokenizer):
    """A checkpoint as the published NT v2 ones are laid out: ESM config.json, esm.* keys, per-layer inv_freq."""
    torch.manual_seed(0)
    reference = NucleotideTransformerForMaskedLM(tiny_dna_config()).eval()
    state = {name: tensor.clone() for name, tensor in reference.state_dict().items()}
    head_dim = 32 // 4
    for layer in range(2):
        state[f"esm.encoder.layer.{layer}.attention.self.rotary_embeddings.inv_freq"] = 1.0 / (
            10000 ** (torch.arange(0, head_dim, 2).float() / head_dim)
        )
    state["esm.contact_head.regression.weight"] = torch.zeros(1, 8)
    save_file(state, tmp_path / "model.safetensors")
    published_config = {
        "architectures": ["EsmForMaskedLM"],
        "model_type": "esm",
        "add_bias_fnn": False,
        "position_embedding_type": "rotary",
        "emb_layer_norm_before": False,
        "token_dropout": False,
        "is_folding_model": False,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "vocab_size": 4107,
        "max_position_embeddings": 2050,
        "layer_norm_eps": 1e-5,
        "pad_token_id": 1,
        "mask_token_id": 2,
        "tie_word_embeddings": False,
    }
    (tmp_path / "config.json").write_text(json.dumps(published_config))
    loaded = NucleotideTransformerForMaskedLM.from_pretrained(tmp_path).eval()
    batch = dna_tokenizer(["ACGTACGTAANGGT"], return_tensors="pt")
    torch.testing.assert_close(loaded(**batch).logits, reference(**batch).logits)
    assert set(load_file(tmp_path / "model.safetensors")) >= set(reference.state_dict())


def test_published_config_dict_becomes_nt_config_in_chatnt():
    config = ChatNTConfig(dna_config={"model_type": "esm", "add_bias_fnn": False, "hidden_size": 64,
                                      "num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 32})
    assert isinstance(config.dna_config, NucleotideTransformerConfig)
    assert config.dna_config.hidden_size == 64


@pytest.mark.parametrize(
    "dna_config",
    [
        EsmConfig(vocab_size=4107, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                  pad_token_id=1, position_embedding_type="rotary", max_position_embeddings=64),
        BertConfig(vocab_size=4107, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                   pad_token_id=1),
    ],
    ids=["esm", "bert"],
)
def test_other_automodel_encoders_plug_in(make_model, make_processor, dna_config):
    model = make_model(dna_config=dna_config)
    assert isinstance(model.model.dna_encoder, type(AutoModel.from_config(dna_config)))
    inputs = make_processor()("Is <DNA> a promoter?", ["ACGTACGTACGTAGCTAGCTAGCT"])
    logits = model(**inputs).logits
    assert torch.isfinite(logits).all()


def test_rejects_non_rotary_and_overlong_inputs():
    with pytest.raises(ValueError, match="rotary"):
        NucleotideTransformerConfig(position_embedding_type="absolute")
    encoder = NucleotideTransformerModel(tiny_dna_config(max_position_embeddings=8))
    with pytest.raises(ValueError, match="at most 8"):
        encoder(input_ids=torch.full((1, 9), 6))


@pytest.mark.parametrize(
    ("problem_type", "num_labels", "labels"),
    [
        ("single_label_classification", 3, torch.tensor([0, 2])),
        ("multi_label_classification", 4, torch.tensor([[1.0, 0, 0, 1], [0, 0, 0, 0]])),
        ("regression", 1, torch.tensor([41.5, 60.0])),
    ],
)
def test_sequence_classifier_pools_real_tokens_and_picks_its_loss(problem_type, num_labels, labels):
    from chatnt import NucleotideTransformerForSequenceClassification
    from transformers import AutoConfig, AutoModelForSequenceClassification

    torch.manual_seed(0)
    config = tiny_dna_config(num_labels=num_labels, problem_type=problem_type)
    model = NucleotideTransformerForSequenceClassification(config).eval()
    assert type(AutoModelForSequenceClassification.from_config(AutoConfig.for_model("nucleotide_transformer"))).__name__ == (
        "NucleotideTransformerForSequenceClassification"
    )
    ids = torch.randint(5, 100, (2, 6))
    mask = torch.ones_like(ids)
    padded_ids = torch.cat([ids, torch.ones(2, 3, dtype=torch.long)], dim=1)  # id 1 = <pad>
    padded_mask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    output = model(input_ids=ids, attention_mask=mask, labels=labels)
    padded = model(input_ids=padded_ids, attention_mask=padded_mask, labels=labels)
    assert output.logits.shape == (2, num_labels)
    torch.testing.assert_close(padded.logits, output.logits)  # padding does not dilute the mean
    loss = {
        "single_label_classification": lambda: torch.nn.functional.cross_entropy(output.logits, labels),
        "multi_label_classification": lambda: torch.nn.functional.binary_cross_entropy_with_logits(output.logits, labels),
        "regression": lambda: torch.nn.functional.mse_loss(output.logits.squeeze(-1), labels),
    }[problem_type]
    torch.testing.assert_close(output.loss, loss())
