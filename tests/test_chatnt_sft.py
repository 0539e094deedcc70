"""ChatNT instruction tuning: collator masking, answer scoring, SFTTrainer smoke runs (full and LoRA)."""

import json
import re

import pytest
import torch
from chatnt import (
    ChatNTForConditionalGeneration,
    ChatNTProcessor,
)
from chatnt.training.chatnt_collator import ChatNTDataCollator
from chatnt.training.chatnt_generation_eval import (
    answer_prompts,
    is_exact_match,
    parse_answer,
    subset_per_task,
)
from chatnt.training.chatnt_sft import (
    build_model,
    load_instruction_dataset,
    parse_args,
    train_chatnt,
)
from datasets import Dataset
from helpers import random_dna
from safetensors.torch import load_file


def instruction_rows(count: int, split: str = "train") -> list[dict]:
    """Rows of the instruction schema: a one-turn task, a two-turn task and a two-sequence task."""
    rows = []
    for index in range(count):
        seed = index if split == "train" else 1000 + index
        kind = index % 3
        if kind == 0:
            label = "promoter" if index % 2 else "non-promoter"
            messages = [
                {"role": "user", "content": "Is @seq a promoter or not?"},
                {"role": "assistant", "content": label},
            ]
            rows.append({"task": "promoter", "messages": messages, "answers": [label],
                         "sequences": [{"name": "seq", "sequence": random_dna(60, seed)}], "split": split})
        elif kind == 1:
            messages = [
                {"role": "user", "content": "Which ribosomal RNA is @r?"},
                {"role": "assistant", "content": "16S"},
                {"role": "user", "content": "Is @r from a eukaryote?"},
                {"role": "assistant", "content": "No"},
            ]
            rows.append({"task": "rrna_type", "messages": messages, "answers": ["16S", "no"],
                         "sequences": [{"name": "r", "sequence": random_dna(90, seed)}], "split": split})
        else:
            messages = [
                {"role": "user", "content": "Does @a or @b bind Oct4?"},
                {"role": "assistant", "content": "a"},
            ]
            rows.append({"task": "oct4_pair", "messages": messages, "answers": ["a"], "split": split,
                         "sequences": [{"name": "a", "sequence": random_dna(36, seed)},
                                       {"name": "b", "sequence": random_dna(42, seed + 1)}]})
    return rows



def sft_args(parts, output_dir, *extra: str):
    return parse_args([
        "--preset", "mini",
        "--dataset", "unused",
        "--encoder", parts["encoder"],
        "--decoder", parts["decoder"],
        "--num_latents", "4",
        "--output_dir", str(output_dir),
        "--max_steps", "10",
        "--per_device_train_batch_size", "3",
        "--per_device_eval_batch_size", "6",
        "--learning_rate", "1e-2",
        "--warmup_steps", "0",
        "--logging_steps", "1",
        "--save_strategy", "no",
        "--eval_strategy", "steps",
        "--eval_steps", "5",
        "--max_new_tokens", "6",
        "--report_to", "none",
        "--use_cpu",
        "--disable_tqdm", "true",
        *extra,
    ])


def test_collator_puts_labels_on_the_answers_and_their_end_of_turn_only(make_processor, text_tokenizer):
    processor = make_processor()
    rows = instruction_rows(3)
    batch = ChatNTDataCollator(processor)(rows)
    labels, attention = batch["labels"], batch["attention_mask"].bool()
    for index, row in enumerate(rows):
        answered = labels[index][labels[index] != -100]
        expected = "".join(f" {m['content']}</s>" for m in row["messages"] if m["role"] == "assistant")
        assert text_tokenizer.decode(answered) == expected
    placeholders = batch["input_ids"] == processor.dna_token_id
    # 5 references (the two-turn row names @r twice), K = 4 vectors each.
    assert int(placeholders.sum()) == 5 * 4
    assert (labels[placeholders] == -100).all() and (labels[~attention] == -100).all()
    # The Perceiver reads the prompt only: every attended token without a label, never an answer token.
    assert torch.equal(batch["english_attention_mask"].bool(), attention & (labels == -100))
    assert batch["dna_input_ids"].shape[0] == 5


