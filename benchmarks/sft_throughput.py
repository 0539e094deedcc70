"""Training-step throughput of ChatNT-mini on the CPU: TRL's step against ChatNT's cheaper one, same data.

Setup as the ``mini`` recipe (``chatnt.training.chatnt_sft``): ``checkpoints/nt-mini-encoder`` (trained) +
English-aware Perceiver (1 layer, 32 latents) + frozen SmolLM2-135M-Instruct, bf16 autocast; real instruction
rows of all ten tasks (``build_instruction_dataset``, TRAIN split, the recipe's mixture), the same batches for
both steps.

Steps compared (forward + backward, no optimizer update, so both see the same weights):
  (a) old: TRL's ``SFTTrainer`` step: the whole batch through the decoder, TRL's fused LM head (per-token
      log-probabilities and entropies in chunks).
  (b) new: ``ChatNTSFTTrainer``'s step (``chatnt.training.chatnt_sft.answer_loss``): each batch's common start (the
      system message) through the frozen decoder once, without gradient (``ChatNTDataCollator(share_prefix=True)``),
      and the LM head only at the positions that predict an answer token. Also with the same rows regrouped into
      batches of similar lengths (the recipe's ``train_sampling_strategy="group_by_length"``).

    python benchmarks/sft_throughput.py [--batches 6] [--batch_size 8] [--threads 2]

Then (c): the new step, length-grouped, on chatnt-mini's shipped shape (8 latents instead of 32, so shorter rows;
the encoder frozen after its warm-up, so no gradient through it). That is another model, so its losses are not
compared; its rate is what the shipped recipe trains at.

And (d), the floor under any step that trains this decoder's inputs: the frozen decoder alone, forward and backward,
on the same batches' tokens after their shared prefix (not attending to it, so a lower bound on the cost), the LM
head only where answers are, and nothing else (no encoder, no projection). Its rate over the old step's is the
largest speedup this decoder allows on this machine for these rows, whatever the rest of the step does.

Ends with ``conversations_per_s_old``, ``conversations_per_s_new``, ``conversations_per_s_new_length_grouped``,
``conversations_per_s_shipped_shape``, ``conversations_per_s_decoder_floor``, ``speedup``,
``speedup_length_grouped``, ``speedup_shipped_shape``, ``speedup_ceiling``, ``max_loss_difference`` (bf16, over
the batches) and ``loss_difference_fp32`` (the first batch in float32) lines.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "checkpoints" / "chatnt-mini" / "config.json"


def build(threads: int, **model_overrides):
    import torch
    from chatnt.modeling_chatnt import ChatNTForConditionalGeneration
    from chatnt.offline_models import smollm2_instruct
    from chatnt.training.chatnt_sft import PRESETS
    from trl.trainer.utils import add_fused_lm_head

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    preset = PRESETS["mini"]
    model, processor = ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        preset["encoder"], smollm2_instruct(), **(preset["model"] | model_overrides)
    )
    add_fused_lm_head(model)
    return model.train(), processor


def training_rows(count: int, seed: int = 0) -> list[dict]:
    from chatnt.tasks.instruction_data import build_instruction_dataset

    # The shipped recipe's mixture (see checkpoints/chatnt-mini/README.md), a few records per class to load fast.
    data = build_instruction_dataset(
        max_per_class=40, seed=seed, multi_turn_fraction=0.1, pair_fraction=0.15, yes_no_fraction=0.15
    )
    return data["train"].select(range(count)).to_list()


def step(model, batch, method: str, bf16: bool = True) -> tuple[float, float]:
    import torch
    from chatnt.training.chatnt_sft import answer_loss

    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(**batch, fused_lm_head=True).loss if method == "old" else answer_loss(model, batch)[0]
    loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start, loss.item()


def decoder_floor_step(model, batch) -> float:
    """Seconds of (d): the decoder's forward and backward on the tokens after the shared prefix, bf16 autocast."""
    import torch

    prefix = batch.get("shared_prefix_length", 0)
    ids, labels = batch["input_ids"][:, prefix:], batch["labels"][:, prefix:]
    embedding = model.get_input_embeddings()
    inputs = embedding(ids.clamp(max=embedding.num_embeddings - 1)).detach().requires_grad_(True)
    predicting = torch.nonzero((labels[:, 1:] != -100).any(0)).flatten()
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = model.model.language_model(inputs_embeds=inputs, attention_mask=batch["attention_mask"][:, prefix:])
        logits = model.lm_head(hidden.last_hidden_state[:, predicting]).float()
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels[:, predicting + 1].flatten())
    loss.backward()
    return time.perf_counter() - start


