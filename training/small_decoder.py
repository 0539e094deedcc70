"""A small random LLaMA decoder with a real chat tokenizer, for ChatNT runs that must train fast on a CPU.

SmolLM2-135M (30 layers, width 576) costs ~10 s per step of 8 conversations on one CPU thread, so a
ChatNT built on it sees only ~150 steps in 25 minutes: too few to learn a new DNA task such as the
planted TATA box of :mod:`chatnt.evaluation.planted_tata`. A decoder of 2 layers at width 128 is far
cheaper (~5 steps a second with the retrained tokenizer below). It knows no English, but ChatNT's
decoder does not need to: the answers of a classification task are a few fixed phrases, and the
trainable parts (projection, DNA encoder, LoRA adapters on the decoder) learn to steer it.

Two initial scales, both measured on the planted-TATA task (linear projection, LoRA r=16 on q/v,
lr 1e-3, batches of 8):

* ``initializer_range`` 0.2 (the "steerable" tiny decoders of the tests) for everything but the
  attention's query and key: the frozen layers then pass enough of their input on for the answer
  format to be learned in ~100 steps. With 0.05 the loss was still 1.46 after 450 steps (0.45 with 0.2).
* ``attention_init_range`` 0.02 for the query and key projections: with 0.2 at width 128 the attention
  logits have a standard deviation of 5.1 and a position gives on average 59% of its attention (over 100
  tokens) to a single one, so little gradient reaches the DNA vectors, and the answers ignored the DNA for
  1,300-1,400 steps (linear and Perceiver projections alike; loss stuck at the ~0.42 of guessing). With
  0.02 the attention starts soft; the loss left that floor after ~1,000 steps and held-out exact match
  reached 0.72 at 3,000 steps.

It keeps SmolLM2's tokenizer (ChatML chat template, ``<|im_end|>`` ends a turn, ``<|endoftext|>`` pads;
see :func:`chatnt.offline_models.smollm2_instruct`), or, with a corpus, a byte-level BPE retrained from it
on that corpus (:func:`shrink_tokenizer`): same special tokens, ids and chat template, a vocabulary of at
most ``vocab_size`` (437 tokens for the planted-TATA rows) instead of 49,152. That matters more than the
layers: at width 128, the output layer over 49k tokens (forward and backward, for every position of 8
conversations of ~100 tokens) takes ~2 s of the step on one CPU thread, against ~0.05 s for 2k tokens.
Byte-level BPE still encodes any text, only in more pieces where it differs from the corpus.

Build one, then pass its folder to :mod:`chatnt.training.chatnt_sft` as ``--decoder``::

    python -m chatnt.training.small_decoder --output_dir runs/small-decoder \\
        --corpus_dataset chatnt.evaluation.planted_tata:build_planted_tata_instructions
    python -m chatnt.training.chatnt_sft --preset mini --decoder runs/small-decoder --projector_type linear \\
        --lora_target decoder --lora_r 16 --lora_alpha 32 --learning_rate 1e-3 --max_steps 3000 \\
        --dataset chatnt.evaluation.planted_tata:build_planted_tata_instructions \\
        --builder_kwargs '{"n_train_per_label": 4000}' --output_dir runs/tata-small
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

BUILD_INFO_FILE = "small_decoder.json"
"""Written into the output folder: how the decoder was built (its arguments and the tokenizer's source)."""


def small_decoder_config(
    tokenizer,
    hidden_size: int = 128,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    intermediate_size: int = 256,
    initializer_range: float = 0.2,
    max_position_embeddings: int = 2048,
) -> LlamaConfig:
    """A LLaMA config sized by the arguments, with the tokenizer's vocabulary and special tokens.

    Args:
        tokenizer: the text tokenizer (its length sets the vocabulary; its bos/eos/pad ids are copied).
        hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size:
            the decoder's shape.
        initializer_range: standard deviation of the random weights (0.2 keeps a frozen decoder steerable).
        max_position_embeddings: longest sequence (prompt, DNA vectors and answer) in tokens.

    Returns:
        The ``LlamaConfig`` (input and output embeddings tied, to halve the largest matrix).

    Raises:
        ValueError: a shape that LLaMA cannot take (heads not dividing the width or each other).
    """
    if hidden_size % num_attention_heads:
        raise ValueError(
            f"hidden_size ({hidden_size}) must be a multiple of num_attention_heads ({num_attention_heads})."
        )
    if num_attention_heads % num_key_value_heads:
        raise ValueError(
            f"num_attention_heads ({num_attention_heads}) must be a multiple of "
            f"num_key_value_heads ({num_key_value_heads})."
        )
    if min(hidden_size, num_hidden_layers, intermediate_size, max_position_embeddings) < 1 or initializer_range <= 0:
        raise ValueError("Sizes must be at least 1 and initializer_range positive.")
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        intermediate_size=intermediate_size,
        initializer_range=initializer_range,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def chat_texts(rows: Iterable[dict], tokenizer) -> list[str]:
    """The conversations of instruction rows (``messages`` of role/content dicts), rendered by the tokenizer's
    chat template: the text a tokenizer for these rows should encode compactly, template markup included."""
    texts = [tokenizer.apply_chat_template(row["messages"], tokenize=False) for row in rows]
    if not texts:
        raise ValueError("No rows to take texts from; give a dataset with training rows.")
    return texts


def shrink_tokenizer(tokenizer, texts: Iterable[str], vocab_size: int = 1024):
    """A byte-level BPE retrained from ``tokenizer`` on ``texts``, with at most ``vocab_size`` tokens.

    The special tokens keep their ids (added first, as in the original) and the chat template is kept, so
    the new tokenizer renders and ends conversations exactly as the old one did.

    Args:
        tokenizer: a fast tokenizer (e.g. SmolLM2's) whose pre-tokenizer, special tokens and template are kept.
        texts: the corpus (e.g. :func:`chat_texts` of the training rows).
        vocab_size: the largest vocabulary (the 256 byte symbols and the special tokens included).

    Returns:
        The new ``PreTrainedTokenizerFast``.

    Raises:
        ValueError: ``vocab_size`` cannot hold the byte alphabet and special tokens, or the special tokens
            moved (they must keep their ids for the generation config).
    """
    least = 256 + len(tokenizer.all_special_tokens)
    if vocab_size < least:
        raise ValueError(f"vocab_size ({vocab_size}) must be at least {least} (256 bytes + the special tokens).")
    shrunk = tokenizer.train_new_from_iterator(texts, vocab_size=vocab_size)
    moved = [token for token in tokenizer.all_special_tokens
             if shrunk.convert_tokens_to_ids(token) != tokenizer.convert_tokens_to_ids(token)]
    if moved:
        raise ValueError(
            f"Retraining moved the special token(s) {moved}; use a tokenizer whose special tokens come first."
        )
    return shrunk


def build_small_decoder(
    output_dir: str | Path,
    tokenizer_path: str | Path | None = None,
    corpus: Iterable[str] | None = None,
    vocab_size: int = 1024,
    seed: int = 0,
    attention_init_range: float | None = 0.02,
    **shape,
) -> Path:
    """Save a random small LLaMA decoder and its tokenizer into ``output_dir``.

    Args:
        output_dir: the folder to write (created; an existing decoder there is refused).
        tokenizer_path: a folder with a chat tokenizer; default: the offline SmolLM2-135M-Instruct build
            (:func:`chatnt.offline_models.smollm2_instruct`).
        corpus: texts to retrain that tokenizer on (:func:`shrink_tokenizer`); ``None`` keeps it as it is.
        vocab_size: the retrained tokenizer's largest vocabulary (ignored without ``corpus``).
        seed: seeds the random weights.
        attention_init_range: standard deviation of the query and key projections (``None``: the
            ``initializer_range`` of the rest). The small default keeps the attention of a steerable
            decoder soft, so gradient reaches the DNA vectors (see the module docstring).
        **shape: keyword arguments of :func:`small_decoder_config` (``hidden_size``, ``num_hidden_layers``...).

    Returns:
        The output folder, loadable with ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer``.

    Raises:
        FileExistsError: ``output_dir`` already holds a model.
        ValueError: the tokenizer has no EOS token (the decoder could not end an answer).
    """
    output_dir = Path(output_dir)
    if (output_dir / "config.json").exists():
        raise FileExistsError(f"{output_dir} already holds a model; pick another --output_dir or delete it.")
    if tokenizer_path is None:
        from chatnt.offline_models import smollm2_instruct

        tokenizer_path = smollm2_instruct()
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path))
    if tokenizer.eos_token_id is None:
        raise ValueError(f"The tokenizer of {tokenizer_path} has no EOS token; give one with an end-of-turn token.")
    if corpus is not None:
        tokenizer = shrink_tokenizer(tokenizer, corpus, vocab_size)
    config = small_decoder_config(tokenizer, **shape)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if attention_init_range is not None:
        if attention_init_range <= 0:
            raise ValueError(f"attention_init_range must be positive, got {attention_init_range}.")
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.q_proj.weight.normal_(0.0, attention_init_range)
                layer.self_attn.k_proj.weight.normal_(0.0, attention_init_range)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    info = {"tokenizer_path": str(tokenizer_path), "retrained_tokenizer": corpus is not None,
            "vocab_size": len(tokenizer), "seed": seed, "attention_init_range": attention_init_range, "shape": shape,
            "parameters": sum(parameter.numel() for parameter in model.parameters())}
    (output_dir / BUILD_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return output_dir


def corpus_texts(dataset: str, builder_kwargs: dict | None = None, tokenizer_path: str | None = None) -> list[str]:
    """:func:`chat_texts` of the training rows of ``dataset`` (a ``--dataset`` of :mod:`chatnt.training.chatnt_sft`),
    rendered by the tokenizer of ``tokenizer_path`` (default: the offline SmolLM2 build). Test rows are
    left out, so their wordings stay unseen by the tokenizer as by the model."""
    from chatnt.offline_models import smollm2_instruct
    from chatnt.training.chatnt_sft import load_instruction_dataset

    train_rows, _ = load_instruction_dataset(dataset, builder_kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path or smollm2_instruct()))
    return chat_texts(train_rows, tokenizer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", required=True, help="Folder to write the decoder and tokenizer into.")
    parser.add_argument(
        "--tokenizer", default=None, help="Chat tokenizer folder (default: offline SmolLM2-135M-Instruct)."
    )
    parser.add_argument(
        "--corpus_dataset",
        default=None,
        help="Retrain the tokenizer on the training conversations of this dataset (any --dataset form of "
        "chatnt.training.chatnt_sft: folder, file or builder module:function); default: keep it whole.",
    )
    parser.add_argument("--corpus_kwargs", default="{}", help="JSON keyword arguments for a builder --corpus_dataset.")
    parser.add_argument("--vocab_size", type=int, default=1024, help="Largest retrained vocabulary.")
    parser.add_argument("--hidden_size", type=int, default=128)
    parser.add_argument("--num_hidden_layers", type=int, default=2)
    parser.add_argument("--num_attention_heads", type=int, default=4)
    parser.add_argument("--num_key_value_heads", type=int, default=2)
    parser.add_argument("--intermediate_size", type=int, default=256)
    parser.add_argument("--initializer_range", type=float, default=0.2)
    parser.add_argument("--attention_init_range", type=float, default=0.02,
                        help="Std of the query/key weights; 0.02 keeps the attention soft (see the module docstring).")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shape = {name: getattr(args, name) for name in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                    "num_key_value_heads", "intermediate_size", "initializer_range")}
    try:
        corpus = None
        if args.corpus_dataset is not None:
            corpus = corpus_texts(args.corpus_dataset, json.loads(args.corpus_kwargs), args.tokenizer)
        path = build_small_decoder(
            args.output_dir, args.tokenizer, corpus, args.vocab_size, args.seed, args.attention_init_range, **shape
        )
    except (FileExistsError, FileNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    info = json.loads((path / BUILD_INFO_FILE).read_text())
    print(f"output_dir: {path}")
    print(f"parameters: {info['parameters']}")
    print(f"vocab_size: {info['vocab_size']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
