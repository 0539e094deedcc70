"""RNA-GPT recipe: rRNA records and their split, description parsing on real titles, stage-1 and stage-2
rows, and smoke runs of both stages on tiny models (only the parts each stage trains may change)."""

import json
import re
from collections import Counter

import pytest
import torch
from chatnt.training.chatnt_collator import ChatNTDataCollator
from chatnt.training.rnagpt import (
    QUESTIONS,
    QuestionKind,
    RnaFacts,
    alignment_rows,
    build_stage1_model,
    description_from_title,
    instruction_rows,
    load_stage1,
    load_stage2,
    parse_args,
    parse_description,
    parsing_coverage,
    question_answers,
    read_rrna_records,
    run_stage1,
    run_stage2,
    without_default_system_message,
)
from helpers import SHARED_DATA
from safetensors.torch import load_file

torch.set_num_threads(1)

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "rrna").is_dir(), reason="needs ../shared/data/rrna")


@pytest.fixture(scope="module")
def all_records():
    """Every record of the three files, cut to 30 nt (the titles are what these tests read)."""
    return read_rrna_records(SHARED_DATA, max_records_per_file=None, window=30)


@pytest.fixture(scope="module")
def by_accession(all_records):
    """``(file, accession) -> record``: an operon's accession can appear in the 16S and the LSU file."""
    return {(record.source, record.accession): record for record in all_records}


# Real titles from the files ((file, accession) -> expected facts), one per shape of title.
REAL_TITLES = {
    ("16S", "EF614827"): RnaFacts("Uncultured bacterium", "16S", "partial", "gene", ("clone", "C14_d02_2")),
    ("18S", "AF005438"): RnaFacts("Achelia echinata", "18S", "complete", "gene", None),
    ("16S", "AB301900"): RnaFacts("Uncultured marine group II euryarchaeote", "16S", "partial", "gene", ("clone", "pIta-RF-2")),
    ("16S", "Z35330"): RnaFacts("B. japonicum", "16S", None, "gene", None),
    ("16S", "X55592"): RnaFacts("M. farcinogenes", "16S", "partial", "rRNA", None),
    ("18S", "AY357286"): RnaFacts("Tricladium splendens", "18S", "partial", "gene", ("strain", "162-1436")),
    ("LSU", "AF267877"): RnaFacts("Bacillus anthracis", "23S", "complete", "gene", ("strain", "Sterne")),
    ("LSU", "DQ017158"): RnaFacts("Chloromonas serbinowi", "26S", "partial", "gene", ("strain", "UTEX LB 492")),
    ("LSU", "BX571857"): RnaFacts("Staphylococcus aureus", None, None, "genome", ("strain", "MSSA476")),
    ("16S", "EU139849"): RnaFacts("Pseudomonas sp.", "16S", "partial", "gene", None),
}


def test_descriptions_are_the_titles_without_the_record_length(by_accession):
    assert description_from_title("Achelia echinata 18S ribosomal RNA gene, complete sequence. 1796 bp") == (
        "Achelia echinata 18S ribosomal RNA gene, complete sequence."
    )
    assert by_accession["18S", "AF005438"].description == "Achelia echinata 18S ribosomal RNA gene, complete sequence."
    assert not any(re.search(r"\d bp$", record.description) for record in by_accession.values())


@pytest.mark.parametrize("key", sorted(REAL_TITLES))
def test_real_titles_parse_into_organism_type_completeness_molecule_and_qualifier(by_accession, key):
    record = by_accession[key]
    assert parse_description(record.description, record.source) == REAL_TITLES[key], record.description


def test_operon_titles_name_the_type_of_the_file_and_mixed_extents_stay_unstated():
    operon = "Halosimplex carlsbadense rrnA operon genes for 16S rRNA, 23S rRNA, complete and partial sequence."
    assert parse_description(operon, "LSU").rrna_type == "23S"
    assert parse_description(operon, "16S").rrna_type == "16S"
    assert parse_description(operon).rrna_type is None  # two types, no file to choose
    assert parse_description(operon).completeness is None


def test_answers_are_short_sentences_about_each_parsed_fact(by_accession):
    record = by_accession["16S", "EF614827"]
    assert question_answers(parse_description(record.description, record.source)) == [
        ("organism", "It comes from an uncultured bacterium."),
        ("rrna_type", "It is a 16S ribosomal RNA."),
        ("completeness", "It is a partial sequence."),
        ("molecule", "It is an rRNA gene."),
        ("qualifier", "It is from clone C14_d02_2."),
    ]
    genome = by_accession["LSU", "BX571857"]  # no type nor extent stated: no question about them
    assert [kind for kind, _ in question_answers(parse_description(genome.description, genome.source))] == [
        "organism", "molecule", "qualifier"
    ]


def test_parsing_covers_most_real_titles(all_records):
    coverage = parsing_coverage(all_records)
    assert coverage["16S"]["rrna_type"] == coverage["18S"]["rrna_type"] == 1.0
    for source in ("16S", "18S", "LSU"):
        assert coverage[source]["organism"] > 0.95, coverage
        assert coverage[source]["molecule"] > 0.95, coverage
    assert coverage["16S"]["completeness"] > 0.9 and coverage["18S"]["completeness"] > 0.85, coverage
    # Half the LSU records are genome or contig records, whose titles state no rRNA type or extent.
    assert 0.4 < coverage["LSU"]["rrna_type"] < 0.7, coverage


