"""Motif recovery and the planted-TATA task: splice-site, real fly TATA and planted-TATA annotation, the exact chance
rates, the statistic, the planted task's instruction rows, ``chatnt_sft --init_from`` and an end-to-end run on a tiny model."""

import dataclasses
import json
import math
import random

import numpy as np
import pytest
import torch
from chatnt.evaluation.motif_recovery import (
    SPLICE_JUNCTION,
    aligned_profile,
    chance_of_overlap,
    collect_records,
    fly_tata_records,
    headline,
    main,
    recovery_rate,
    score_attribution,
    splice_motif_span,
    splice_site_records,
    summarize,
    token_spans,
)
from chatnt.evaluation.planted_tata import PositionWeightMatrix, planted_tata_records, reverse_complement
from chatnt.training.chatnt_sft import build_model, load_instruction_dataset, parse_args, train_chatnt
from chatnt.tasks.registry import load_task
from chatnt.tasks.instruction_data import ROW_FEATURES
from helpers import random_dna

PLANTED_BUILDER = "chatnt.evaluation.planted_tata:build_planted_tata_instructions"


@dataclasses.dataclass
class FakeAttribution:
    """The fields of chatnt.evaluation.attribution.SequenceAttribution that the statistic reads."""

    sequence: str
    tokens: list[str]
    token_scores: np.ndarray


def fake_attribution(sequence: str, peak_token: int, runner_up: int | None = None) -> FakeAttribution:
    """6-mer tokens (leftover bases single), small random scores, one token far above the rest."""
    full = len(sequence) // 6 * 6
    tokens = [sequence[i : i + 6] for i in range(0, full, 6)] + list(sequence[full:])
    scores = np.random.default_rng(0).uniform(-0.1, 0.1, len(tokens))
    scores[peak_token] = -5.0  # signed: the magnitude counts
    if runner_up is not None:
        scores[runner_up] = 3.0
    return FakeAttribution(sequence, tokens, scores)


# --- splice sites ----------------------------------------------------------------------------------


def test_fly_tata_records_hold_exactly_one_box_where_they_say_and_ask_the_tuned_question():
    import re

    records, skipped = fly_tata_records(split="test")
    test_ids = {row["id"] for row in load_task("promoter_motifs", max_per_class=None) if row["split"] == "test"}
    assert len(records) > 50 and skipped["fly_tata"] > 0
    for record in records:
        assert record.id in test_ids and record.answer == "yes" and record.group == "fly_tata"
        assert re.fullmatch("TATA[AT]A[AT]", record.sequence[record.motif_start : record.motif_end])
        assert len(re.findall("(?=TATA[AT]A[AT])", record.sequence)) == 1
        assert "@seq contains a TATA box" in record.question and record.question.endswith("Answer yes or no.")
    capped, _ = fly_tata_records(split="test", max_per_label=5)
    assert len(capped) == 5 and set(capped) <= set(records)
    with pytest.raises(ValueError, match="Unknown task"):
        collect_records(["tata"], None, "test", 2, 0)


def test_splice_dinucleotides_are_found_at_the_junction_and_nowhere_else():
    donor = "CCCCAG" + "GTAAGT" + "CCCC"  # exon ...CAG | GTAAGT intron
    assert splice_motif_span(donor, "donor", junction=6) == (6, 8)
    assert splice_motif_span(donor, "acceptor", junction=6) == (4, 6)  # the exon's AG is also there
    acceptor = "TTTTTTTCAG" + "GTCC"
    assert splice_motif_span(acceptor, "acceptor", junction=10) == (8, 10)
    assert splice_motif_span(acceptor, "donor", junction=10) == (10, 12)
    assert splice_motif_span("TTTTTTTCAC" + "ATCC", "acceptor", junction=10) is None
    assert splice_motif_span("AAAAAGTAAAAA", "donor", junction=6) is None  # a GT one base off does not count
    with pytest.raises(ValueError, match="site must be one of"):
        splice_motif_span(donor, "branch point")
    with pytest.raises(ValueError, match="no room"):
        splice_motif_span("GT", "acceptor", junction=1)


