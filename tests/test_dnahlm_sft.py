"""Alpaca SFT with TRL: loss on the response only, EOS after every response, and the model learns to stop."""

import random
from pathlib import Path
from collections import Counter

import pytest
import torch
from transformers import AutoTokenizer, pipeline
from trl import SFTConfig

from chatnt.tokenizer.train_bpe import BPETrainingArguments, train_bpe
from chatnt.training.dnahlm.corpus import SHARED_DATA
from chatnt.training.dnahlm.evaluate import alpaca_questions, generate_answers
from chatnt.tasks.dnahl import FOUR_TASK_FILE, PROMOTER_TERMINATOR_FILE, alpaca_prompt, load_published_records
from chatnt.training.dnahlm.instructions import build_sft_examples, to_prompt_completion
from chatnt.training.dnahlm.pretrain import build_model
from chatnt.training.dnahlm.sft import parse_args, train_sft
from chatnt.training.evaluate_chatnt import held_out_questions
from chatnt.tasks.registry import load_task

INSTRUCTION = "Which base is this sequence rich in? Answer with one of: adenine, cytosine."


def toy_example(rng: random.Random) -> dict:
    label = rng.choice(["adenine", "cytosine"])
    rich = "A" if label == "adenine" else "C"
    sequence = "".join(rich if rng.random() < 0.8 else rng.choice("GT") for _ in range(40))
    return {"task": "toy", "instruction": INSTRUCTION, "input": sequence, "output": label}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    out = tmp_path_factory.mktemp("sft_tok")
    english = out / "english.txt"
    wiki = SHARED_DATA / "dnahl" / "wiki.valid.raw"
    english.write_text("".join(wiki.open(encoding="utf-8").readlines()[:300]) + INSTRUCTION + "\n", encoding="utf-8")
    train_bpe(
        BPETrainingArguments(
            output_dir=str(out / "tok"),
            vocab_size=400,
            corpus_chars=50_000,
            dna_files=[str(SHARED_DATA / "yeast" / "someORF.fa")],
            english_files=[str(english)],
            compare=False,
        )
    )
    return AutoTokenizer.from_pretrained(out / "tok")


def config(tmp_path, **overrides) -> SFTConfig:
    values = dict(
        output_dir=str(tmp_path / "sft"),
        max_steps=50,
        per_device_train_batch_size=8,
        learning_rate=3e-3,
        lr_scheduler_type="constant",
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        bf16=False,
        use_cpu=True,
        dataloader_pin_memory=False,
        activation_checkpointing=False,
        seed=0,
        max_length=256,
    )
    values.update(overrides)
    return SFTConfig(**values)


def test_labels_cover_the_response_and_its_eos_only(tokenizer, tmp_path):
    rng = random.Random(0)
    examples = [toy_example(rng) for _ in range(8)]
    trainer = train_sft(build_model("tiny", tokenizer), tokenizer, examples, config(tmp_path, max_steps=1))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    for row, example in enumerate(examples[:4]):
        labels, ids = batch["labels"][row], batch["input_ids"][row]
        prompt_length = len(tokenizer(alpaca_prompt(example["instruction"], example["input"]))["input_ids"])
        assert (labels[:prompt_length] == -100).all(), "the prompt must carry no loss"
        kept = labels[labels != -100]
        assert torch.equal(kept, ids[prompt_length : prompt_length + len(kept)])
        assert kept[-1].item() == tokenizer.eos_token_id, "every response must end with EOS"
        assert tokenizer.decode(kept[:-1]) == example["output"]
    assert tokenizer.pad_token_id != tokenizer.eos_token_id


def test_toy_task_learns_the_answer_and_to_stop(tokenizer, tmp_path):
    rng = random.Random(1)
    examples = [toy_example(rng) for _ in range(96)]
    trainer = train_sft(build_model("tiny", tokenizer), tokenizer, examples, config(tmp_path))
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert losses[-1] < losses[0] / 2
    test = [toy_example(rng) for _ in range(8)]
    prompts = [alpaca_prompt(e["instruction"], e["input"]) for e in test]
    encoded = tokenizer(prompts[:1], return_tensors="pt")
    generated = trainer.model.generate(**encoded, max_new_tokens=12, do_sample=False)[
        0, encoded["input_ids"].shape[1] :
    ]
    assert tokenizer.eos_token_id in generated.tolist(), "the model never emits EOS"
    answers = generate_answers(trainer.model, tokenizer, prompts, max_new_tokens=12)
    assert sum(a == e["output"] for a, e in zip(answers, test)) >= 7
    # The saved folder works as is with the stock pipeline, which stops at EOS by itself.
    generator = pipeline("text-generation", model=str(tmp_path / "sft"))
    outputs = generator(prompts, return_full_text=False)
    assert [o[0]["generated_text"] for o in outputs] == answers


def test_sft_refuses_pad_equal_to_eos(tokenizer, tmp_path):
    broken = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    broken.pad_token = broken.eos_token
    with pytest.raises(ValueError, match="pad token"):
        train_sft(build_model("tiny", broken), broken, [toy_example(random.Random(0))], config(tmp_path))