def test_split_is_by_accession_hash_deterministic_and_about_ten_percent(all_records):
    splits = {}
    for record in all_records:
        assert splits.setdefault(record.accession, record.split) == record.split, record.accession
    # The LSU file repeats accessions (multi-copy operons): those copies exist and share one side.
    repeated = [accession for accession, n in Counter(r.accession for r in all_records).items() if n > 1]
    assert len(repeated) > 100
    test_share = sum(split == "test" for split in splits.values()) / len(splits)
    assert 0.08 < test_share < 0.12, test_share
    # A capped read picks a spread of accessions, every copy of each, with the same splits, every time.
    capped = read_rrna_records(SHARED_DATA, sources=("LSU",), max_records_per_file=300, window=30)
    assert capped == read_rrna_records(SHARED_DATA, sources=("LSU",), max_records_per_file=300, window=30)
    assert 300 <= len(capped) < 320
    full_lsu = [record for record in all_records if record.source == "LSU"]
    chosen = {record.accession for record in capped}
    assert capped == [record for record in full_lsu if record.accession in chosen]
    with pytest.raises(ValueError, match="Unknown rRNA source"):
        read_rrna_records(SHARED_DATA, sources=("5S",))
    with pytest.raises(FileNotFoundError, match="--data_dir"):
        read_rrna_records(SHARED_DATA / "missing")


def test_window_keeps_the_first_nucleotides(by_accession):
    whole = read_rrna_records(SHARED_DATA, sources=("18S",), max_records_per_file=5, window=None)
    cut = read_rrna_records(SHARED_DATA, sources=("18S",), max_records_per_file=5, window=600)
    assert [record.sequence[:600] for record in whole] == [record.sequence for record in cut]
    assert all(len(record.sequence) > 700 for record in whole)


def test_stage1_rows_hold_only_the_sequence_reference(all_records):
    rows = alignment_rows(all_records[:50])
    for row, record in zip(rows, all_records[:50]):
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert row["messages"][0]["content"] == "@rna"
        assert row["messages"][1]["content"] == row["answers"][0] == record.description
        assert row["sequences"] == [{"name": "rna", "sequence": record.sequence}]


def test_stage2_phrasing_pools_are_disjoint_and_each_split_uses_its_own(all_records):
    for kind, question in QUESTIONS.items():
        assert question.train and question.test and not set(question.train) & set(question.test), kind
    with pytest.raises(ValueError, match="disjoint"):
        QuestionKind(train=("Which? {rna}",), test=("Which? {rna}",), answer="{value}")
    records = [r for r in all_records if r.split == "test"][:150] + [r for r in all_records if r.split == "train"][:150]
    rows = instruction_rows(records)
    assert rows["task"].count("rna_organism") > 100 and "rna_qualifier" in rows["task"]
    asked = {"train": set(), "test": set()}
    for row in rows:
        question = row["messages"][0]["content"]
        asked[row["split"]].add(question)
        kind = row["task"].removeprefix("rna_")
        assert question in {q.format(rna="@rna") for q in getattr(QUESTIONS[kind], row["split"])}
        assert row["answers"][0].endswith(".") and len(row["answers"][0].split()) <= 12
    assert asked["train"] and asked["test"] and not asked["train"] & asked["test"]
    assert instruction_rows(records)["messages"] == rows["messages"]  # the same phrasings every time


# ------------------------------------------------------------------ smoke runs on tiny parts



@pytest.fixture(scope="module")
def short_records():
    """Real records cut to 60 nt (10 decoder vectors), with titles of at most 60 characters (short targets)."""
    records = read_rrna_records(SHARED_DATA, max_records_per_file=200, window=60)
    return [record for record in records if len(record.description) <= 60][:24]


def smoke_args(stage: int, output_dir, *extra: str):
    return parse_args([
        "--stage", str(stage),
        "--output_dir", str(output_dir),
        "--max_steps", "4",
        "--per_device_train_batch_size", "3",
        "--learning_rate", "1e-2",
        "--warmup_steps", "0",
        "--logging_steps", "1",
        "--save_strategy", "no",
        "--generation_eval_per_task", "0",
        "--report_to", "none",
        "--use_cpu",
        "--disable_tqdm", "true",
        *extra,
    ])


