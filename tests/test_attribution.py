"""Gradient x input attribution of ChatNT answers: shapes, a model whose answer rests on one known
6-mer, a finite-difference check of the gradient, aggregation and plots (tiny models, seconds)."""

from collections import Counter
from itertools import pairwise

import numpy as np
import pytest
import torch
from chatnt.evaluation.attribution import (
    SequenceAttribution,
    _prompt_and_target,
    aggregate_by_label,
    attribute,
    kmer_frequencies,
    spread_over_bases,
)
from chatnt.evaluation.plots import (
    attribution_logo,
    attribution_track,
    kmer_frequency_plot,
)
from helpers import random_dna, tiny_dna_config

MOTIF = "GATTAC"


def _attribution(scores, sequence="ACGTACGTAC", name="s") -> SequenceAttribution:
    scores = np.asarray(scores, dtype=float)
    return SequenceAttribution(name, sequence, list(sequence), scores, scores)


def test_every_sequence_gets_token_and_base_scores(make_model, make_processor):
    model, processor = make_model(), make_processor()
    sequences = {"wt": random_dna(40, 1), "mut": random_dna(23, 2) + "N" + "acg"}
    result = attribute(model, processor, "Does @wt or @mut bind the factor?", sequences, max_new_tokens=3)

    assert [s.name for s in result.sequences] == ["wt", "mut"]
    wt, mut = result.sequences
    assert wt.tokens == ["CAGATT", "TTCATA", "TTATGC", "AGAAAA", "TCTACT", "TCGCCT", "G", "A", "T", "A"]
    assert mut.tokens[-5:] == ["C", "N", "A", "C", "G"] and mut.sequence.endswith("NACG")
    for attribution, dna in zip(result.sequences, sequences.values()):
        assert attribution.sequence == dna.upper()
        assert attribution.token_scores.shape == (len(attribution.tokens),)
        assert attribution.base_scores.shape == (len(dna),)
        assert np.isfinite(attribution.token_scores).all() and np.abs(attribution.token_scores).sum() > 0
        # Spreading keeps each token's total: the bases of the first 6-mer sum to its score.
        assert attribution.base_scores[:6].sum() == pytest.approx(attribution.token_scores[0])
    assert result.answer is not None and result.target_token


def test_placeholder_questions_name_sequences_in_order(make_model, make_processor):
    result = attribute(make_model(), make_processor(), "Compare <DNA> with <DNA>.", [random_dna(12), random_dna(18, 3)],
                       answer="The first sequence binds.")
    assert [s.name for s in result.sequences] == ["seq0", "seq1"]
    assert [len(s.base_scores) for s in result.sequences] == [12, 18]
    assert result.answer == "The first sequence binds."
    # The first answer token that carries text (a leading space token is skipped): a prefix of "The".
    assert result.target_token.strip() and "The".startswith(result.target_token.strip())


def test_model_is_left_as_it_was(make_model, make_processor):
    model, processor = make_model(), make_processor()
    model.train()
    flags = [parameter.requires_grad for parameter in model.parameters()]
    embedding = model.model.dna_encoder.get_input_embeddings()
    attribute(model, processor, "Is <DNA> a promoter?", [random_dna(30)], answer="Yes")
    assert model.training
    assert [parameter.requires_grad for parameter in model.parameters()] == flags
    assert all(parameter.grad is None for parameter in model.parameters())
    assert not embedding._forward_hooks


def _one_motif_model(make_model):
    """A ChatNT whose answer depends on the DNA only through the 6-mer MOTIF, wherever it sits.

    No encoder layers: a DNA token's state is LayerNorm(its embedding). Every embedding row is
    centred and has zeros in hidden units 0 and 1, except MOTIF's, which has +1 / -1 there; the
    linear projection reads units 0 and 1 only. So every placeholder vector is zero except MOTIF's,
    and other tokens, although their embeddings are non-zero, cannot move the answer to first order
    (their gradient x input is 0 up to rounding). A large LayerNorm epsilon keeps the normalisation
    close to linear: a pure LayerNorm ignores the scale of its input, and the gradient x input of any
    scale-invariant function is 0 (Euler), whereas real encoders add the embedding to a residual stream.
    """
    from chatnt import NucleotideTransformerTokenizer

    encoder_config = tiny_dna_config(num_hidden_layers=0, layer_norm_eps=1.0)
    model = make_model("linear", dna_config=encoder_config, decoder_init_range=0.2).double()
    motif_id = NucleotideTransformerTokenizer().convert_tokens_to_ids(MOTIF)
    with torch.no_grad():
        table = model.model.dna_encoder.get_input_embeddings().weight
        table[:, :2] = 0
        table[:, 2:] -= table[:, 2:].mean(dim=1, keepdim=True)
        table[motif_id, :2] = torch.tensor([1.0, -1.0], dtype=table.dtype)
        norm = model.model.dna_encoder.encoder.emb_layer_norm_after
        norm.weight.fill_(1.0)
        norm.bias.zero_()
        projection = model.model.projector.dna_projection
        projection.weight[:, 2:] = 0
        reader = torch.randn(projection.weight.shape[0], 2, generator=torch.Generator().manual_seed(0))
        projection.weight[:, :2] = reader
        projection.bias.zero_()
    return model


