"""The instruction dataset builder: row schema, tags that ChatNTProcessor resolves, disjoint phrasings,
multi-turn and two-sequence rows, uniform task mixing and the Alpaca export, on real (capped) data."""

import collections
import dataclasses
import random
import re

import pytest
import torch
from chatnt import ChatNTProcessor, NucleotideTransformerTokenizer
from chatnt.tasks.registry import TASKS, load_task
from chatnt.tasks.instruction_data import (
    ANSWERS,
    CONTEXT_PREFIXES,
    PAIR_QUESTIONS,
    PHRASINGS,
    YES_NO_QUESTIONS,
    InstructionConfig,
    build_instruction_dataset,
    build_instruction_datasets,
    build_task_rows,
    normalize_answer,
    system_message,
    to_alpaca,
    uniform_task_mixture,
)
from helpers import build_text_tokenizer

CONFIG = InstructionConfig(seed=0, pair_fraction=0.3, yes_no_fraction=0.3, multi_turn_fraction=0.3)
TAG = re.compile(r"@(\w+)")


@pytest.fixture(scope="module")
def task_data():
    return {name: load_task(name, max_per_class=30) for name in TASKS}


@pytest.fixture(scope="module")
def per_task(task_data):
    return build_instruction_datasets(task_data, CONFIG)


@pytest.fixture(scope="module")
def all_rows(per_task):
    return [row for data in per_task.values() for row in data]


@pytest.fixture(scope="module")
def processor():
    return ChatNTProcessor(build_text_tokenizer(), NucleotideTransformerTokenizer(), dna_tokens_per_sequence=4)


def test_rows_have_exactly_the_collator_schema(per_task, task_data):
    for name, data in per_task.items():
        assert data.column_names == ["task", "messages", "sequences", "split", "answers", "record_ids"]
        assert data.num_rows == task_data[name].num_rows  # one row per record
        ids = set(task_data[name]["id"])
        assert all(len(row["record_ids"]) == len(row["sequences"]) and set(row["record_ids"]) <= ids for row in data)
        assert set(data["task"]) == {name}
        assert collections.Counter(data["split"]) == collections.Counter(task_data[name]["split"])


def test_turns_alternate_and_answers_match_assistant_turns(all_rows):
    for row in all_rows:
        roles = [message["role"] for message in row["messages"]]
        assert roles[0] == "system"
        assert roles[1:] == ["user", "assistant"] * len(row["answers"])
        assert all(isinstance(answer, str) and answer for answer in row["answers"])


def test_tags_name_exactly_the_row_sequences(all_rows):
    for row in all_rows:
        names = [item["name"] for item in row["sequences"]]
        tagged = {tag for m in row["messages"] if m["role"] == "user" for tag in TAG.findall(m["content"])}
        assert tagged == set(names) and len(names) == len(set(names))


def test_test_rows_use_only_test_sequences(per_task, task_data):
    for name, data in per_task.items():
        by_split = collections.defaultdict(set)
        for record in task_data[name]:
            by_split[record["split"]].add(record["sequence"])
        for row in data:
            assert {item["sequence"] for item in row["sequences"]} <= by_split[row["split"]]


def test_processor_turns_a_row_into_inputs_with_labels_only_on_answers(all_rows, processor):
    tokenizer = processor.tokenizer
    multi = next(row for row in all_rows if len(row["sequences"]) == 2 and len(row["answers"]) > 1)
    single = next(row for row in all_rows if len(row["sequences"]) == 1)
    rows = [multi, single]
    inputs = processor(
        [row["messages"] for row in rows],
        dna_sequences=[{item["name"]: item["sequence"] for item in row["sequences"]} for row in rows],
    )
    tags = sum(len(TAG.findall(m["content"])) for row in rows for m in row["messages"] if m["role"] == "user")
    assert inputs["dna_input_ids"].shape[0] == tags
    assert int((inputs["input_ids"] == processor.dna_token_id).sum()) == 4 * tags
    for index, row in enumerate(rows):
        labels = inputs["labels"][index]
        answered = tokenizer.decode(inputs["input_ids"][index][labels != -100])
        expected = "".join(f" {m['content']}{tokenizer.eos_token}" for m in row["messages"] if m["role"] == "assistant")
        assert answered == expected
        assert not torch.any(labels[inputs["input_ids"][index] == processor.dna_token_id] != -100)


def test_train_and_test_phrasing_pools_are_disjoint():
    pools = [phrasing.questions for phrasing in PHRASINGS.values()]
    pools += [YES_NO_QUESTIONS, PAIR_QUESTIONS, *ANSWERS.values()]
    for pool in pools:
        assert pool["train"] and pool["test"]
        assert not set(pool["train"]) & set(pool["test"])
    assert CONTEXT_PREFIXES["train"] != CONTEXT_PREFIXES["test"]


def _wording(text: str) -> str:
    """A question or answer with its sequence tags and numbers blanked out."""
    return re.sub(r"\d+(\.\d+)?", "#", TAG.sub("@", text))