def test_dnahl_splice_labels_are_permuted_and_the_records_carry_their_dinucleotide():
    # The fact the annotation rests on: "Acceptor Sites" windows hold a donor GT, "Non-Splice Sites" an acceptor AG.
    data = load_task("splice_site", max_per_class=None)
    by_label = {label: [row["sequence"] for row in data if row["label"] == label] for label in set(data["label"])}
    at = lambda label, start, pair: np.mean([s[start : start + 2] == pair for s in by_label[label]])
    assert at("Acceptor Sites", SPLICE_JUNCTION, "GT") > 0.95
    assert at("Non-Splice Sites", SPLICE_JUNCTION - 2, "AG") == 1.0
    assert at("Donor Sites", SPLICE_JUNCTION, "GT") < 0.5 and at("Donor Sites", SPLICE_JUNCTION - 2, "AG") < 0.5
    records, skipped = splice_site_records(split="all")
    assert {record.group for record in records} == {"splice_donor", "splice_acceptor"}
    for record in records:
        assert record.sequence[record.motif_start : record.motif_end] == record.motif_name
        assert record.answer == record.label and "@seq" in record.question
    assert skipped == {"splice_donor": 1}  # the one "Acceptor Sites" window without GT at the junction
    capped, _ = splice_site_records(split="test", max_per_label=3)
    assert sorted(record.group for record in capped) == ["splice_acceptor"] * 3 + ["splice_donor"] * 3
    assert capped == splice_site_records(split="test", max_per_label=3)[0]


# --- PWM and the planted task ----------------------------------------------------------------------


def test_pwm_scores_by_hand_on_both_strands():
    matrix = PositionWeightMatrix.from_counts({"A": [8, 0], "C": [0, 0], "G": [0, 0], "T": [0, 8]}, pseudocount=1.0)
    # Column 1: A = 9/12, others 1/12. Log2 odds vs 1/4: A +log2(3), others log2(1/3).
    high, low = math.log2(3), math.log2(1 / 3)
    np.testing.assert_allclose(matrix.scores("ATA"), [2 * high, 2 * low])
    assert matrix.best_score("TTTT", both_strands=False) == pytest.approx(low + high)
    assert matrix.best_score("TAT") == pytest.approx(2 * high)  # reverse complement ATA holds AT
    assert matrix.scores("NT")[0] == pytest.approx(low + high)  # N scores the column minimum
    assert reverse_complement("AACGTN") == "NACGTT"
    with pytest.raises(ValueError, match="lacks the base"):
        PositionWeightMatrix.from_counts({"A": [1], "C": [1], "G": [1]})


def test_tata_samples_score_high_and_real_background_does_not():
    matrix = PositionWeightMatrix.from_jaspar()
    assert (matrix.matrix_id, matrix.length) == ("MA0108.3", 7)
    rng = random.Random(0)
    sampled = [float(matrix.scores(matrix.sample(rng))[0]) for _ in range(300)]
    shuffled = [matrix.best_score(random_dna(200, seed)) for seed in range(30)]
    assert np.median(sampled) > 8.0 > np.median(shuffled)


@pytest.fixture(scope="module")
def planted():
    return planted_tata_records(n_train_per_label=6, n_test_per_label=4)


