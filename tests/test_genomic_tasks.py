"""The task registry and its loaders, on the real files of ../shared/data (small caps keep them fast)."""

import collections
import gzip
import hashlib
import itertools
import random
import re

import pytest
from chatnt.tasks.registry import (
    FLY_LOCUS_GAP,
    PROMOTER_MOTIFS,
    TASKS,
    TaskSpec,
    dinucleotide_shuffle,
    gc_content,
    get_task,
    hash_split,
    hub_task_rows,
    load_task,
    task_table,
)
from chatnt.tasks.instruction_data import PHRASINGS
from datasets import Dataset, DatasetDict
from helpers import SHARED_DATA

DNAHL_FOUR = ("core_promoter", "promoter_300", "tf_binding", "splice_site")


def dinucleotides(sequence: str) -> collections.Counter:
    return collections.Counter(itertools.pairwise(sequence))


@pytest.fixture(scope="module")
def dnahl():
    return {name: load_task(name) for name in (*DNAHL_FOUR, "promoter_terminator")}


@pytest.fixture(scope="module")
def fly_shuffled():
    return load_task("fly_promoter_shuffled", max_per_class=40)


def test_every_task_has_a_loader_and_a_phrasing():
    assert set(PHRASINGS) == set(TASKS)
    assert {spec.type for spec in TASKS.values()} == {"binary", "multiclass", "multilabel", "regression"}
    for spec in TASKS.values():
        assert spec.sources and spec.licence and spec.description
        for source in spec.sources:
            assert (SHARED_DATA / source).is_file(), source


def test_task_spec_rejects_inconsistent_definitions():
    with pytest.raises(ValueError, match="type must be one of"):
        TaskSpec("x", "ordinal", "x", "mcc", (), "", 10, labels=("a", "b"))
    with pytest.raises(ValueError, match="metric must be one of"):
        TaskSpec("x", "binary", "x", "auroc", (), "", 10, labels=("a", "b"))
    with pytest.raises(ValueError, match="exactly 2 labels"):
        TaskSpec("x", "binary", "x", "mcc", (), "", 10, labels=("a", "b", "c"))
    with pytest.raises(ValueError, match="value_range"):
        TaskSpec("x", "regression", "x", "pearson", (), "", 10)


def test_unknown_task_names_close_matches():
    with pytest.raises(KeyError, match="Did you mean core_promoter"):
        get_task("core_promotor")
    with pytest.raises(KeyError, match="Unknown task"):
        load_task("enhancers")


def test_missing_data_is_reported_with_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="Data folder not found"):
        load_task("oct4_mafk", data_dir=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="janggu/sample.fa"):
        load_task("oct4_mafk", data_dir=tmp_path)


def test_dnahl_split_rule_reproduces_the_published_test_halves(dnahl):
    tests = {name: data["split"].count("test") for name, data in dnahl.items()}
    assert sum(tests[name] for name in DNAHL_FOUR) == 518
    assert tests["promoter_terminator"] == 621
    for data in dnahl.values():
        for row in data:
            expected = "test" if int(hashlib.sha256(row["sequence"].encode()).hexdigest(), 16) % 2 == 0 else "train"
            assert row["split"] == expected


def test_dnahl_labels_and_lengths_match_the_data_readme(dnahl):
    counts = {name: collections.Counter(data["label"]) for name, data in dnahl.items()}
    assert counts["core_promoter"] == {"Non-promoter": 149, "promoter": 142}
    assert counts["promoter_300"] == {"Non-promoter": 129, "promoter": 149}
    assert counts["tf_binding"] == {"Background Sequences": 92, "Binding Sites": 90}
    assert counts["splice_site"] == {"Acceptor Sites": 50, "Donor Sites": 134, "Non-Splice Sites": 65}
    assert counts["promoter_terminator"] == {"promoter": 617, "terminator": 567}
    for name, data in dnahl.items():
        assert {len(sequence) for sequence in data["sequence"]} == {TASKS[name].sequence_length}


