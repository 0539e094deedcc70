"""How closely a converted model reproduces the published ChatNT code, on the parity fixture.

The fixture (``../shared/fixtures/published_chatnt/tiny_random.npz``, see its README) holds a tiny random-weight
instance of the published JAX code: its parameters under their published names, two prompts (one and two DNA
sequences) and the logits and projected vectors that code computed.

    python -m chatnt.evaluation.published_parity [--fixture PATH]

converts the fixture's parameters and ends with ``logit_max_error_<case>`` (absolute) and
``projected_max_relative_error_<case>`` (relative to the vectors' largest magnitude) lines.
"""

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

DEFAULT_FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "published_chatnt" / "tiny_random.npz"
CASES = ("one", "two")
ENGLISH_PAD, DNA_TOKEN_ID, DNA_PAD = 2, 40, 1  # the fixture's English padding (= eos), <DNA> id, DNA padding
# The tiny instance's head counts (its README), which parameter shapes do not tell.
FIXTURE_HEADS = {"decoder_heads": 4, "encoder_heads": 4, "perceiver_heads": 4}


def fixture_path() -> str:
    """``$CHATNT_PUBLISHED_FIXTURE`` when set, else the shared fixture."""
    return os.environ.get("CHATNT_PUBLISHED_FIXTURE", str(DEFAULT_FIXTURE))


def load_fixture(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as arrays:
        return {key: arrays[key] for key in arrays.files}


def case_inputs(fixture: dict, case: str, num_latents: int) -> tuple[dict[str, torch.Tensor], dict[int, int]]:
    """This package's inputs for a fixture case, and where each compared English token lands in them.

    The prompt loses its padding and each ``<DNA>`` is written K + 1 times (as the processor does for
    ``keep_dna_token``). The published logits are indexed by English token; each ``<DNA>`` token's own position
    holds the first projected vector's output there, so it is left out of the comparison.
    """
    english = fixture[f"{case}/english"][0].tolist()
    prompt = english[: english.index(ENGLISH_PAD)]
    input_ids, positions = [], {}
    for index, token in enumerate(prompt):
        if token == DNA_TOKEN_ID:
            input_ids += [DNA_TOKEN_ID] * (num_latents + 1)
        else:
            positions[index] = len(input_ids)
            input_ids.append(token)
    dna = torch.tensor(fixture[f"{case}/bio"][0], dtype=torch.long)
    inputs = {"input_ids": torch.tensor([input_ids]), "dna_input_ids": dna, "dna_attention_mask": (dna != DNA_PAD).long()}
    return inputs, positions


@torch.no_grad()
def parity_errors(model, fixture: dict, case: str) -> tuple[float, float]:
    """Largest logit difference at the compared English positions, and largest projected-vector difference
    relative to the vectors' scale, against the published code's outputs."""
    inputs, positions = case_inputs(fixture, case, model.config.num_latents)
    output = model(**inputs, output_hidden_states=True)
    # The projected vectors are the decoder's input embeddings at the vector slots, one block per sequence.
    slots = model.model.dna_vector_mask(inputs["input_ids"])[0]
    projected = output.hidden_states[0][0, slots].view(inputs["dna_input_ids"].shape[0], model.config.num_latents, -1)
    ours = output.logits[0, list(positions.values())]
    theirs = torch.from_numpy(fixture[f"{case}/logits"][0])[list(positions)]
    expected_projected = torch.from_numpy(fixture[f"{case}/projected"][0])
    logit_error = (ours - theirs).abs().max().item()
    projected_error = ((projected - expected_projected).abs().max() / expected_projected.abs().max()).item()
    return logit_error, projected_error


def main(argv: list[str] | None = None) -> None:
    from ..convert_published_chatnt import PublishedChatNTSizes, convert
    from ..modeling_chatnt import ChatNTForConditionalGeneration

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixture", default=fixture_path())
    args = parser.parse_args(argv)
    fixture = load_fixture(args.fixture)
    with tempfile.TemporaryDirectory() as scratch:
        converted = convert(args.fixture, Path(scratch) / "converted", sizes=PublishedChatNTSizes(**FIXTURE_HEADS))
        model = ChatNTForConditionalGeneration.from_pretrained(converted).eval()
    for case in CASES:
        logit_error, projected_error = parity_errors(model, fixture, case)
        print(f"logit_max_error_{case}: {logit_error:.2e}")
        print(f"projected_max_relative_error_{case}: {projected_error:.2e}")


if __name__ == "__main__":
    main()
