"""The committed checkpoints/dnahlm-mini: shippable files, stock loading, Alpaca answers that stop at EOS."""

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

from chatnt.training.dnahlm.instructions import PROMOTER_TERMINATOR_FILE, TASKS, load_published_records

CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "dnahlm-mini"


def test_files_are_safetensors_and_small():
    files = [p for p in CHECKPOINT.iterdir() if p.is_file()]
    assert (CHECKPOINT / "model.safetensors").is_file()
    assert not [p.name for p in files if p.suffix in {".bin", ".pt", ".pth", ".pkl"}]
    assert max(p.stat().st_size for p in files) <= 25 * 10**6
    assert "## Results" in (CHECKPOINT / "README.md").read_text()


def test_loads_with_auto_classes_and_answers_one_label_then_eos():
    tokenizer = AutoTokenizer.from_pretrained(CHECKPOINT)
    model = AutoModelForCausalLM.from_pretrained(CHECKPOINT)
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    record = load_published_records(PROMOTER_TERMINATOR_FILE, "train")[0]
    messages = [{"role": "user", "content": record["instruction"], "input": record["input"]}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=20)[0, inputs["input_ids"].shape[1] :].tolist()
    assert tokenizer.eos_token_id in output, "the model must stop by itself"
    answer = tokenizer.decode(output[: output.index(tokenizer.eos_token_id)])
    assert answer in TASKS["promoter_terminator"].labels


def test_stock_text_generation_pipeline():
    generator = pipeline("text-generation", model=str(CHECKPOINT))
    record = load_published_records(PROMOTER_TERMINATOR_FILE, "train")[1]
    messages = [{"role": "user", "content": record["instruction"], "input": record["input"]}]
    prompt = generator.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    answer = generator(prompt, return_full_text=False)[0]["generated_text"]
    assert answer in TASKS["promoter_terminator"].labels