def main() -> None:
    from chatnt.training.chatnt_collator import ChatNTDataCollator

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model, processor = build(args.threads)
    rows = training_rows(args.batches * args.batch_size)
    batches = [rows[i : i + args.batch_size] for i in range(0, len(rows), args.batch_size)]
    results = {}
    for name, share_prefix in (("old", False), ("new", True)):
        collator = ChatNTDataCollator(processor, share_prefix=share_prefix)
        step(model, collator(batches[0]), name)  # warm-up: first-call allocations
        timings, losses = zip(*(step(model, collator(batch), name) for batch in batches))
        results[name] = {"seconds": list(timings), "losses": list(losses)}
        prefix = collator(batches[0]).get("shared_prefix_length", 0)
        print(f"{name}: {statistics.median(timings):.2f} s per batch of {args.batch_size} (median of {len(batches)}), "
              f"shared prefix {prefix} tokens of {collator(batches[0])['input_ids'].shape[1]}", flush=True)
    # The same rows in batches of similar lengths, as the recipe's length-grouped sampler forms them.
    collator = ChatNTDataCollator(processor, share_prefix=True)
    by_length = sorted(rows, key=collator.row_length)
    grouped = [by_length[i : i + args.batch_size] for i in range(0, len(by_length), args.batch_size)]
    timings, _ = zip(*(step(model, collator(batch), "new") for batch in grouped))
    results["new_grouped"] = {"seconds": list(timings)}
    print(f"new, length-grouped: {statistics.median(timings):.2f} s per batch of {args.batch_size}", flush=True)
    rate = {name: args.batch_size * len(batches) / sum(result["seconds"]) for name, result in results.items()}
    difference = max(abs(a - b) for a, b in zip(results["old"]["losses"], results["new"]["losses"]))
    # bf16 rounds the two computation orders differently; in float32 the two steps agree to rounding.
    fp32 = [
        step(model, ChatNTDataCollator(processor, share_prefix=name == "new")(batches[0]), name, bf16=False)[1]
        for name in ("old", "new")
    ]
    padded = collator(batches[0])
    print(f"first batch: {int(padded['attention_mask'].sum())} real tokens in {padded['attention_mask'].numel()} positions")
    # The shipped model's own shape (fewer latents: shorter rows; encoder frozen after its warm-up), new step,
    # length-grouped: a different model, so its rate is not a same-loss comparison.
    shipped_config = json.loads(SHIPPED_CONFIG.read_text())
    shipped, shipped_processor = build(
        args.threads, num_latents=shipped_config["num_latents"], train_dna_encoder=shipped_config["train_dna_encoder"]
    )
    collator = ChatNTDataCollator(shipped_processor, share_prefix=True)
    step(shipped, collator(grouped[0]), "new")
    timings, _ = zip(*(step(shipped, collator(batch), "new") for batch in grouped))
    rate["shipped"] = args.batch_size * len(grouped) / sum(timings)
    decoder_floor_step(shipped, collator(grouped[0]))  # warm-up
    floor = [decoder_floor_step(shipped, collator(batch)) for batch in grouped]
    rate["floor"] = args.batch_size * len(grouped) / sum(floor)
    print(f"conversations_per_s_old: {rate['old']:.2f}")
    print(f"conversations_per_s_new: {rate['new']:.2f}")
    print(f"conversations_per_s_new_length_grouped: {rate['new_grouped']:.2f}")
    print(f"speedup: {rate['new'] / rate['old']:.2f}")
    print(f"speedup_length_grouped: {rate['new_grouped'] / rate['old']:.2f}")
    print(f"conversations_per_s_shipped_shape: {rate['shipped']:.2f}")
    print(f"speedup_shipped_shape: {rate['shipped'] / rate['old']:.2f}")
    print(f"conversations_per_s_decoder_floor: {rate['floor']:.2f}")
    print(f"speedup_ceiling: {rate['floor'] / rate['old']:.2f}")
    print(f"max_loss_difference: {difference:.2e}")
    print(f"loss_difference_fp32: {abs(fp32[0] - fp32[1]):.2e}")


if __name__ == "__main__":
    main()