def test_built_test_rows_never_reuse_a_train_wording(all_rows):
    wordings = {split: collections.defaultdict(set) for split in ("train", "test")}
    for row in all_rows:
        for message in row["messages"][1:]:
            wordings[row["split"]][message["role"]].add(_wording(message["content"]))
    assert not wordings["train"]["user"] & wordings["test"]["user"]
    # Bare answers ("promoter", "yes") are in the train pool only; test answers are always phrased.
    assert not wordings["train"]["assistant"] & wordings["test"]["assistant"]


def test_multi_turn_and_two_sequence_rows_exist_in_both_splits(per_task):
    for name, data in per_task.items():
        for split in ("train", "test"):
            rows = [row for row in data if row["split"] == split]
            assert any(len(row["sequences"]) == 2 for row in rows), (name, split)
            assert any(len(row["answers"]) > 1 for row in rows), (name, split)


def test_questions_cover_binary_multiclass_multilabel_regression_and_yes_no(all_rows):
    golds = collections.defaultdict(set)
    for row in all_rows:
        golds[TASKS[row["task"]].type].update(row["answers"])
    assert {"Donor Sites", "Acceptor Sites", "Non-Splice Sites", "yes", "no"} <= golds["multiclass"]
    assert any(", " in gold for gold in golds["multilabel"]) and "none" in golds["multilabel"]
    assert any(re.fullmatch(r"\d+\.\d\d", gold) for gold in golds["regression"])
    assert any(gold.startswith("@") for gold in golds["binary"])


def test_two_sequence_answers_name_the_right_sequence(per_task, task_data):
    label_of = {record["sequence"]: record["label"] for record in task_data["oct4_mafk"]}
    pairs = [row for row in per_task["oct4_mafk"] if len(row["sequences"]) == 2]
    for row in pairs:
        question = row["messages"][1]["content"]
        target = "Oct4" if "Oct4 ChIP-seq peak" in question else "Mafk"
        chosen = {item["name"]: item["sequence"] for item in row["sequences"]}[row["answers"][0][1:]]
        assert label_of[chosen] == target
        assert label_of[next(s["sequence"] for s in row["sequences"] if s["sequence"] != chosen)] != target


def test_species_words_appear_only_where_the_source_names_one(per_task):
    first_questions = {name: [row["messages"][1]["content"] for row in data] for name, data in per_task.items()}
    assert all("human" in question for question in first_questions["core_promoter"])
    assert all("Drosophila melanogaster" in question for question in first_questions["fly_promoter_shuffled"])
    assert not any("human" in question for question in first_questions["tf_binding"])


def test_plain_test_rows_ask_one_task_question_per_record(task_data):
    config = dataclasses.replace(CONFIG, plain_test=True)
    rows = build_task_rows("splice_site", task_data["splice_site"], config)
    test = [row for row in rows if row["split"] == "test"]
    assert len(test) == task_data["splice_site"]["split"].count("test")
    assert all(len(row["answers"]) == 1 and len(row["sequences"]) == 1 for row in test)
    assert {row["answers"][0] for row in test} == set(TASKS["splice_site"].labels)
    train = [row for row in rows if row["split"] == "train"]
    assert any(len(row["sequences"]) == 2 for row in train) and any(len(row["answers"]) > 1 for row in train)


def test_questions_naming_a_species_need_one_in_the_spec(task_data):
    spec = dataclasses.replace(TASKS["core_promoter"], species=None)
    with pytest.raises(ValueError, match="names no species"):
        build_task_rows(spec, task_data["core_promoter"], CONFIG, phrasing=PHRASINGS["core_promoter"])


def test_regression_questions_state_the_range_and_answers_use_the_decimals(task_data):
    rows = build_task_rows("gc_content", task_data["gc_content"], InstructionConfig(decimals=3, pair_fraction=0))
    for row in rows:
        assert "0" in row["messages"][1]["content"] and "100" in row["messages"][1]["content"]
        (gold,) = row["answers"]
        assert re.fullmatch(r"\d+\.\d{3}", gold)
    values = {f"{v:.3f}" for v in task_data["gc_content"]["label"]}
    assert {answers[0] for answers in rows["answers"]} <= values


def test_every_answer_text_normalizes_to_its_gold(all_rows):
    for row in all_rows:
        texts = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        for text, gold in zip(texts, row["answers"], strict=True):
            assert normalize_answer(row["task"], text, gold) == gold, (text, gold)


def test_normalize_answer_rejects_ambiguous_or_missing_answers():
    assert normalize_answer("core_promoter", "Non-promoter", "promoter") == "Non-promoter"
    assert normalize_answer("core_promoter", "promoter or Non-promoter", "promoter") == ""
    assert normalize_answer("core_promoter", "I cannot tell.", "promoter") == ""
    assert normalize_answer("oct4_mafk", "@a and @b", "@a") == ""
    assert normalize_answer("oct4_mafk", "Yes and no.", "yes") == ""
    assert normalize_answer("gc_content", "about 41.5 %", "40.25") == "41.50"
    assert normalize_answer("promoter_motifs", "Inr and a TATA box", "TATA box") == "TATA box, Inr"


