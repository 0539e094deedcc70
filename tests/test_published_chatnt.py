"""The published ChatNT through this package: converter and parity with the published code's outputs.

The fixture (``../shared/fixtures/published_chatnt/tiny_random.npz``, or ``$CHATNT_PUBLISHED_FIXTURE``, see
``chatnt.evaluation.published_parity``) holds
the parameters of a tiny random-weight instance of the published JAX code under their published names, two
prompts (one and two DNA sequences) and the logits and projected vectors that code computed.
"""

import pickle
import re

import numpy as np
import pytest
import torch
from chatnt import ChatNTForConditionalGeneration
from chatnt.convert_published_chatnt import (
    IGNORED,
    ConversionError,
    PublishedChatNTSizes,
    PublishedParameters,
    convert,
    converted_tensors,
    main,
    published_config,
    read_published_parameters,
)
from chatnt.evaluation.published_parity import (
    DNA_TOKEN_ID,
    ENGLISH_PAD,
    FIXTURE_HEADS,
    case_inputs,
    fixture_path,
    load_fixture,
    parity_errors,
)
from safetensors.numpy import save_file

FIXTURE = fixture_path()
TINY = PublishedChatNTSizes(**FIXTURE_HEADS)
PERCEIVER_KEY_BIAS = re.compile(r"multi_modal_perceiver_layer_\d+/~/cross_attention_\d/key::b$")
PAD, DNA = ENGLISH_PAD, DNA_TOKEN_ID
# fp32 against fp32 computed by another framework: the logits (|x| <= 7) agree to ~3e-5; the projected vectors
# reach |x| ~ 200, where one float32 rounding step is ~1.5e-5, so they are compared relative to their scale.
LOGITS_TOLERANCE = 1e-4
PROJECTED_RELATIVE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def fixture():
    return load_fixture(FIXTURE)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return convert(FIXTURE, tmp_path_factory.mktemp("converted") / "chatnt-tiny", sizes=TINY)


@pytest.fixture(scope="module")
def model(converted):
    return ChatNTForConditionalGeneration.from_pretrained(converted).eval()


@pytest.mark.parametrize("case", ["one", "two"])
def test_converted_model_matches_the_published_code(model, fixture, case):
    logit_error, projected_error = parity_errors(model, fixture, case)
    assert logit_error < LOGITS_TOLERANCE
    assert projected_error < PROJECTED_RELATIVE_TOLERANCE


@pytest.mark.parametrize("case", ["one", "two"])
def test_greedy_generation_with_cache_picks_the_tokens_of_a_full_recompute(model, fixture, case):
    inputs, _ = case_inputs(fixture, case, model.config.num_latents)
    settings = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": PAD, "eos_token_id": None}
    with torch.no_grad():
        cached = model.generate(**inputs, use_cache=True, **settings)
        recomputed = model.generate(**inputs, use_cache=False, **settings)
    assert cached.shape[1] == inputs["input_ids"].shape[1] + 6
    assert torch.equal(cached, recomputed)


def test_every_parameter_of_the_fixture_matters(fixture, model):
    """Perturbing any one source parameter (all of its values, by 1 %) breaks parity: the test can fail, and no
    parameter is mapped to a place the computation ignores. Two exceptions, both by the mathematics, not the
    mapping: the encoder's masked-LM head (the projection reads the states before it), and the Perceiver's key
    biases (without positions, a key bias adds the same q.b to every logit of a query, which softmax cancels)."""
    source = read_published_parameters(FIXTURE)
    config = published_config(source, TINY)
    perturbable = [
        name for name in source.shapes if not IGNORED.match(name) and not PERCEIVER_KEY_BIAS.search(name)
    ]
    assert len(perturbable) == 112 - 6 - 4  # the masked-LM head: 3 weights, 3 biases/norms; 2 layers x 2 key biases
    undetected = []
    for target in perturbable:
        read = source.read

        def perturbed(name, target=target, read=read):
            tensor = read(name)
            return tensor * 1.01 + 0.01 if name == target else tensor

        params = PublishedParameters(source.shapes, perturbed, [])
        model.load_state_dict(dict(converted_tensors(params, config)))
        errors = [parity_errors(model, fixture, case) for case in ("one", "two")]
        if all(logit < LOGITS_TOLERANCE and projected < PROJECTED_RELATIVE_TOLERANCE for logit, projected in errors):
            undetected.append(target)
    model.load_state_dict(dict(converted_tensors(read_published_parameters(FIXTURE), config)))
    assert not undetected


