"""The committed checkpoints/dnahlm-mini: shippable files, stock loading, answers that stop at EOS."""

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from chatnt.tasks.answer_parsing import parse_label
from chatnt.training.demo_records import pick_records
from chatnt.training.dnahlm.card import README_QUESTION
from chatnt.training.dnahlm.evaluate import alpaca_questions
from chatnt.tasks.dnahl import PROMOTER_TERMINATOR_FILE, TASKS, alpaca_prompt, load_published_records
from chatnt.training.evaluate_chatnt import held_out_questions
from chatnt.tasks.registry import TASKS as REGISTRY
from chatnt.tasks.instruction_data import normalize_answer

CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "dnahlm-mini"


def test_files_are_safetensors_and_small():
    files = [p for p in CHECKPOINT.iterdir() if p.is_file()]
    assert (CHECKPOINT / "model.safetensors").is_file()
    assert not [p.name for p in files if p.suffix in {".bin", ".pt", ".pth", ".pkl"}]
    assert max(p.stat().st_size for p in files) <= 25 * 10**6
    assert "## Results" in (CHECKPOINT / "README.md").read_text()


def test_loads_with_auto_classes_and_answers_the_published_prompt_naming_one_label_then_eos():
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
    assert parse_label(answer, TASKS["promoter_terminator"].labels) is not None, answer


def test_stops_after_its_answer_on_held_out_prompts_of_every_task():
    tokenizer = AutoTokenizer.from_pretrained(CHECKPOINT)
    model = AutoModelForCausalLM.from_pretrained(CHECKPOINT)
    records = alpaca_questions(held_out_questions(list(REGISTRY), max_per_task=3, seed=1))
    assert len({r["task"] for r in records}) == 10
    for record in records:
        inputs = tokenizer(alpaca_prompt(record["instruction"], record["input"]), return_tensors="pt")
        with torch.no_grad():
            new = model.generate(**inputs, max_new_tokens=32, do_sample=False)[0, inputs["input_ids"].shape[1] :]
        new = new.tolist()
        assert tokenizer.eos_token_id in new, f"{record['task']}: no EOS within 32 tokens: {tokenizer.decode(new)!r}"
        # One short answer, then EOS (whether it is readable is the evaluation's business: 12% are not).
        answer = tokenizer.decode(new[: new.index(tokenizer.eos_token_id)])
        assert answer.strip() and "\n" not in answer.strip(), f"{record['task']}: {answer!r}"


def readme_dnahlm_example() -> str:
    """The python block of the README's DNAHLM section."""
    readme = (CHECKPOINT.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## DNAHLM\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_pipeline_example_runs_as_written_and_prints_the_answer_it_shows(monkeypatch, capsys):
    # The rule-picked 16S rRNA TEST record (chatnt.training.demo_records), asked in words no training question uses.
    code = readme_dnahlm_example()
    assert README_QUESTION in code and pick_records("rrna_type", per_label=1)[0]["label"] == "16S"
    shown = code.rstrip().splitlines()[-1].split("# ", 1)[1]
    monkeypatch.chdir(CHECKPOINT.parents[1])
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.strip()
    assert printed == shown and normalize_answer("rrna_type", printed, "16S") == "16S", printed