def test_build_is_reproducible_and_seeded(task_data):
    data = task_data["splice_site"]
    first = build_task_rows("splice_site", data, CONFIG).to_list()
    assert build_task_rows("splice_site", data, CONFIG).to_list() == first
    other = InstructionConfig(seed=1, pair_fraction=0.3, yes_no_fraction=0.3, multi_turn_fraction=0.3)
    assert build_task_rows("splice_site", data, other).to_list() != first


def test_system_message_lists_the_built_tasks(per_task, task_data):
    message = per_task["rrna_type"][0]["messages"][0]["content"]
    assert message == system_message(list(per_task))
    for spec in TASKS.values():
        assert spec.description in message
    assert "GC content" not in system_message(["rrna_type"])
    no_system = build_task_rows("rrna_type", task_data["rrna_type"], InstructionConfig(system_message=None))
    assert all(row["messages"][0]["role"] == "user" for row in no_system)


def test_uniform_task_mixture_samples_tasks_equally(task_data):
    unequal = {"promoter_terminator": load_task("promoter_terminator"), "gc_content": task_data["gc_content"]}
    per_task = build_instruction_datasets(unequal, CONFIG)
    sizes = [data["split"].count("train") for data in per_task.values()]
    assert sizes == [563, 30]
    mixture = uniform_task_mixture(per_task, split="train", seed=0)
    head = collections.Counter(mixture["task"][:400])
    assert 0.4 < head["gc_content"] / 400 < 0.6
    assert set(mixture["split"]) == {"train"}
    assert uniform_task_mixture(per_task, split="train", seed=0)["task"] == mixture["task"]


def test_one_call_builder_gives_a_mixed_train_and_a_full_test_split():
    rows = build_instruction_dataset(["core_promoter", "gc_content"], max_per_class=20, decimals=1, seed=2)
    assert sorted(rows) == ["test", "train"]
    assert set(rows["train"]["split"]) == {"train"} and set(rows["test"]["split"]) == {"test"}
    assert collections.Counter(rows["test"]["task"]) == {"core_promoter": 40, "gc_content": 20}
    assert set(rows["train"]["task"]) == {"core_promoter", "gc_content"}
    regression = [a for row in rows["test"] if row["task"] == "gc_content" for a in row["answers"] if "@" not in a]
    assert regression and all(re.fullmatch(r"\d+\.\d", answer) for answer in regression)


def test_alpaca_export_has_one_record_per_turn(per_task):
    rows = per_task["rrna_type"]
    alpaca = to_alpaca(rows)
    assert alpaca.column_names == ["instruction", "input", "output", "task", "split"]
    assert alpaca.num_rows == sum(len(answers) for answers in rows["answers"])
    records = iter(alpaca)
    for row in rows:
        for turn, message in enumerate(m for m in row["messages"] if m["role"] == "assistant"):
            record = next(records)
            assert record["output"] == message["content"] and record["split"] == row["split"]
            if len(row["sequences"]) == 1:
                assert record["input"] == row["sequences"][0]["sequence"]
                assert "@" not in record["instruction"] and "the input sequence" in record["instruction"].lower()
                assert not record["instruction"].startswith("the input sequence")  # capitalised where it opens
            else:
                assert record["input"].splitlines() == [f"@{s['name']}: {s['sequence']}" for s in row["sequences"]]


def test_hub_route_builds_the_same_kind_of_rows_from_a_gue_shaped_dataset(monkeypatch):
    """The online route (full GUE sets) without the network: ``load_dataset`` returns a local DatasetDict shaped
    like a GUE config (``sequence``, integer ``label``; train / dev / test)."""
    from chatnt.tasks import registry as genomic_tasks
    from chatnt.tasks.instruction_data import ROW_FEATURES, build_hub_instruction_dataset
    from datasets import Dataset as HFDataset
    from datasets import DatasetDict as HFDatasetDict

    rng = random.Random(0)
    split = lambda n: HFDataset.from_dict(  # noqa: E731
        {"sequence": ["".join(rng.choice("ACGT") for _ in range(70)) for _ in range(n)], "label": [i % 2 for i in range(n)]}
    )
    asked = []

    def fake_load_dataset(dataset_id, config_name, revision=None):
        asked.append((dataset_id, config_name, revision))
        return HFDatasetDict({"train": split(12), "dev": split(4), "test": split(6)})

    monkeypatch.setattr(genomic_tasks, "load_dataset", fake_load_dataset)
    sources = {"core_promoter": {"dataset_id": "leannmlindsey/GUE", "config_name": "prom_core_all"}}
    rows = build_hub_instruction_dataset(sources, seed=0, plain_test=True)
    assert asked == [("leannmlindsey/GUE", "prom_core_all", None)]
    assert rows["train"].num_rows == 12 and rows["test"].num_rows == 6  # dev is not used
    assert rows["train"].features == ROW_FEATURES
    assert set(rows["test"]["answers"][0]) <= {"Non-promoter", "promoter"}  # label 0 / 1 by the task's order
    with pytest.raises(ValueError, match="needs a dataset_id"):
        build_hub_instruction_dataset({"core_promoter": {"config_name": "prom_core_all"}})