def test_sft_data_covers_the_tasks_uniformly_and_holds_no_test_record_or_held_out_phrasing():
    tasks = ["core_promoter", "oct4_mafk", "gc_content"]
    examples = build_sft_examples(tasks, definitions=5, seed=0, max_per_class=60)
    counts = Counter(e["task"] for e in examples)
    assert counts["definition"] == 5
    # Uniform mixing (the registry rows), plus each published TRAIN record once more in its own wording.
    published_train = load_published_records(FOUR_TASK_FILE, "train") + load_published_records(PROMOTER_TERMINATOR_FILE, "train")
    published_instructions = {r["instruction"] for r in published_train}
    registry = Counter(e["task"] for e in examples if e["instruction"] not in published_instructions and e["task"] in tasks)
    # Tasks are drawn with equal probability until each is used up once (the smallest, gc_content, holds half
    # as many TRAIN records as the others here): equal shares in expectation.
    assert max(registry.values()) <= 1.5 * min(registry.values())
    assert sum(e["instruction"] in published_instructions for e in examples) == sum(
        r["task"] == "core_promoter" for r in published_train
    )
    test_inputs = {r["sequence"] for task in tasks for r in load_task(task, split="test")}
    test_inputs |= {r["input"] for f in (FOUR_TASK_FILE, PROMOTER_TERMINATOR_FILE) for r in load_published_records(f, "test")}
    # Two-sequence examples hold one "@name: SEQUENCE" line per sequence.
    trained = {line.split(": ", 1)[-1] for e in examples for line in e["input"].splitlines()}
    assert not test_inputs & trained
    held_out = {r["instruction"] for r in alpaca_questions(held_out_questions(tasks, max_per_task=30))}
    assert not held_out & {e["instruction"] for e in examples}
    pair = to_prompt_completion(examples[0])
    assert pair["prompt"].endswith("### Response:\n") and pair["completion"] == examples[0]["output"]


@pytest.mark.parametrize("preset", ["mini", "small"])
def test_every_sft_preset_parses_into_known_arguments(preset, tmp_path):
    argv = ["--preset", preset, "--model_name_or_path", "m", "--output_dir", str(tmp_path), "--bf16", "false"]
    script_args, config = parse_args(argv + ["--use_cpu", "true"])
    assert script_args.preset == preset and config.activation_checkpointing is False


def test_an_interrupted_run_resumed_from_its_checkpoint_ends_with_the_same_weights(tokenizer, tmp_path):
    def fresh_model(seed=0):
        torch.manual_seed(seed)
        return build_model("tiny", tokenizer)

    rng = random.Random(2)
    examples = [toy_example(rng) for _ in range(48)]
    settings = dict(max_steps=6, save_strategy="steps", save_steps=3, learning_rate=1e-3)
    whole = train_sft(fresh_model(), tokenizer, examples, config(tmp_path / "whole", **settings))
    train_sft(fresh_model(), tokenizer, examples, config(tmp_path / "cut", **settings))
    # Resume the second run from its step-3 checkpoint, as after a kill between steps 3 and 6, with other
    # starting weights: only what the checkpoint restores can make the result equal.
    checkpoint = tmp_path / "cut" / "sft" / "checkpoint-3"
    resumed = train_sft(fresh_model(seed=1), tokenizer, examples,
                        config(tmp_path / "cut", **settings, resume_from_checkpoint=str(checkpoint)))
    assert resumed.state.global_step == 6
    for name, weight in whole.model.state_dict().items():
        assert torch.allclose(weight, resumed.model.state_dict()[name], atol=1e-6), name


def test_task_fractions_keep_a_seeded_share_of_the_listed_tasks_only():
    tasks = ["core_promoter", "oct4_mafk"]
    full = build_sft_examples(tasks, definitions=0, seed=0, max_per_class=60)
    # No fractions: exactly the data the earlier runs were tuned on.
    assert build_sft_examples(tasks, definitions=0, seed=0, max_per_class=60, task_fractions={}) == full
    kept = build_sft_examples(tasks, definitions=0, seed=0, max_per_class=60, task_fractions={"oct4_mafk": 0.25})
    before, after = Counter(e["task"] for e in full), Counter(e["task"] for e in kept)
    assert after["core_promoter"] == before["core_promoter"]
    assert 0.15 * before["oct4_mafk"] < after["oct4_mafk"] < 0.35 * before["oct4_mafk"]
    assert all(e in full for e in kept)
    with pytest.raises(ValueError, match="not among the tuned tasks"):
        build_sft_examples(tasks, definitions=0, seed=0, max_per_class=60, task_fractions={"rrna_type": 0.5})
    with pytest.raises(ValueError, match=r"fraction in \(0, 1\]"):
        build_sft_examples(tasks, definitions=0, seed=0, max_per_class=60, task_fractions={"oct4_mafk": 2})


def test_sft_flags_for_a_later_stage():
    from chatnt.training.dnahlm.sft import parse_fractions

    script_args, _ = parse_args(["--model_name_or_path", "m", "--output_dir", "o", "--dropout", "0",
                                 "--task_fractions", "rrna_type=0.25", "splice_site=0.5"])
    assert script_args.dropout == 0.0
    assert parse_fractions(script_args.task_fractions) == {"rrna_type": 0.25, "splice_site": 0.5}
    with pytest.raises(ValueError, match="not task=fraction"):
        parse_fractions(["rrna_type:0.25"])


def test_sft_command_rejects_bad_fractions_in_one_line(tmp_path, capsys):
    from chatnt.training.dnahlm.sft import main

    checkpoint = Path(__file__).resolve().parents[1] / "checkpoints" / "dnahlm-mini"
    for item, problem in (("core_promoter:0.5", "not task=fraction"), ("rrna_type=0.5", "not among the tuned tasks")):
        with pytest.raises(SystemExit) as exit_:
            main(["--model_name_or_path", str(checkpoint), "--output_dir", str(tmp_path), "--tasks", "core_promoter",
                  "--definitions", "0", "--task_fractions", item])
        assert exit_.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("error: ") and problem in error
    assert not any(tmp_path.iterdir())  # nothing trained or written