def test_cap_is_per_class_and_split_and_reproducible():
    capped = load_task("splice_site", max_per_class=10, seed=3)
    counts = collections.Counter(zip(capped["split"], capped["label"]))
    assert set(counts.values()) == {10} and len(counts) == 6
    assert load_task("splice_site", max_per_class=10, seed=3)["id"] == capped["id"]
    assert load_task("splice_site", max_per_class=10, seed=4)["id"] != capped["id"]
    assert load_task("splice_site", split="test").num_rows == 120


def test_rrna_windows_split_by_accession():
    data = load_task("rrna_type", max_per_class=60)
    counts = collections.Counter(zip(data["split"], data["label"]))
    assert counts == {(split, label): 60 for split in ("train", "test") for label in ("16S", "18S", "23S/28S")}
    assert {len(sequence) for sequence in data["sequence"]} == {500}
    assert set("".join(data["sequence"])) <= set("ACGTN")
    for row in data:
        accession = row["id"].rsplit("_", 1)[0]
        assert row["split"] == hash_split(f"rrna:{accession}")


def test_hash_split_is_stable_and_near_its_fraction():
    splits = [hash_split(f"key{i}", test_fraction=0.2) for i in range(5000)]
    assert 0.18 < splits.count("test") / len(splits) < 0.22
    assert splits == [hash_split(f"key{i}", test_fraction=0.2) for i in range(5000)]
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        hash_split("x", 1.0)


def test_oct4_mafk_uses_the_janggu_test_files():
    data = load_task("oct4_mafk", max_per_class=None)
    counts = collections.Counter(zip(data["split"], data["label"]))
    assert counts == {("train", "Oct4"): 3897, ("train", "Mafk"): 3900, ("test", "Oct4"): 100, ("test", "Mafk"): 100}
    assert {len(sequence) for sequence in data["sequence"]} == {200}
    # Soft-masked repeats are upper-cased, so case cannot tell the classes apart.
    assert set("".join(data["sequence"])) <= set("ACGTN")


def test_gc_content_values_are_computed_from_the_sequences():
    data = load_task("gc_content", max_per_class=25)
    assert collections.Counter(data["split"]) == {"train": 25, "test": 25}
    for row in data:
        bases = collections.Counter(row["sequence"])
        assert row["label"] == pytest.approx(100 * (bases["G"] + bases["C"]) / sum(bases[b] for b in "ACGT"))
    assert len(set(data["label"])) > 10
    assert gc_content("ggccatNN") == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="undefined"):
        gc_content("NNNN")


def _fly_windows_from_file():
    """The last 300 bp of every fly record, read independently of the loader."""
    with gzip.open(SHARED_DATA / "fly/dm3_upstream2000.fa.gz", "rt") as handle:
        text = handle.read()
    windows = {}
    for chunk in text[1:].split("\n>"):
        header, _, body = chunk.partition("\n")
        windows[header.split()[0]] = body.replace("\n", "")[-300:].upper()
    return windows


def test_fly_task_shuffles_real_windows_keeping_dinucleotides(fly_shuffled):
    windows = _fly_windows_from_file()
    labels = collections.Counter(fly_shuffled["label"])
    assert labels["promoter"] > 10 and labels["shuffled"] > 10
    for row in fly_shuffled:
        window = windows[row["id"].removesuffix("_shuffled")]
        assert len(row["sequence"]) == 300 and "N" not in row["sequence"]
        if row["label"] == "promoter":
            assert row["sequence"] == window
        else:
            assert row["sequence"] != window
            assert dinucleotides(row["sequence"]) == dinucleotides(window)


def test_nearby_fly_windows_share_a_split():
    data = load_task("promoter_motifs", max_per_class=None)  # the same windows and split as the shuffle task
    located = sorted(
        (chrom, int(start), split)
        for chrom, start, split in (
            (*re.search(r"_(chr\w+)_(-?\d+)_[fr]", row_id).groups(), split)
            for row_id, split in zip(data["id"], data["split"], strict=True)
        )
    )
    close = [(a, b) for a, b in itertools.pairwise(located) if a[0] == b[0] and b[1] - a[1] <= FLY_LOCUS_GAP]
    assert len(close) > 1000 and all(a[2] == b[2] for a, b in close)
    assert 0.15 < data["split"].count("test") / data.num_rows < 0.3