def weights(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@pytest.fixture(scope="module")
def stage1_run(parts, short_records, tmp_path_factory):
    """Four stage-1 steps; returns the weights before and after and the output directory."""
    output_dir = tmp_path_factory.mktemp("rnagpt") / "stage1"
    args, config = smoke_args(1, output_dir, "--encoder", parts["encoder"], "--decoder", parts["decoder"])
    model, processor = build_stage1_model(args.encoder, args.decoder)
    before = weights(model)
    trainer = run_stage1(model, processor, alignment_rows(short_records), [], args, config)
    return {"before": before, "after": weights(model), "output_dir": output_dir, "steps": trainer.state.global_step}


def test_stage1_input_is_the_projected_rna_alone(parts, short_records):
    model, processor = build_stage1_model(parts["encoder"], parts["decoder"])
    assert model.config.projector_type == "linear" and processor.system_prompt is None
    batch = ChatNTDataCollator(processor)(list(alignment_rows(short_records[:2])))
    for index in range(2):
        prompt = batch["input_ids"][index][batch["labels"][index] == -100]
        prompt = prompt[batch["attention_mask"][index][batch["labels"][index] == -100].bool()]
        placeholders = int((prompt == processor.dna_token_id).sum())
        assert placeholders == 11  # 60 nt: the CLS token and one vector per 6-mer
        # Besides the placeholders, only the chat template's own tokens (the tiny decoder's Vicuna form).
        text = processor.tokenizer.decode(prompt)
        assert text == "<s> USER: " + "<DNA>" * placeholders + " ASSISTANT:", text


# SmolLM2-135M-Instruct's chat template: a conversation without a system turn gets a default one.
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_default_system_messages_of_chat_templates_are_removed(make_processor):
    processor = without_default_system_message(make_processor("linear", chat_template=SMOLLM2_TEMPLATE))
    assert processor.system_prompt is None
    rendered = processor.tokenizer.apply_chat_template(
        [{"role": "user", "content": "@rna"}], chat_template=processor.chat_template, tokenize=False
    )
    assert rendered == "<|im_start|>user\n@rna<|im_end|>\n"
    always_system = "{{ 'system: be brief' }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(ValueError, match="writes a system turn"):
        without_default_system_message(make_processor("linear", chat_template=always_system))


def test_stage1_trains_the_projection_only_and_saves_without_the_decoder(stage1_run):
    before, after = stage1_run["before"], stage1_run["after"]
    assert stage1_run["steps"] == 4
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == {"model.projector.dna_projection.weight", "model.projector.dna_projection.bias"}, changed
    stored = load_file(stage1_run["output_dir"] / "model.safetensors")
    assert not any(name.startswith(("model.language_model.", "lm_head.")) for name in stored)
    summary = json.loads((stage1_run["output_dir"] / "rnagpt_training.json").read_text())
    assert summary["stage"] == 1 and set(summary["trained_parameters"]) == {"projector"}


def test_stage2_trains_lora_and_the_projection_from_the_stage1_checkpoint(stage1_run, short_records, tmp_path):
    args, config = smoke_args(2, tmp_path / "stage2", "--stage1_dir", str(stage1_run["output_dir"]))
    model, processor = load_stage1(args.stage1_dir)
    assert processor.system_prompt is None
    start = weights(model)
    for name, tensor in stage1_run["after"].items():  # stage 2 starts where stage 1 ended
        assert torch.equal(start[name], tensor), name
    trainer = run_stage2(model, processor, instruction_rows(short_records), [], args, config)
    assert trainer.state.global_step == 4
    tuned = {name: tensor.detach() for name, tensor in trainer.model.state_dict().items()}
    changed = set()
    for name, tensor in tuned.items():
        if "lora_" in name or ".modules_to_save." in name:
            continue
        original = start[name.removeprefix("base_model.model.").replace(".base_layer.", ".").replace(".original_module.", ".")]
        if not torch.equal(original, tensor):
            changed.add(name)
    assert not changed, changed  # encoder, decoder and the original projection: bitwise identical
    lora_b = [tensor for name, tensor in tuned.items() if "lora_B" in name]
    assert lora_b and all(re.search(r"\.(q_proj|v_proj)\.lora_B", name) for name in tuned if "lora_B" in name)
    assert any(tensor.abs().sum() > 0 for tensor in lora_b)  # initialised at zero, so they trained
    projection = "base_model.model.model.projector.modules_to_save.default.dna_projection.weight"
    assert not torch.equal(tuned[projection], start["model.projector.dna_projection.weight"])
    # Only the projection is saved whole next to the adapters (a trained encoder would be wrapped here too).
    assert all(".projector." in name for name in tuned if ".modules_to_save." in name)
    adapter = load_file(tmp_path / "stage2" / "adapter_model.safetensors")
    assert any("lora_A" in name for name in adapter) and any("projector" in name for name in adapter)
    assert not any("dna_encoder" in name and "lora" not in name for name in adapter)
    summary = json.loads((tmp_path / "stage2" / "rnagpt_training.json").read_text())
    assert set(summary["trained_parameters"]) == {"lora", "projector"} and summary["stage"] == 2
    # Reloaded for inference from the adapter over the stage-1 checkpoint: the tuned weights come back.
    reloaded, reloaded_processor = load_stage2(tmp_path / "stage2")
    assert reloaded_processor.system_prompt is None
    for name, tensor in reloaded.state_dict().items():
        assert torch.equal(tensor, tuned[name]), name


def test_stage2_needs_the_stage1_directory():
    with pytest.raises(ValueError, match="--stage1_dir"):
        parse_args(["--stage", "2", "--output_dir", "unused"])