def test_planted_records_are_balanced_clean_and_put_the_motif_where_they_say(planted):
    matrix = PositionWeightMatrix.from_jaspar()
    pairs = list(zip(planted["split"], planted["label"]))
    assert {pair: pairs.count(pair) for pair in set(pairs)} == {
        ("train", "TATA box"): 6, ("train", "no TATA box"): 6, ("test", "TATA box"): 4, ("test", "no TATA box"): 4,
    }
    for row in planted:
        sequence, start, end = row["sequence"], row["planted_start"], row["planted_end"]
        assert len(sequence) == 200 and set(sequence) <= set("ACGT") and end - start == 7
        assert sequence[start:end] == row["planted_instance"]
        if row["label"] == "TATA box":
            assert row["planted_kind"] == "motif" and matrix.scores(sequence[start:end])[0] >= 8.0
            # Every strong window on the forward strand touches the planted span: the background was clean.
            strong = np.flatnonzero(matrix.scores(sequence) >= 6.0)
            assert len(strong) and all(start - 7 < position < end for position in strong)
        else:
            assert row["planted_kind"] == "decoy" and matrix.best_score(sequence) < 6.0
            assert sorted(row["planted_instance"]) != sorted("GGGGGGG")  # a shuffle of a sampled instance
    # Test records depend on neither the train quota nor the call.
    test_only = planted_tata_records(n_train_per_label=0, n_test_per_label=4)
    assert test_only.to_list() == planted.filter(lambda row: row["split"] == "test").to_list()
    with pytest.raises(ValueError, match="must not exceed min_motif_score"):
        planted_tata_records(n_test_per_label=1, min_motif_score=5.0, max_background_score=6.0)


def test_planted_instruction_rows_load_through_chatnt_sft():
    train, test = load_instruction_dataset(PLANTED_BUILDER, {"n_train_per_label": 4, "n_test_per_label": 2})
    assert (len(train), len(test)) == (8, 4)
    assert train.features == ROW_FEATURES
    for row in list(train) + list(test):
        assert row["task"] == "planted_tata" and row["answers"] in (["yes"], ["no"])
        question = row["messages"][1]["content"]
        assert "TATA box" in question and f"@{row['sequences'][0]['name']}" in question
        assert row["messages"][-1]["role"] == "assistant"
    assert sorted(answer for row in train for answer in row["answers"]) == ["no"] * 4 + ["yes"] * 4


# --- the statistic ---------------------------------------------------------------------------------


def test_token_spans_and_exact_chance_rates_by_hand():
    spans = token_spans(["AAAAAA", "CCCCCC", "GGGGGG", "A", "N"], 20)
    np.testing.assert_array_equal(spans, [[0, 6], [6, 12], [12, 18], [18, 19], [19, 20]])
    # 5 tokens; [7, 9) overlaps one: 1/5, and one of 2 random tokens: 1 - C(4,2)/C(5,2) = 0.4.
    assert chance_of_overlap(spans, 7, 9) == pytest.approx(1 / 5)
    assert chance_of_overlap(spans, 7, 9, top_n=2) == pytest.approx(0.4)
    # [10, 14) overlaps two tokens: 2/5 and 1 - C(3,2)/C(5,2) = 0.7; all five tokens always hit.
    assert chance_of_overlap(spans, 10, 14) == pytest.approx(2 / 5)
    assert chance_of_overlap(spans, 10, 14, top_n=2) == pytest.approx(0.7)
    assert chance_of_overlap(spans, 10, 14, top_n=9) == 1.0
    with pytest.raises(ValueError, match="cover 20 bp, not the sequence's 21 bp"):
        token_spans(["AAAAAA", "CCCCCC", "GGGGGG", "A", "N"], 21)