@pytest.mark.parametrize("motif_token", [0, 3, 5])
def test_attribution_peaks_at_the_only_position_the_answer_depends_on(make_model, make_processor, motif_token):
    model, processor = _one_motif_model(make_model), make_processor("linear")
    background = random_dna(40, seed=motif_token).replace(MOTIF, "CCCCCC")
    start = 6 * motif_token
    sequence = background[:start] + MOTIF + background[start + 6 :]
    decoy = random_dna(30, seed=9).replace(MOTIF, "CCCCCC")  # a second sequence without the motif
    result = attribute(model, processor, "Does <DNA> bind better than <DNA>?", [sequence, decoy], answer="Yes")

    attribution, other = result.sequences
    scores = np.abs(attribution.token_scores)
    assert attribution.tokens[motif_token] == MOTIF
    assert np.argmax(scores) == motif_token
    assert scores[motif_token] > 1e-6
    assert np.delete(scores, motif_token).max() < 1e-9 * scores[motif_token] + 1e-12
    assert np.abs(other.token_scores).max() < 1e-12
    assert start <= attribution.peak() < start + 6
    top = attribution.top_kmers()
    assert top[0][:2] == (start, MOTIF)


def test_gradient_x_input_matches_finite_differences(make_model, make_processor):
    """Scaling token j's embedding by (1 + eps) moves the logit by eps * (grad . emb) to first order."""
    model, processor = make_model(decoder_init_range=0.2, seed=3).double(), make_processor()
    question, sequences, answer = "Is <DNA> a promoter?", [random_dna(27, 5)], "No, this is not a promoter."
    result = attribute(model, processor, question, sequences, answer=answer)
    inputs, target_id, _ = _prompt_and_target(model, processor, [{"role": "user", "content": question}], sequences,
                                              answer, 1, False, False)
    embedding = model.model.dna_encoder.get_input_embeddings()
    # LLaMA's RMSNorm and attention softmax compute in float32 even in a .double() model: a smaller
    # step drowns in rounding.
    eps = 1e-2

    def logit_with_token_scaled(token_index, factor):
        def scale(module, module_inputs, output):
            output = output.clone()
            output[0, token_index + 1] *= factor  # + 1: the <cls> token comes first
            return output

        handle = embedding.register_forward_hook(scale)
        try:
            with torch.no_grad():
                return float(model(**inputs).logits[0, -1, target_id])
        finally:
            handle.remove()

    token_scores = result.sequences[0].token_scores
    estimates = [(logit_with_token_scaled(j, 1 + eps) - logit_with_token_scaled(j, 1 - eps)) / (2 * eps)
                 for j in range(len(token_scores))]
    assert np.abs(token_scores).max() > 1e-4  # the check is not comparing zeros
    np.testing.assert_allclose(token_scores, estimates, rtol=5e-3, atol=1e-3 * np.abs(token_scores).max())


def test_top_kmers_are_non_overlapping_and_sorted():
    scores = np.zeros(40)
    scores[10:16] = 1.0   # best window 10..15
    scores[16:19] = -0.9  # signed: magnitude counts
    scores[30] = 0.5
    attribution = _attribution(scores, random_dna(40))
    top = attribution.top_kmers()
    assert 1 <= len(top) <= 5
    assert top[0][0] == 10 and top[0][2] == pytest.approx(6.0)
    assert [score for _, _, score in top] == sorted((score for _, _, score in top), reverse=True)
    spans = sorted((start, start + 6) for start, _, _ in top)
    assert all(end <= next_start for (_, end), (next_start, _) in pairwise(spans))
    assert all(kmer == attribution.sequence[start : start + 6] for start, kmer, _ in top)
    assert attribution.peak() == 10
    assert _attribution([1.0] * 8, "ACGTACGT").top_kmers(6, 5) == [(0, "ACGTAC", 6.0)]  # room for one window
    assert _attribution([1.0] * 4, "ACGT").top_kmers() == []


def test_truncated_tokens_are_reported():
    with pytest.raises(ValueError, match="cover 12 bp but the sequence has 20 bp.*truncated"):
        spread_over_bases(["ACGTAC", "ACGTAC"], np.ones(2), 20, "seq0")


def test_kmer_frequencies_per_label():
    def with_peak_at(start, sequence):
        scores = np.zeros(len(sequence))
        scores[start : start + 6] = 1.0
        return _attribution(scores, sequence)

    donor = "CCCCCCAAGGTAAGTCCCCCCCC"
    records = [("donor", with_peak_at(8, donor)), ("donor", with_peak_at(8, "T" + donor[1:])),
               ("acceptor", with_peak_at(0, "TTTCAGGTTTTTTT"))]
    counts = aggregate_by_label(records, k=6, n=1)
    assert counts == {"donor": Counter({"GGTAAG": 2}), "acceptor": Counter({"TTTCAG": 1})}
    assert kmer_frequencies([records[0][1]], k=6, n=2)["GGTAAG"] == 1


def test_plots_write_pngs(tmp_path):
    scores = np.sin(np.arange(60) / 5.0)
    attribution = _attribution(scores, random_dna(59) + "N", name="chr1:1-60")
    for path in (attribution_track(attribution, tmp_path / "track.png"),
                 attribution_logo(attribution, tmp_path / "logo.png", window=20),
                 attribution_logo(_attribution([0.5, -0.2, 0.1], "ACG"), tmp_path / "short_logo.png"),
                 kmer_frequency_plot({"yes": Counter({"TATAAA": 3, "GGTAAG": 1}), "no": Counter({"CCCCCC": 2})},
                                     tmp_path / "kmers.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