def test_collator_rejects_rows_without_answers_and_overlong_conversations(make_processor):
    processor = make_processor()
    row = instruction_rows(1)[0]
    unanswered = dict(row, messages=row["messages"][:1])
    with pytest.raises(ValueError, match="no assistant turn"):
        ChatNTDataCollator(processor)([unanswered])
    with pytest.raises(ValueError, match="more than max_length=10"):
        ChatNTDataCollator(processor, max_length=10)([row])


def test_answers_are_scored_on_their_first_line_ignoring_case_and_spaces():
    assert parse_answer("\n  Promoter \nbecause of the TATA box") == "Promoter"
    assert is_exact_match(" PROMOTER\nmore text", "promoter")
    assert not is_exact_match("not a promoter", "promoter")
    assert not is_exact_match("", "promoter")
    assert is_exact_match("promoter.", "promoter") and not is_exact_match("I would say promoter.", "promoter")
    assert is_exact_match("It is a 16S ribosomal RNA.", "It is a 16S ribosomal RNA.")  # gold sentences keep their period
    find_label = lambda task, text, gold: "promoter" if "promoter" in text else ""  # noqa: E731
    assert is_exact_match("I would say promoter.", "promoter", "core_promoter", find_label)
    row = instruction_rows(2)[1]
    prompts = answer_prompts(row)
    assert [gold for _, gold in prompts] == ["16S", "no"]
    assert prompts[1][0] == row["messages"][:3]  # the second question sees the first gold answer
    with pytest.raises(ValueError, match="2 assistant turns but 1 gold answers"):
        answer_prompts(dict(row, answers=["16S"]))


def test_eval_subset_takes_the_same_rows_per_task_every_time():
    rows = instruction_rows(30, "test")
    subset = subset_per_task(rows, 2, seed=0)
    assert sorted(r["task"] for r in subset) == ["oct4_pair"] * 2 + ["promoter"] * 2 + ["rrna_type"] * 2
    assert subset == subset_per_task(rows, 2, seed=0)


def test_instruction_dataset_loads_from_a_file_with_a_split_column(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in instruction_rows(4) + instruction_rows(2, "test")))
    train, test = load_instruction_dataset(str(path))
    assert (len(train), len(test)) == (4, 2)
    with pytest.raises(FileNotFoundError, match="neither a file"):
        load_instruction_dataset(str(tmp_path / "missing"))