def test_a_peak_on_the_motif_scores_one_and_a_peak_elsewhere_zero():
    sequence = random_dna(200, 1)  # 33 six-mers + 2 single bases = 35 tokens
    motif = (100, 107)  # tokens [96, 102) and [102, 108): indices 16 and 17
    on = [score_attribution(fake_attribution(sequence, peak), *motif) for peak in (16, 17)]
    off = [score_attribution(fake_attribution(sequence, peak), *motif) for peak in (0, 30)]
    assert [item["peak_hit"] for item in on] == [True, True] and [item["top_hit"] for item in on] == [True, True]
    assert [item["peak_hit"] for item in off] == [False, False]
    assert on[0]["peak_span"] == [96, 102] and on[0]["peak_chance"] == pytest.approx(2 / 35)
    assert on[0]["top_chance"] == pytest.approx(1 - math.comb(33, 5) / math.comb(35, 5))
    # The runner-up on the motif: missed by the peak rule, found by the top-5 rule.
    second = score_attribution(fake_attribution(sequence, 0, runner_up=17), *motif)
    assert (second["peak_hit"], second["top_hit"]) == (False, True)
    scored = [dict(item, group="planted_tata", task="planted_tata", label="TATA box", motif_name="TATA box")
              for item in on] + [dict(item, group="planted_tata_decoy", task="planted_tata", label="no TATA box",
                                      motif_name="decoy") for item in off]
    results = {(result.group, result.rule): result for result in summarize(scored)}
    assert results[("planted_tata", "peak")].rate == 1.0 and results[("planted_tata", "top5")].rate == 1.0
    assert results[("planted_tata_decoy", "peak")].rate == 0.0
    assert results[("planted_tata", "peak")].ratio == pytest.approx(35 / 2)
    assert results[("planted_tata", "peak")].peaks_on_single_bases == 0
    single = score_attribution(fake_attribution(sequence, 34), *motif)  # token 34: the last leftover base
    assert single["peak_span"] == [199, 200]
    assert summarize([dict(single, group="planted_tata", task="t", label="l", motif_name="m")])[0].peaks_on_single_bases == 1
    lines = headline(summarize(scored))
    assert "planted_tata_peak_in_motif: 1.000" in lines and "planted_tata_chance: 0.057" in lines
    with pytest.raises(ValueError, match="outside the 200 bp sequence"):
        score_attribution(fake_attribution(sequence, 0), 195, 205)


def test_recovery_rate_p_value_and_aligned_profile():
    rate, chance, ratio, p_value = recovery_rate([True] * 3 + [False] * 7, [0.1] * 10)
    assert (rate, chance, ratio) == (0.3, pytest.approx(0.1), pytest.approx(3.0))
    # P(X >= 3) for X ~ Binomial(10, 0.1), by hand.
    assert p_value == pytest.approx(1 - sum(math.comb(10, k) * 0.1**k * 0.9 ** (10 - k) for k in range(3)))
    with pytest.raises(ValueError, match="as many chance rates"):
        recovery_rate([True], [0.1, 0.2])
    offsets, profile = aligned_profile([([0, 0, 4, 0], 2), ([1, 1, 1, 1], 1)], flank=2)
    np.testing.assert_array_equal(offsets, [-2, -1, 0, 1, 2])
    # Sequence 1 (shares 0, 0, 1, 0, motif start 2) and 2 (0.25 each, start 1): offset -2 exists only in
    # sequence 1, offset +2 only in sequence 2.
    np.testing.assert_allclose(profile, [0.0, 0.125, 0.625, 0.125, 0.25])


def test_the_statistic_matches_attribution_peak_and_top_kmers_on_six_mers():
    attribution_module = pytest.importorskip("chatnt.evaluation.attribution")

    def real(sequence, peak_token, runner_up=None):
        fake = fake_attribution(sequence, peak_token, runner_up)
        base_scores = attribution_module.spread_over_bases(fake.tokens, fake.token_scores, len(sequence), "x")
        return attribution_module.SequenceAttribution("x", sequence, fake.tokens, fake.token_scores, base_scores)

    six_mers_only = real(random_dna(96, 3), 7, runner_up=2)
    scored = score_attribution(six_mers_only, 40, 44)
    assert scored["peak_span"][0] <= six_mers_only.peak() < scored["peak_span"][1]
    assert [[start, start + 6] for start, _, _ in six_mers_only.top_kmers(6, 5)] == scored["top_spans"]
    # A leftover single base with a third of the peak 6-mer's score: the per-base peak() picks it (2x per
    # base), the token rule keeps the 6-mer.
    leftover = real(random_dna(97, 3), 7)
    leftover.token_scores[-1] = 5.0 / 3
    leftover.base_scores = attribution_module.spread_over_bases(leftover.tokens, leftover.token_scores, 97, "x")
    assert leftover.peak() == 96 and score_attribution(leftover, 40, 44)["peak_span"] == [42, 48]


# --- chatnt_sft --init_from and an end-to-end run ------------------------------------------------------