def _fixture_parameters(fixture) -> dict[str, np.ndarray]:
    return {key: value for key, value in fixture.items() if key.startswith("param::")}


def test_safetensors_source_converts_like_npz(tmp_path, fixture, model):
    path = tmp_path / "params.safetensors"
    # Released-style names: the encoder and decoder as `bio_brain_*`, no `param::` prefix.
    renamed = {
        key[len("param::") :].replace("chat_nt_encoder/", "bio_brain_encoder/").replace("chat_nt_decoder/", "bio_brain_decoder/"): value
        for key, value in _fixture_parameters(fixture).items()
    }
    save_file(renamed, str(path))
    out = convert(path, tmp_path / "from-safetensors", sizes=TINY, max_shard_size="500KB")
    assert (out / "model.safetensors.index.json").is_file()  # 1.3 MB in shards of at most 500 kB
    reloaded = ChatNTForConditionalGeneration.from_pretrained(out)
    for name, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name


def test_an_unknown_parameter_is_an_error_naming_it(tmp_path, fixture):
    arrays = _fixture_parameters(fixture)
    arrays["param::chat_nt_decoder/llama_decoder/~/extra_adapter::w"] = np.zeros((2, 2), np.float32)
    np.savez(tmp_path / "extra.npz", **arrays)
    with pytest.raises(ConversionError, match="extra_adapter::w"):
        convert(tmp_path / "extra.npz", tmp_path / "out", sizes=TINY)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_a_missing_parameter_is_an_error_naming_it(tmp_path, fixture):
    arrays = _fixture_parameters(fixture)
    del arrays["param::chat_nt_decoder/llama_decoder/gpt_decoder_layer_1/~/ffn_RMS_norm::scale"]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(ConversionError, match="gpt_decoder_layer_1/~/ffn_RMS_norm::scale"):
        convert(tmp_path / "missing.npz", tmp_path / "out", sizes=TINY)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_a_damaged_source_file_is_a_one_line_error(tmp_path, capsys, suffix):
    damaged = tmp_path / f"params{suffix}"
    damaged.write_bytes(b"not what the suffix says")
    assert main(["--params", str(damaged), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "cannot be read" in error and "\n" not in error
    assert not (tmp_path / "out").exists()


def test_a_wrong_shape_is_an_error_naming_the_weight(tmp_path, fixture):
    arrays = _fixture_parameters(fixture)
    key = "param::multi_modal_perceiver_resampler_projection/multi_modal_perceiver_resampler/multi_modal_perceiver_layer_1/~/fc2::b"
    arrays[key] = np.zeros(63, np.float32)
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(ConversionError, match=r"layers\.1\.mlp\.fc2\.bias.*\(63,\).*\(64,\)"):
        convert(tmp_path / "shape.npz", tmp_path / "out", sizes=TINY)


class _Payload:
    """Unpickling this creates a file: the sign that a file was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_joblib_is_refused_without_the_opt_in_and_never_unpickled(tmp_path, capsys):
    marker = tmp_path / "unpickled"
    params = tmp_path / "params.joblib"
    params.write_bytes(pickle.dumps({"module": {"w": _Payload(str(marker))}}))
    assert main(["--params", str(params), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "--unpickle-joblib" in error and "\n" not in error
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_joblib_with_the_opt_in_converts(tmp_path, fixture, model):
    joblib = pytest.importorskip("joblib")
    tree: dict[str, dict[str, np.ndarray]] = {}
    for key, value in _fixture_parameters(fixture).items():
        module, name = key[len("param::") :].split("::")
        tree.setdefault(module.replace("chat_nt_", "bio_brain_"), {})[name] = value
    joblib.dump(tree, tmp_path / "params.joblib")
    out = convert(tmp_path / "params.joblib", tmp_path / "out", sizes=TINY, unpickle_joblib=True)
    reloaded = ChatNTForConditionalGeneration.from_pretrained(out)
    assert torch.equal(reloaded.lm_head.weight, model.lm_head.weight)


def test_the_converted_folder_says_where_it_comes_from(converted):
    card = (converted / "README.md").read_text(encoding="utf-8")
    assert "license: cc-by-nc-sa-4.0" in card and "non-commercial" in card
    assert "tiny_random.npz" in card and "sha256" in card


def fixture_english_tokenizer(folder):
    """A word-level tokenizer for the fixture's 40-token English vocabulary: <unk> 0, <s> 1, </s> 2, w3..w39."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"w{i}": i for i in range(3, 40)}}
    backend = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def converted_with_processor(tmp_path_factory):
    root = tmp_path_factory.mktemp("with-processor")
    tokenizer = fixture_english_tokenizer(root / "english_tokenizer")
    return convert(FIXTURE, root / "chatnt-tiny", sizes=TINY, english_tokenizer=tokenizer)


@pytest.mark.parametrize("case", ["one", "two"])
def test_the_converted_processor_builds_the_published_inputs(converted_with_processor, fixture, case, model):
    """From text and DNA strings to the published logits: the processor writes each <DNA> K + 1 times and
    tokenizes the DNA as the published 6-mer tokenizer."""
    from chatnt import ChatNTProcessor, NucleotideTransformerTokenizer

    processor = ChatNTProcessor.from_pretrained(converted_with_processor)
    assert processor.keep_dna_token and processor.max_dna_tokens == 512
    english = fixture[f"{case}/english"][0].tolist()
    words = {1: "<s>", DNA: "<DNA>"}
    text = " ".join(words.get(token, f"w{token}") for token in english[: english.index(PAD)])
    dna_tokenizer = NucleotideTransformerTokenizer()
    sequences = [
        "".join(dna_tokenizer.convert_ids_to_tokens([token for token in row[1:] if token != 1]))
        for row in fixture[f"{case}/bio"][0].tolist()
    ]
    inputs = processor(text, sequences, apply_template=False)
    expected, positions = case_inputs(fixture, case, model.config.num_latents)
    assert torch.equal(inputs["input_ids"], expected["input_ids"])
    # The published pipeline pads the DNA further (with masked pad tokens, which change nothing).
    width = inputs["dna_input_ids"].shape[1]
    assert torch.equal(inputs["dna_input_ids"], expected["dna_input_ids"][:, :width])
    assert (expected["dna_input_ids"][:, width:] == 1).all()
    with torch.no_grad():
        logits = model(**inputs).logits[0, list(positions.values())]
    expected_logits = torch.from_numpy(fixture[f"{case}/logits"][0])[list(positions)]
    assert (logits - expected_logits).abs().max() < LOGITS_TOLERANCE


def test_the_converted_model_answers_through_the_pipeline(converted_with_processor):
    from transformers import pipeline

    pipe = pipeline("text-generation", model=str(converted_with_processor), trust_remote_code=True)
    output = pipe(inputs={"english_sequence": "w5 w6 <DNA> w7", "dna_sequences": ["ACGTAC" * 9]}, max_new_tokens=4)
    assert isinstance(output[0]["generated_text"], str)
    rendered = pipe.processor("w5 <DNA>", ["ACGTAC" * 9], return_tensors=None)
    assert rendered["input_ids"][0][:1] == [1]  # the published prompt format: <s>{system} USER: ... ASSISTANT:


def test_the_decoder_final_norm_keeps_its_own_epsilon(model):
    """Published: RMSNorm eps 1e-6 in the decoder layers, haiku's default 1e-5 in the final norm. The fixture's
    logits cannot tell the two apart (they are identical either way), so the setting is checked where it lands."""
    decoder = model.model.language_model
    assert decoder.norm.variance_epsilon == 1e-5
    assert {layer.input_layernorm.variance_epsilon for layer in decoder.layers} == {1e-6}


def test_a_final_norm_epsilon_needs_a_llama_style_decoder():
    from chatnt import ChatNTConfig
    from transformers import GPT2Config

    config = ChatNTConfig(
        text_config=GPT2Config(n_embd=32, n_layer=1, n_head=4, vocab_size=50), num_latents=2,
        projector_num_heads=4, projector_intermediate_size=32, text_final_norm_eps=1e-5,
    )
    with pytest.raises(ValueError, match="text_final_norm_eps needs a LLaMA-style decoder"):
        ChatNTForConditionalGeneration(config)