def test_promoter_motifs_are_the_motifs_of_the_window():
    data = load_task("promoter_motifs", max_per_class=50)
    assert collections.Counter(data["split"]) == {"train": 50, "test": 50}
    seen = collections.Counter(label for labels in data["label"] for label in labels)
    assert set(seen) <= set(PROMOTER_MOTIFS) and len(seen) >= 3
    for row in data:
        assert row["label"] == [name for name in PROMOTER_MOTIFS if name in row["label"]]  # registry order
        assert ("TATA box" in row["label"]) == any(
            box in row["sequence"] for box in ("TATAAAA", "TATAAAT", "TATATAA", "TATATAT")
        )


def test_dinucleotide_shuffle_keeps_counts_ends_and_is_seeded():
    rng = random.Random(0)
    for length in (3, 10, 57, 300):
        sequence = "".join(rng.choice("ACGTN") for _ in range(length))
        shuffled = dinucleotide_shuffle(sequence, random.Random(length))
        assert dinucleotides(shuffled) == dinucleotides(sequence)
        assert (shuffled[0], shuffled[-1], len(shuffled)) == (sequence[0], sequence[-1], len(sequence))
        assert shuffled == dinucleotide_shuffle(sequence, random.Random(length))
    long = "".join(rng.choice("ACGT") for _ in range(300))
    assert dinucleotide_shuffle(long, random.Random(1)) != long


def test_dinucleotide_shuffle_is_uniform_over_all_valid_sequences():
    sequence = "AACAGTAC"  # 6 sequences share its first letter and dinucleotide counts
    valid = {
        "".join(candidate)
        for candidate in itertools.permutations(sequence)
        if candidate[0] == sequence[0] and dinucleotides(candidate) == dinucleotides(sequence)
    }
    rng = random.Random(0)
    draws = collections.Counter(dinucleotide_shuffle(sequence, rng) for _ in range(600 * len(valid)))
    assert len(valid) == 6 and set(draws) == valid
    assert max(draws.values()) / min(draws.values()) < 1.3


def test_hub_rows_map_columns_and_integer_labels():
    spec = TaskSpec(
        "nt_promoter", "binary", "promoter detection", "mcc", (), "CC BY-NC-SA 4.0", 6, labels=("no", "yes")
    )
    hub = DatasetDict(
        {
            "train": Dataset.from_dict({"seq": ["acgtac", "ttttgg"], "y": [0, 1], "name": ["r1", "r2"]}),
            "test": Dataset.from_dict({"seq": ["ggggcc"], "y": [1], "name": ["r3"]}),
        }
    )
    rows = hub_task_rows(hub, spec, sequence_column="seq", label_column="y", id_column="name")
    assert rows.to_list() == [
        {"id": "r1", "sequence": "ACGTAC", "label": "no", "split": "train"},
        {"id": "r2", "sequence": "TTTTGG", "label": "yes", "split": "train"},
        {"id": "r3", "sequence": "GGGGCC", "label": "yes", "split": "test"},
    ]
    with pytest.raises(KeyError, match="no column 'label'"):
        hub_task_rows(hub, spec, sequence_column="seq")
    with pytest.raises(KeyError, match="no split 'validation'"):
        hub_task_rows(hub, spec, sequence_column="seq", label_column="y", split_names={"test": "validation"})


def test_task_table_counts_splits(dnahl):
    (row,) = task_table({"splice_site": dnahl["splice_site"]})
    assert row == {
        "task": "splice_site",
        "type": "multiclass",
        "train": 129,
        "test": 120,
        "labels": "Non-Splice Sites / Acceptor Sites / Donor Sites",
        "metric": "mcc",
        "sources": "dnahl/gpt2-small2-sft3.json",
    }
