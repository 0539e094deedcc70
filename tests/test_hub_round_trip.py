"""Remote code, plugin and pipeline: ChatNT the way Hugging Face users load it."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from chatnt import ChatNTForConditionalGeneration, ChatNTProcessor
from chatnt.calibration import PlattCalibrator
from chatnt.perplexity_classifier import classify
from helpers import REPO_ROOT, WITHOUT_CHATNT, fresh_process_env, random_dna
from transformers import AutoModelForCausalLM, AutoProcessor, pipeline

SEQUENCE = "ACGTACGTAAGGCTTTGACAATCG"

# Run in a fresh interpreter, in another directory, where `import chatnt` fails: everything must come
# from the saved directory through trust_remote_code.
FRESH_PROCESS_SCRIPT = WITHOUT_CHATNT + textwrap.dedent(
    """
    import json, sys

    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoProcessor, pipeline

    saved, resaved, reference = sys.argv[1], sys.argv[2], sys.argv[3]
    report = {}
    config = AutoConfig.from_pretrained(saved, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(saved, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(saved, trust_remote_code=True).eval()
    base = AutoModel.from_pretrained(saved, trust_remote_code=True).eval()
    report["modules"] = [type(o).__module__ for o in (config, processor, processor.dna_tokenizer, model, base)]
    inputs = processor("Is <DNA> a promoter?", ["%s"])
    expected = torch.load(reference)
    report["same_logits"] = torch.allclose(model(**inputs).logits, expected["logits"], atol=1e-5)
    report["same_hidden"] = torch.allclose(base(**inputs).last_hidden_state, expected["hidden"], atol=1e-5)
    model.save_pretrained(resaved)
    processor.save_pretrained(resaved)
    reloaded = AutoModelForCausalLM.from_pretrained(resaved, trust_remote_code=True).eval()
    report["resaved_same_logits"] = torch.allclose(reloaded(**inputs).logits, expected["logits"], atol=1e-5)
    pipe = pipeline("text-generation", model=resaved, trust_remote_code=True)
    report["pipeline_class"] = type(pipe).__name__
    report["pipeline_output"] = pipe("Is <DNA> a promoter?", dna_sequences=["%s"], max_new_tokens=4, do_sample=False)
    report["classify"] = pipe("Is <DNA> a promoter?", dna_sequences=["%s"], max_new_tokens=4, do_sample=False,
                              return_confidence=True)[0]
    print(json.dumps(report))
    """
    % (SEQUENCE, SEQUENCE, SEQUENCE)
)


@pytest.fixture
def saved_model(tmp_path, make_model, make_processor):
    model, processor = make_model(), make_processor()
    model.calibrator = PlattCalibrator()
    model.calibrator.coef, model.calibrator.intercept = 1.5, 0.2
    directory = tmp_path / "chatnt-tiny"
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory, model, processor


def test_save_writes_auto_map_custom_pipeline_and_code(saved_model):
    directory, _, _ = saved_model
    config = json.loads((directory / "config.json").read_text())
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForCausalLM"}
    assert config["custom_pipelines"]["text-generation"]["impl"] == "pipeline_chatnt.ChatNTPipeline"
    processor_config = json.loads((directory / "processor_config.json").read_text())
    assert processor_config["auto_map"] == {"AutoProcessor": "processing_chatnt.ChatNTProcessor"}
    for name in ["configuration_chatnt.py", "modeling_chatnt.py", "modeling_nucleotide_transformer.py",
                 "configuration_nucleotide_transformer.py", "pipeline_chatnt.py", "processing_chatnt.py", "fasta.py",
                 "perplexity_classifier.py", "calibration.json",
                 "dna_tokenizer/tokenization_nucleotide_transformer.py"]:
        assert (directory / name).is_file(), name


def test_fresh_process_without_chatnt_loads_with_trust_remote_code(tmp_path, saved_model):
    directory, model, processor = saved_model
    inputs = processor("Is <DNA> a promoter?", [SEQUENCE])
    reference = tmp_path / "reference.pt"
    torch.save({"logits": model(**inputs).logits, "hidden": model.model(**inputs).last_hidden_state}, reference)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = fresh_process_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_SCRIPT, str(directory), str(tmp_path / "resaved"), str(reference)],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(module.startswith("transformers_modules.") for module in report["modules"]), report["modules"]
    assert report["same_logits"] and report["same_hidden"] and report["resaved_same_logits"]
    assert report["pipeline_class"] == "ChatNTPipeline"
    assert isinstance(report["pipeline_output"][0]["generated_text"], str)
    expected = classify(model, processor, "Is <DNA> a promoter?", [SEQUENCE])
    assert report["classify"]["calibrated"] and report["classify"]["label"] == expected["label"]
    assert report["classify"]["probability"] == pytest.approx(expected["probability"], abs=1e-5)


def test_plugin_loads_without_trust_remote_code(saved_model):
    directory, model, processor = saved_model
    loaded = AutoModelForCausalLM.from_pretrained(directory).eval()
    loaded_processor = AutoProcessor.from_pretrained(directory)
    assert type(loaded) is ChatNTForConditionalGeneration and type(loaded_processor) is ChatNTProcessor
    inputs = loaded_processor("Is <DNA> a promoter?", [SEQUENCE])
    torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits)


@pytest.fixture
def chatnt_pipeline(saved_model):
    directory, model, processor = saved_model
    return pipeline("text-generation", model=str(directory), trust_remote_code=True), model, processor


def _generate_answer(model, processor, question, dna):
    inputs = processor(question, dna)
    output = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    return processor.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def test_pipeline_answers_match_model_generate_for_every_input_form(tmp_path, chatnt_pipeline):
    pipe, model, processor = chatnt_pipeline
    assert type(pipe).__name__ == "ChatNTPipeline"
    expected = _generate_answer(model, processor, "Is <DNA> a promoter?", [SEQUENCE])
    options = dict(max_new_tokens=5, do_sample=False)
    assert pipe("Is <DNA> a promoter?", dna_sequences=[SEQUENCE], **options) == [{"generated_text": expected}]
    published = pipe(inputs={"english_sequence": "Is <DNA> a promoter?", "dna_sequences": [SEQUENCE]}, **options)
    assert published == [{"generated_text": expected}]
    fasta = tmp_path / "query.fa"
    fasta.write_text(f">query some record\n{SEQUENCE}\n")
    assert pipe("Is @query a promoter?", dna_sequences=str(fasta), **options)[0]["generated_text"] == expected
    assert pipe("Is @s a promoter?", dna_sequences={"s": SEQUENCE}, **options)[0]["generated_text"] == expected
    full = pipe("Is <DNA> a promoter?", dna_sequences=[SEQUENCE], return_full_text=True, **options)
    assert full[0]["generated_text"] == "Is <DNA> a promoter?" + expected


def test_pipeline_batches_examples_with_different_sequence_counts(chatnt_pipeline):
    pipe, model, processor = chatnt_pipeline
    questions = ["Is <DNA> a promoter?", "Does @a or @b bind?", "No DNA in this one?"]
    dna = [[SEQUENCE], {"a": random_dna(30, 1), "b": random_dna(42, 2)}, None]
    outputs = pipe(questions, dna_sequences=dna, batch_size=3, max_new_tokens=5, do_sample=False)
    assert [o[0]["generated_text"] for o in outputs] == [
        _generate_answer(model, processor, q, d) for q, d in zip(questions, dna)
    ]


def test_pipeline_chat_input_returns_the_conversation(chatnt_pipeline):
    pipe, _, _ = chatnt_pipeline
    chat = [{"role": "user", "content": "Is <DNA> a promoter?"}]
    output = pipe(chat, dna_sequences=[SEQUENCE], max_new_tokens=3, do_sample=False)
    conversation = output[0]["generated_text"]
    assert conversation[:1] == chat and conversation[-1]["role"] == "assistant"


def test_pipeline_reports_bad_input_clearly(chatnt_pipeline):
    pipe, _, _ = chatnt_pipeline
    with pytest.raises(ValueError, match="unknown sequence reference @nope"):
        pipe("Is @nope a promoter?", dna_sequences={"s": SEQUENCE})
    with pytest.raises(ValueError, match=r"1 <DNA> placeholder\(s\) but 2 DNA sequence\(s\)"):
        pipe("Is <DNA> a promoter?", dna_sequences=[SEQUENCE, SEQUENCE])
    with pytest.raises(FileNotFoundError, match="FASTA file not found"):
        pipe("Is @x a promoter?", dna_sequences="missing.fa")


def test_generated_answers_never_contain_the_placeholder(make_model, make_processor):
    model, processor = make_model(), make_processor()
    output = model.generate(**processor("Is <DNA> a promoter?", [SEQUENCE]), max_new_tokens=30, do_sample=True)
    prompt_length = processor("Is <DNA> a promoter?", [SEQUENCE])["input_ids"].shape[1]
    assert processor.dna_token_id not in output[0, prompt_length:].tolist()


def test_saving_copies_the_pipeline_code_by_name_and_warns_when_it_is_nowhere(tmp_path, saved_model):
    """The model does not import its pipeline (it sits above it), so save_pretrained copies the file and what it
    imports relatively by name; a pipeline file found neither in the package nor where the model came from is
    reported, and the save still succeeds."""
    from chatnt.modeling_chatnt import copy_pipeline_code
    from transformers.testing_utils import CaptureLogger
    from transformers.utils import logging

    directory, model, _ = saved_model
    for name in ("pipeline_chatnt.py", "inference.py", "perplexity_classifier.py"):
        assert (directory / name).read_text() == (REPO_ROOT / name).read_text(), name
    config = model.config.__class__.from_dict(model.config.to_dict())
    config.custom_pipelines = {"text-generation": {"impl": "nowhere_pipeline.NowherePipeline"}}
    config._name_or_path = str(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with CaptureLogger(logging.get_logger("chatnt.modeling_chatnt")) as captured:
        copy_pipeline_code(config, tmp_path / "empty")
    assert "lacks nowhere_pipeline.py" in captured.out
    assert list((tmp_path / "empty").iterdir()) == []