def sft_argv(output_dir, *extra):
    return ["--preset", "mini", "--dataset", "unused", "--output_dir", str(output_dir), "--max_steps", "2",
            "--per_device_train_batch_size", "2", "--learning_rate", "1e-2", "--warmup_steps", "0",
            "--logging_steps", "1", "--save_strategy", "no", "--eval_strategy", "no", "--report_to", "none",
            "--use_cpu", "--disable_tqdm", "true", "--bf16", "false", *extra]


@pytest.fixture(scope="module")
def saved_tiny_chatnt(parts, tmp_path_factory):
    """A tiny ChatNT saved as the SFT script saves one (no decoder, its reference), with its processor."""
    root = tmp_path_factory.mktemp("tiny-chatnt")
    script_args, _ = parse_args(sft_argv(root / "unused", "--encoder", parts["encoder"], "--decoder",
                                         parts["decoder"], "--num_latents", "4"))
    model, processor = build_model(script_args)
    model.save_pretrained(root / "model", include_text_model=False)
    processor.save_pretrained(root / "model")
    return str(root / "model")


def test_init_from_continues_training_a_saved_checkpoint(saved_tiny_chatnt, tmp_path):
    script_args, config = parse_args(sft_argv(tmp_path / "run", "--init_from", saved_tiny_chatnt))
    model, processor = build_model(script_args)
    assert processor.dna_tokens_per_sequence == 4
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    rows = load_instruction_dataset(PLANTED_BUILDER, {"n_train_per_label": 2, "n_test_per_label": 1})[0]
    trainer = train_chatnt(model, processor, rows, [], script_args, config)
    assert trainer.state.global_step == 2
    changed = {name for name, tensor in model.state_dict().items() if not torch.equal(before[name], tensor)}
    assert any(name.startswith("model.dna_encoder.") for name in changed)
    assert any(name.startswith("model.projector.") for name in changed)
    assert all(name.startswith(("model.dna_encoder.", "model.projector.")) for name in changed), changed
    # Saved like any run; the processor adopted the planted task's system message.
    assert "TATA box detection" in json.loads((tmp_path / "run" / "processor_config.json").read_text())["system_prompt"]
    frozen, _ = parse_args(sft_argv(tmp_path / "frozen", "--init_from", saved_tiny_chatnt, "--train_dna_encoder", "false"))
    model, _ = build_model(frozen)
    assert not any(p.requires_grad for p in model.model.dna_encoder.parameters())
    assert all(p.requires_grad for p in model.model.projector.parameters())
    clash, _ = parse_args(sft_argv(tmp_path / "clash", "--init_from", saved_tiny_chatnt, "--num_latents", "8"))
    with pytest.raises(ValueError, match="drop --num_latents or drop --init_from"):
        build_model(clash)


def test_script_runs_end_to_end_on_a_tiny_model(saved_tiny_chatnt, tmp_path, capsys):
    results = main(["--model", saved_tiny_chatnt, "--output_dir", str(tmp_path), "--max_per_label", "2"])
    assert {(result.group, result.rule) for result in results} == {
        (group, rule)
        for group in ("splice_donor", "splice_acceptor", "fly_tata", "planted_tata", "planted_tata_decoy")
        for rule in ("peak", "top5")
    }
    report = json.loads((tmp_path / "motif_recovery.json").read_text())
    assert len(report["records"]) == 10 and len(report["results"]) == 10
    assert report["records"][0]["target_token"]
    assert (tmp_path / "motif_recovery.png").stat().st_size > 0
    for name in ["kmer_frequencies"] + [f"{group}_{kind}" for group in ("splice_donor", "planted_tata")
                                        for kind in ("track", "logo")]:
        assert (tmp_path / f"{name}.png").stat().st_size > 1000, name
    assert "| splice_donor | Acceptor Sites | GT | peak | 2 |" in (tmp_path / "motif_recovery.md").read_text()
    last = capsys.readouterr().out.strip().splitlines()[-30:]
    assert last[0].startswith("splice_donor_peak_in_gt: ") and last[1].startswith("splice_donor_chance: ")
    assert any(line.startswith("planted_tata_peak_in_motif: ") for line in last)