def weights(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def test_ten_sft_steps_train_only_the_encoder_and_projection(parts, tmp_path, monkeypatch):
    script_args, config = sft_args(parts, tmp_path / "run")
    model, processor = build_model(script_args)
    before = weights(model)
    eval_rows = subset_per_task(instruction_rows(9, "test"), 2)
    shared_runs = []
    run_shared = type(model.model)._forward_shared_prefix
    monkeypatch.setattr(type(model.model), "_forward_shared_prefix",
                        lambda self, *args, **kwargs: shared_runs.append(args[-1]) or run_shared(self, *args, **kwargs))
    trainer = train_chatnt(model, processor, Dataset.from_list(instruction_rows(12)), eval_rows, script_args, config)
    assert trainer.state.global_step == 10
    assert len(shared_runs) >= 10  # every training step ran the system message once for its batch
    # The mini preset groups rows of similar token counts into batches: the sampler reads them from "length".
    lengths = trainer.train_dataset["length"]
    assert lengths[0] == ChatNTDataCollator(processor).row_length(trainer.train_dataset[0]) > 0
    after = weights(model)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert any(name.startswith("model.dna_encoder.") for name in changed)
    assert any(name.startswith("model.projector.") for name in changed)
    assert all(name.startswith(("model.dna_encoder.", "model.projector.")) for name in changed), changed
    # Decoder and LM head: bitwise identical.
    for name in before:
        if name.startswith(("model.language_model.", "lm_head.")):
            assert torch.equal(before[name], after[name]), name
    history = trainer.state.log_history
    assert [entry["step"] for entry in history if "loss" in entry] == list(range(1, 11))
    assert [entry["step"] for entry in history if "eval_loss" in entry] == [5, 10]  # the last is the final model
    scored = [entry for entry in history if "eval_exact_match" in entry]
    assert [entry["step"] for entry in scored] == [5, 10]
    assert {f"eval_exact_match/{task}" for task in ("promoter", "rrna_type", "oct4_pair")} <= set(scored[-1])
    generations = (tmp_path / "run" / "generations-step10.jsonl").read_text().splitlines()
    assert len(generations) == 8  # 6 rows, two of them with two questions
    assert {"task", "gold", "generated", "correct"} == set(json.loads(generations[0]))
    # Saved without the decoder, reloaded with it from the reference: the trained encoder comes back.
    stored = load_file(tmp_path / "run" / "model.safetensors")
    assert not any(name.startswith(("model.language_model.", "lm_head.")) for name in stored)
    reloaded = ChatNTForConditionalGeneration.from_pretrained(tmp_path / "run")
    for name, tensor in reloaded.state_dict().items():
        assert torch.equal(tensor, after[name]), name
    assert ChatNTProcessor.from_pretrained(tmp_path / "run").dna_tokens_per_sequence == 4
    # The run's card, not TRL's draft ("a fine-tuned version of [None]").
    card = (tmp_path / "run" / "README.md").read_text()
    assert "[None]" not in card and "`chatnt.training.chatnt_sft` recipe" in card and "Steps: 10" in card
    assert "chatnt-tests/tiny-llama" in card and "12 instruction rows" in card


def test_lora_run_trains_adapters_and_projection_and_leaves_other_weights_alone(parts, tmp_path):
    script_args, config = sft_args(parts, tmp_path / "lora", "--lora_target", "both", "--max_steps", "4",
                                   "--activation_checkpointing", "true", "--eval_strategy", "no")
    model, processor = build_model(script_args)
    before = weights(model)
    train_chatnt(model, processor, Dataset.from_list(instruction_rows(12)), [], script_args, config)
    # Adapters are merged at the end; the merged decoder differs from its reference, so it is saved whole.
    merged = ChatNTForConditionalGeneration.from_pretrained(tmp_path / "lora")
    assert merged.config.text_model_included
    after = merged.state_dict()
    assert before.keys() == after.keys()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    adapted = re.compile(r"model\.(language_model\..*\.(q_proj|v_proj)|dna_encoder\..*\.(query|value))\.weight$")
    assert all(adapted.match(name) or name.startswith("model.projector.") for name in changed), changed
    assert any("language_model" in name and "q_proj" in name for name in changed)
    assert any("dna_encoder" in name and "value" in name for name in changed)
    assert any(name.startswith("model.projector.") for name in changed)


def test_frozen_encoder_leaves_only_the_projection_to_train(parts, tmp_path):
    script_args, config = sft_args(parts, tmp_path / "frozen", "--train_dna_encoder", "false", "--max_steps", "3",
                                   "--eval_steps", "2")
    model, processor = build_model(script_args)
    before = weights(model)
    eval_rows = subset_per_task(instruction_rows(3, "test"), 1)
    trainer = train_chatnt(model, processor, Dataset.from_list(instruction_rows(9)), eval_rows, script_args, config)
    changed = {name for name, tensor in weights(model).items() if not torch.equal(before[name], tensor)}
    assert changed and all(name.startswith("model.projector.") for name in changed), changed
    # Step 3 is off the schedule (every 2 steps): the final model is evaluated once more.
    assert [entry["step"] for entry in trainer.state.log_history if "eval_exact_match" in entry] == [2, 3]


def test_the_saved_processor_adopts_the_rows_shared_system_message(make_processor):
    from chatnt.training.chatnt_sft import adopt_training_system_message

    def rows(*systems):
        return Dataset.from_list([
            {"messages": ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": "q"}]}
            for system in systems
        ])

    processor = make_processor()
    default = processor.system_prompt
    adopt_training_system_message(processor, rows(None, None))
    assert processor.system_prompt == default  # no system message in the rows: keep the default
    adopt_training_system_message(processor, rows("You are A.", "You are B."))
    assert processor.system_prompt == default  # ambiguous: keep the default
    adopt_training_system_message(processor, rows("You are ChatNT.", "You are ChatNT."))
    assert processor.system_prompt == "You are ChatNT."


def test_shipped_export_is_bfloat16_with_the_task_list_as_system_message(parts, tmp_path):
    from chatnt.tasks.instruction_data import system_message
    from chatnt.training.ship_chatnt import export

    script_args, _ = sft_args(parts, tmp_path / "run")
    model, processor = build_model(script_args)
    model.save_pretrained(tmp_path / "run", include_text_model=False)
    processor.save_pretrained(tmp_path / "run")
    export(str(tmp_path / "run"), str(tmp_path / "shipped"), ["core_promoter", "gc_content"])
    stored = load_file(tmp_path / "shipped" / "model.safetensors")
    assert {tensor.dtype for tensor in stored.values() if tensor.is_floating_point()} == {torch.bfloat16}
    shipped = ChatNTProcessor.from_pretrained(tmp_path / "shipped")
    assert shipped.system_prompt == system_message(["core_promoter", "gc_content"])
    reloaded = ChatNTForConditionalGeneration.from_pretrained(tmp_path / "shipped")
    for name, tensor in stored.items():
        torch.testing.assert_close(reloaded.state_dict()[name], tensor.float())


def test_a_shared_prefix_run_once_gives_the_same_loss_and_gradients(make_model, make_processor):
    """The collator's shared_prefix_length (the system message, run once per batch without gradient) changes the
    computation's order, not its result: same loss and encoder/projection gradients as the full forward."""
    processor = make_processor()
    processor.system_prompt = "You are a careful assistant that answers questions about DNA in a few words."
    rows = instruction_rows(6)
    plain = ChatNTDataCollator(processor)(rows)
    shared = ChatNTDataCollator(processor, share_prefix=True)(rows)
    length = shared.pop("shared_prefix_length")
    system_tokens = len(processor.tokenizer(processor.system_prompt, add_special_tokens=False)["input_ids"])
    assert system_tokens <= length < int(torch.nonzero((plain["labels"] != -100).any(0))[0])
    assert all(torch.equal(plain[key], shared[key]) for key in plain)

    model = make_model()
    results = []
    for extra in ({}, {"shared_prefix_length": length}):
        model.zero_grad()
        loss = model(**plain, **extra).loss
        loss.backward()
        gradients = [p.grad.clone() for p in model.parameters() if p.requires_grad]
        results.append((loss.detach(), gradients))
    (loss, gradients), (shared_loss, shared_gradients) = results
    torch.testing.assert_close(shared_loss, loss, rtol=1e-5, atol=1e-6)
    for gradient, shared_gradient in zip(gradients, shared_gradients):
        torch.testing.assert_close(shared_gradient, gradient, rtol=1e-4, atol=1e-6)


def test_a_shared_prefix_is_refused_where_it_would_change_the_result(make_model, make_processor):
    from chatnt.training.chatnt_collator import shared_prefix_length

    processor = make_processor()
    batch = ChatNTDataCollator(processor)(instruction_rows(3))
    model = make_model()
    with pytest.raises(ValueError, match="same real tokens, before any DNA"):
        model(**batch, shared_prefix_length=batch["input_ids"].shape[1] - 1)
    model.model.language_model.requires_grad_(True)
    with pytest.raises(ValueError, match="needs a frozen decoder"):
        model(**batch, shared_prefix_length=1)
    assert shared_prefix_length(batch["input_ids"][:1], batch["labels"][:1], processor.dna_token_id) == 0


def test_the_answer_loss_is_the_models_loss_with_the_lm_head_only_where_answers_are(make_model, make_processor):
    from chatnt.training.chatnt_sft import answer_loss

    processor = make_processor()
    batch = ChatNTDataCollator(processor, share_prefix=True)(instruction_rows(6))
    model = make_model()
    full = model(**{key: value for key, value in batch.items() if key != "shared_prefix_length"}).loss
    loss, counts = answer_loss(model, batch)
    torch.testing.assert_close(loss, full, rtol=1e-5, atol=1e-6)
    assert int(counts["tokens"]) == int((batch["labels"][:, 1:] != -100).sum())
    assert 0 <= int(counts["correct"]) <= int(counts["tokens"])
    # Over an accumulated step, the sum over the step's token count, as TRL divides it.
    summed, _ = answer_loss(model, batch, num_items_in_batch=2 * counts["tokens"])
    torch.testing.assert_close(summed, full / 2, rtol=1e-5, atol=1e-6)
