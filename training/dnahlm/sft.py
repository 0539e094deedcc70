"""Alpaca instruction tuning of a pre-trained DNAHLM with TRL's ``SFTTrainer``.

Unlike the published recipe, the loss is on the response only (prompt-completion data, TRL's
``completion_only_loss``), the pad token is not the EOS token, and an EOS follows every response, so
the model learns to stop after the label.

    python -m chatnt.training.dnahlm.sft --model_name_or_path runs/dnahlm-mini-pt --output_dir runs/dnahlm-mini-sft
    accelerate launch --config_file training/accelerate/fsdp.yaml -m chatnt.training.dnahlm.sft \\
        --preset small --model_name_or_path runs/dnahlm-small-pt --output_dir runs/dnahlm-small-sft

The data is ChatNT's instruction rows of the ten registry tasks in Alpaca form (TRAIN records and training
phrasings only, tasks mixed uniformly), the TRAIN half of the published DNAHL records in their own wording and
English definitions; see :mod:`chatnt.training.dnahlm.instructions`. ``--resume_from_checkpoint`` continues
an interrupted run. The ``mini`` preset is the CPU recipe (bf16 autocast on the CPU, about 45 minutes on 2 cores);
pass ``--use_cpu false`` to run it on a GPU.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, set_seed
from trl import SFTConfig, SFTTrainer

from chatnt.training.dnahlm.instructions import build_sft_examples, to_prompt_completion
from chatnt.training.presets import parse_with_preset
from chatnt.training.run_card import write_run_card

# The dropout rates of GPT-2's config (the recipe's architecture), all set by --dropout.
GPT2_DROPOUTS = ("resid_pdrop", "embd_pdrop", "attn_pdrop")

# Training defaults per preset; command-line flags override them.
PRESETS = {
    "mini": {
        # 45 min on this 2-core CPU (measured): 22,400 of the ~80,000 examples, ~2,200 per task.
        "max_steps": 2800,
        "per_device_train_batch_size": 8,
        "learning_rate": 1e-3,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 100,
        "weight_decay": 0.0,
        "max_length": 1024,
        # The 2 kb promoter/terminator prompts are ten times longer than the 70 bp ones: batching by
        # length avoids paying for that padding.
        "train_sampling_strategy": "group_by_length",
        "logging_steps": 25,
        "save_steps": 200,
        "save_total_limit": 2,
        # bf16 autocast: forward + backward of 8 x 200 tokens 0.28 s against 0.43 s in fp32 on this 2-core CPU.
        # TrainingArguments allows bf16 without a GPU only with use_cpu (--use_cpu false runs it on a GPU).
        "bf16": True,
        "use_cpu": True,
        "activation_checkpointing": False,
    },
    "small": {
        "num_train_epochs": 3,
        "per_device_train_batch_size": 16,
        "learning_rate": 5e-5,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0.03,
        "max_length": 1024,
        "train_sampling_strategy": "group_by_length",
        "logging_steps": 50,
        "save_steps": 1000,
        "save_total_limit": 2,
        "bf16": True,
        "activation_checkpointing": False,
    },
}


@dataclass
class SFTScriptArguments:
    """The model to tune and the instruction data mix."""

    model_name_or_path: str = field(metadata={"help": "A pre-trained DNAHLM (pretrain.py output)."})
    preset: str = field(default="mini", metadata={"help": f"Training defaults: one of {sorted(PRESETS)}."})
    tasks: list[str] | None = field(default=None, metadata={"help": "Registry task names (default: all ten)."})
    definitions: int = field(default=200, metadata={"help": "WordNet definition examples (English)."})
    task_fractions: list[str] | None = field(
        default=None,
        metadata={"help": "task=fraction items (e.g. rrna_type=0.25): keep that fraction of a task's examples, "
                  "so a later stage spends its steps on the tasks not yet learnt (default: all of every task)."},
    )
    dropout: float | None = field(
        default=None,
        metadata={"help": "Set GPT-2's dropout rates (resid, embd, attn) for this run; default: the model's own. "
                  "0 suits a stage that sees each example about once, where dropout only slows learning."},
    )
    max_new_tokens: int = field(default=32, metadata={"help": "Default generation length saved with the model."})


def generation_config_for(tokenizer, max_new_tokens: int) -> GenerationConfig:
    """Greedy decoding that stops at EOS and pads with the (distinct) pad token."""
    return GenerationConfig(
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )


def train_sft(
    model, tokenizer, examples: list[dict], config: SFTConfig, max_new_tokens: int = 32, command: str | None = None
) -> SFTTrainer:
    """Tune ``model`` on prompt-completion ``examples``, save model + tokenizer to ``config.output_dir`` with a model
    card of the run (``command``: the command line that started it)."""
    if not examples:
        raise ValueError("No SFT examples to train on")
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ValueError("The tokenizer needs a pad token distinct from EOS, or the model never learns to stop")
    if config.completion_only_loss is False:
        raise ValueError("completion_only_loss must stay on: the loss belongs on the response only")
    set_seed(config.seed)
    model.generation_config = generation_config_for(tokenizer, max_new_tokens)
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list([to_prompt_completion(e) for e in examples]),
        processing_class=tokenizer,
    )
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    trainer.save_model()
    write_run_card(trainer, "chatnt.training.dnahlm.sft", start=model.config.name_or_path or "random weights",
                   data=f"{len(examples):,} Alpaca prompt-completion examples", command=command, tags=["trl", "sft"])
    trainer.save_state()  # trainer_state.json with the final runtime, for the model card
    return trainer


def parse_fractions(items: list[str] | None) -> dict[str, float]:
    """``["rrna_type=0.25", ...]`` -> ``{"rrna_type": 0.25}``; a malformed item raises, naming it."""
    fractions = {}
    for item in items or []:
        task, _, value = item.partition("=")
        try:
            fractions[task] = float(value)
        except ValueError:
            raise ValueError(f"--task_fractions item {item!r} is not task=fraction (e.g. rrna_type=0.25)") from None
    return fractions


def parse_args(argv: list[str] | None = None) -> tuple[SFTScriptArguments, SFTConfig]:
    """Parse script and SFT arguments, with the chosen preset's training values as defaults."""
    return parse_with_preset(argv, (SFTScriptArguments, SFTConfig), PRESETS)


def main(argv: list[str] | None = None) -> None:
    script_args, config = parse_args(argv)
    tokenizer = AutoTokenizer.from_pretrained(script_args.model_name_or_path)
    dropout = {} if script_args.dropout is None else dict.fromkeys(GPT2_DROPOUTS, script_args.dropout)
    model = AutoModelForCausalLM.from_pretrained(script_args.model_name_or_path, **dropout)
    try:
        examples = build_sft_examples(script_args.tasks, definitions=script_args.definitions, seed=config.seed,
                                      task_fractions=parse_fractions(script_args.task_fractions))
    except ValueError as error:  # a bad --task_fractions: one line naming it, not a traceback
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"sft_examples: {len(examples)}")
    command = " ".join(["python -m chatnt.training.dnahlm.sft", *(sys.argv[1:] if argv is None else argv)])
    trainer = train_sft(model, tokenizer, examples, config, script_args.max_new_tokens, command)
    print(f"train_loss: {trainer.state.log_history[-1].get('train_loss', float('nan')):.4f}")


if __name__ == "__main__":
    main()
