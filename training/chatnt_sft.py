"""Instruction tuning of ChatNT with TRL's ``SFTTrainer``: the decoder frozen, encoder + projection trained.

The model is assembled from a pre-trained NT v2 encoder and a pre-trained causal LM
(:meth:`ChatNTForConditionalGeneration.from_encoder_decoder_pretrained`). Rows of the instruction
dataset (``task``, ``messages``, ``sequences``, ``split``, ``answers``; see
:mod:`chatnt.training.chatnt_collator`) are tokenized at batch time by :class:`ChatNTDataCollator`, with
the loss on the assistant answers and their end-of-turn token only; TRL's own dataset preparation is
skipped since it would drop the DNA. :class:`ChatNTSFTTrainer` computes the loss with the LM head only where the
answers are, and, while the decoder stays frozen, runs each batch's shared system message through it once (4x
cheaper steps on the CPU: ``benchmarks/sft_throughput.py``). At every evaluation (``--eval_steps``, and once at the end) a fixed
held-out subset is scored twice: the loss on its answers, and, through :class:`ExactMatchCallback`,
per-task exact-match accuracy of generated answers.

    python -m chatnt.training.chatnt_sft --preset mini --encoder checkpoints/nt-mini-encoder \\
        --dataset chatnt.tasks.instruction_data:build_instruction_dataset --output_dir runs/chatnt-mini
    accelerate launch --config_file training/accelerate/deepspeed_zero2.yaml -m chatnt.training.chatnt_sft \\
        --preset paper --dataset data/chatnt-instructions --output_dir runs/chatnt-paper

``--init_from DIR`` continues from a saved ChatNT checkpoint (e.g. ``checkpoints/chatnt-mini``, loaded with
its processor and the decoder it references) instead of assembling a new model; the preset then only
sets the training arguments, and the model-shape flags (``--encoder``, ``--decoder``,
``--projector_type``, ``--num_latents``) are refused, since the checkpoint fixes them::

    python -m chatnt.training.chatnt_sft --preset mini --init_from checkpoints/chatnt-mini \\
        --dataset chatnt.evaluation.planted_tata:build_planted_tata_instructions --output_dir runs/chatnt-mini-tata

``--dataset`` is a ``save_to_disk`` directory (a ``DatasetDict`` with ``train``/``test`` or one dataset
with the ``split`` column), a JSON/JSONL/Parquet file, or a builder ``module:function`` that returns
either (keyword arguments as JSON in ``--builder_kwargs``).

Presets (any flag overrides them):

* ``mini``: our NT v2 mini encoder + English-aware Perceiver (1 layer, 32 latents, 64-wide English table)
  + SmolLM2-135M-Instruct (built offline, see :mod:`chatnt.offline_models`); bf16 autocast, no
  activation checkpointing, length-grouped batches. The frozen decoder's forward and backward (for the gradient
  of its inputs) dominate a step, so prompts are kept short. chatnt-mini itself is trained in two stages: its
  encoder first learns the tasks (:mod:`chatnt.training.encoder_multitask`), then this recipe runs with
  ``--encoder <that run> --train_dna_encoder False --num_latents 8`` (1.7 s per step of 8 conversations on the
  2-core CPU; its model card has the commands).
* ``paper``: the published setting, for GPUs (documented, not run here): NT v2 500M multi-species +
  English-aware Perceiver (3 layers, 64 latents) + Vicuna-7B v1.3, lr 3e-5, 256 conversations per
  optimizer step (8 GPUs x 8 x 4 accumulation), gradient clipping 1, bf16, activation checkpointing.

The trained model is saved without its frozen decoder (``save_pretrained(include_text_model=False)``:
encoder, projection and a checksummed decoder reference) together with the processor. With LoRA
(``--lora_target``), adapters are merged first; a merged decoder no longer matches its reference, so
that model is saved whole.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from datasets import Dataset, DatasetDict, load_dataset, load_from_disk
from peft import LoraConfig
from transformers import set_seed
from trl import SFTConfig, SFTTrainer

from chatnt.decoder_sources import describe, reference_source
from chatnt.modeling_chatnt import ChatNTForConditionalGeneration
from chatnt.offline_models import resolve_decoder
from chatnt.processing_chatnt import ChatNTProcessor
from chatnt.training.chatnt_collator import ChatNTDataCollator
from chatnt.training.chatnt_generation_eval import ExactMatchCallback, subset_per_task
from chatnt.tasks.instruction_data import normalize_answer
from chatnt.training.presets import parse_with_preset
from chatnt.training.run_card import write_run_card

PRESETS = {
    "mini": {
        "encoder": "checkpoints/nt-mini-encoder",
        "decoder": "smollm2-135m-instruct",
        # Sized for the 25 MB weight budget of checkpoints/chatnt-mini: encoder 3.7 M + projection 7.3 M
        # parameters = 22 MB in bf16. The Perceiver works at the decoder width (576), so one layer, and a
        # 64-wide English table instead of 49k x 576 (28 M parameters).
        "model": {
            "projector_type": "english_aware_perceiver",
            "num_latents": 32,
            "projector_num_layers": 1,
            "projector_intermediate_size": 1152,
            "english_embedding_size": 64,
        },
        "training": {
            "num_train_epochs": 1,
            "per_device_train_batch_size": 8,
            "learning_rate": 3e-4,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 30,
            "weight_decay": 0.0,
            "max_grad_norm": 1.0,
            "logging_steps": 10,
            "eval_strategy": "steps",
            "eval_steps": 200,
            "save_steps": 200,
            "save_total_limit": 2,
            # bf16 autocast is 1.5x faster on a CPU with AMX (Xeon Sapphire Rapids and later) and harmless
            # elsewhere; activation checkpointing does not pay for a 135M decoder.
            "bf16": True,
            "activation_checkpointing": False,
            # Rows of similar lengths in a batch (within shuffled groups of 50 batches): less padding to compute.
            "train_sampling_strategy": "group_by_length",
        },
    },
    "paper": {
        "encoder": "InstaDeepAI/nucleotide-transformer-v2-500m-multi-species",
        # The released ChatNT decoder's config (RMSNorm eps 1e-6, 2048-token context) is that of the LLaMA-1
        # based Vicuna-7B v1.1/v1.3, not of v1.5 (Llama 2: eps 1e-5, 4096 tokens).
        "decoder": "lmsys/vicuna-7b-v1.3",
        "model": {"projector_type": "english_aware_perceiver", "num_latents": 64, "projector_num_layers": 3},
        "training": {
            "num_train_epochs": 1,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 4,
            "learning_rate": 3e-5,
            "lr_scheduler_type": "constant_with_warmup",
            "warmup_steps": 500,
            "weight_decay": 0.0,
            "max_grad_norm": 1.0,
            "logging_steps": 20,
            "eval_strategy": "steps",
            "eval_steps": 1000,
            "save_steps": 1000,
            "save_total_limit": 3,
            "bf16": True,
            "activation_checkpointing": True,
            "dataloader_num_workers": 4,
        },
    },
}

ANSWER_PARSERS = {"first_line": None, "task": normalize_answer}

LORA_TARGETS = {
    "decoder": r"language_model\..*\.(q_proj|v_proj)",
    "encoder": r"dna_encoder\..*\.(query|value)",
}


@dataclass
class ChatNTScriptArguments:
    """Which parts to assemble, which data to tune on, LoRA and the answer evaluation."""

    dataset: str = field(metadata={"help": "save_to_disk directory, JSON/JSONL/Parquet file, or builder module:function."})
    preset: str = field(default="mini", metadata={"help": f"Model and training defaults: one of {sorted(PRESETS)}."})
    encoder: str | None = field(
        default=None, metadata={"help": "DNA encoder: NT v2 or any AutoModel encoder (path or Hub id); preset default."}
    )
    encoder_interface: str = field(
        default="{}",
        metadata={"help": 'JSON: encoder traits its config does not state, e.g. {"max_positions": 1026} (see chatnt.dna_encoders).'},
    )
    decoder: str | None = field(
        default=None, metadata={"help": "Causal LM (path, Hub id, or smollm2-135m-instruct); preset default."}
    )
    builder_kwargs: str = field(default="{}", metadata={"help": "JSON keyword arguments for a builder --dataset."})
    init_from: str | None = field(
        default=None,
        metadata={"help": "A saved ChatNT checkpoint to continue from (with its processor) instead of encoder + decoder."},
    )
    projector_type: str | None = field(default=None, metadata={"help": "english_aware_perceiver, perceiver or linear."})
    num_latents: int | None = field(default=None, metadata={"help": "Vectors per sequence of a Perceiver."})
    train_dna_encoder: bool = field(
        default=True, metadata={"help": "Train the encoder in full (the paper); False freezes it (or leaves it to LoRA)."}
    )
    lora_target: str = field(
        default="none", metadata={"help": "LoRA adapters on: none, decoder (q/v), encoder (query/value) or both."}
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    generation_eval_per_task: int = field(
        default=16, metadata={"help": "Held-out rows per task, evaluated (loss and generated answers) at every eval step."}
    )
    max_new_tokens: int = field(default=40, metadata={"help": "Longest generated answer (40 in the paper)."})
    answer_parser: str = field(
        default="first_line",
        metadata={
            "help": "first_line: the answer's first line must be the label; task: find the label in the answer "
            "(chatnt.tasks.instruction_data.normalize_answer)."
        },
    )


def load_instruction_dataset(spec: str, builder_kwargs: dict | None = None) -> tuple[Dataset, Dataset]:
    """The ``(train, test)`` rows named by ``spec`` (see the module docstring for the accepted forms)."""
    path = Path(spec)
    if path.is_dir():
        loaded = load_from_disk(str(path))
    elif path.is_file():
        kind = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}.get(path.suffix)
        if kind is None:
            raise ValueError(f"{spec}: expected a .json, .jsonl or .parquet file, or a save_to_disk directory.")
        loaded = load_dataset(kind, data_files=str(path), split="train")
    elif ":" in spec:
        module_name, _, function_name = spec.partition(":")
        builder = getattr(importlib.import_module(module_name), function_name, None)
        if builder is None:
            raise ValueError(f"{module_name} has no function {function_name!r} (from --dataset {spec}).")
        loaded = builder(**(builder_kwargs or {}))
    else:
        raise FileNotFoundError(f"--dataset {spec!r} is neither a file, a directory nor a module:function builder.")
    if isinstance(loaded, DatasetDict):
        missing = {"train", "test"} - set(loaded)
        if missing:
            raise ValueError(f"The dataset dict from {spec} lacks the split(s) {sorted(missing)}; it has {sorted(loaded)}.")
        return loaded["train"], loaded["test"]
    if not isinstance(loaded, Dataset) or "split" not in loaded.column_names:
        raise ValueError(f"{spec} must give a DatasetDict with train/test or a Dataset with a 'split' column.")
    return loaded.filter(lambda row: row["split"] == "train"), loaded.filter(lambda row: row["split"] == "test")


def lora_config(
    target: str, r: int, alpha: int, dropout: float, train_dna_encoder: bool = True
) -> LoraConfig | None:
    """LoRA on the decoder's q/v and/or the encoder's query/value; whatever else trains is saved fully.

    The projection always trains in full, and so does the encoder when ``train_dna_encoder`` is set and
    it carries no adapters (PEFT freezes every module that is neither adapted nor in ``modules_to_save``).
    """
    parts = {"none": [], "decoder": ["decoder"], "encoder": ["encoder"], "both": ["decoder", "encoder"]}.get(target)
    if parts is None:
        raise ValueError(f"lora_target must be none, decoder, encoder or both, got {target!r}")
    if not parts:
        return None
    modules_to_save = ["projector"] + (["dna_encoder"] if train_dna_encoder and "encoder" not in parts else [])
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=r".*(" + "|".join(LORA_TARGETS[part] for part in parts) + ")",
        modules_to_save=modules_to_save,
        task_type="CAUSAL_LM",
    )


def build_model(script_args: ChatNTScriptArguments, trust_remote_code: bool = False):
    """ChatNT from the preset's (or the given) encoder and decoder, or from ``--init_from``, with its processor.

    ``trust_remote_code`` (SFTConfig's ``--trust_remote_code``) lets a remote-code encoder's own code run, and
    loads an ``--init_from`` checkpoint that carries such code."""
    if script_args.init_from is not None:
        return load_initial_model(script_args, trust_remote_code)
    preset = PRESETS[script_args.preset]
    overrides = {"projector_type": script_args.projector_type, "num_latents": script_args.num_latents}
    model_kwargs = preset["model"] | {key: value for key, value in overrides.items() if value is not None}
    # The config's flags set what trains: encoder as asked, projection always, decoder never.
    model_kwargs |= {"train_dna_encoder": script_args.train_dna_encoder, "train_projector": True, "train_text_model": False}
    encoder = script_args.encoder or preset["encoder"]
    decoder_name = script_args.decoder or preset["decoder"]
    # The reference records where others obtain the decoder (a Hub id, or the offline build's package file).
    interface = json.loads(script_args.encoder_interface)
    if interface:
        model_kwargs["dna_encoder_interface"] = interface
    return ChatNTForConditionalGeneration.from_encoder_decoder_pretrained(
        encoder, resolve_decoder(decoder_name), trust_remote_code=trust_remote_code, **model_kwargs
    )


def load_initial_model(script_args: ChatNTScriptArguments, trust_remote_code: bool = False):
    """The ``--init_from`` checkpoint and its processor, with what trains set as for a new model.

    Raises:
        ValueError: a model-shape flag was given too (the checkpoint fixes the shape).
    """
    clashing = [name for name in ("encoder", "decoder", "projector_type", "num_latents")
                if getattr(script_args, name) is not None]
    clashing += ["encoder_interface"] if json.loads(script_args.encoder_interface) else []
    if clashing:
        raise ValueError(
            f"--init_from {script_args.init_from} fixes the model; drop --{', --'.join(clashing)} or drop --init_from."
        )
    path = script_args.init_from
    model = ChatNTForConditionalGeneration.from_pretrained(path, trust_remote_code=trust_remote_code)
    # Same policy as a new model: encoder as asked, projection always, decoder never.
    model.config.train_dna_encoder = script_args.train_dna_encoder
    model.config.train_projector, model.config.train_text_model = True, False
    model.apply_trainable_parts()
    return model, ChatNTProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)


def answer_loss(model, inputs: dict, num_items_in_batch=None) -> tuple[torch.Tensor, dict]:
    """The training loss of a ChatNT batch, with the LM head only at the positions that predict an answer token.

    The logits of every position over the whole vocabulary are most of a CPU step's cost otherwise (TRL's fused
    LM head, which computes per-token log-probabilities and entropies in chunks, took 15.5 s of a 24.7 s step on
    the mini recipe: ``benchmarks/sft_throughput.py``). The loss is the mean over answer tokens, or their sum over
    ``num_items_in_batch`` (the batch's share of the tokens of an accumulated step), as TRL computes it.

    Returns:
        The loss, and metrics: ``tokens`` (answer tokens here) and ``correct`` (of them, predicted as top-1).
    """
    labels = inputs["labels"]
    predicting = torch.nonzero((labels[:, 1:] != -100).any(0)).flatten()  # positions whose next token is a label
    outputs = model(**{key: value for key, value in inputs.items() if key != "labels"}, use_cache=False,
                    logits_to_keep=predicting)
    targets = labels[:, predicting + 1]
    logits = outputs.logits.float()
    answered = targets != -100
    total = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum")
    count = answered.sum() if num_items_in_batch is None else num_items_in_batch
    loss = total / torch.as_tensor(count, device=total.device).clamp(min=1)
    with torch.no_grad():
        correct = (logits.argmax(-1) == targets)[answered].sum()
    return loss, {"tokens": answered.sum(), "correct": correct}


class ChatNTSFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose loss is :func:`answer_loss`: the LM head only where the answers are, the model's own
    forward (and its ``shared_prefix_length``), token accuracy logged as TRL logs it."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        loss, counts = answer_loss(model, inputs, num_items_in_batch)
        # As TRL: num_items_in_batch counts every rank's tokens, and DDP averages the gradients across ranks.
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        tokens = self.accelerator.gather_for_metrics(counts["tokens"]).sum()
        correct = self.accelerator.gather_for_metrics(counts["correct"]).sum()
        self._metrics[mode]["mean_token_accuracy"].append((correct / tokens).item() if tokens > 0 else 0.0)
        if return_outputs:
            with torch.no_grad():
                outputs = model(**{key: value for key, value in inputs.items() if key != "labels"}, use_cache=False)
            return loss, outputs
        return loss


def _with_lengths(rows: Dataset, collator: ChatNTDataCollator, column: str) -> Dataset:
    if column in rows.column_names:
        return rows
    return rows.add_column(column, [collator.row_length(row) for row in rows])


def build_sft_trainer(
    model,
    processor,
    train_rows: Dataset,
    eval_rows: list[dict],
    config: SFTConfig,
    peft_config: LoraConfig | None = None,
    max_new_tokens: int = 40,
    normalize=None,
    share_prefix: bool = False,
) -> SFTTrainer:
    """A :class:`ChatNTSFTTrainer` for ChatNT rows: DNA-aware collator, held-out rows scored by generation.

    ``eval_rows`` are evaluated on the trainer's schedule twice: their answer loss, and the per-task
    exact match of generated answers (:class:`ExactMatchCallback`). ``share_prefix`` (only for a decoder that
    stays frozen) runs each batch's common start, the system message, once (see ``ChatNTDataCollator``).
    """
    collator = ChatNTDataCollator(processor, max_length=config.max_length, share_prefix=share_prefix)
    eval_dataset = Dataset.from_list(eval_rows) if eval_rows else None
    if config.train_sampling_strategy == "group_by_length":
        # Batches of similar lengths carry less padding through the decoder (27% of a mini batch otherwise); the
        # sampler reads each row's token count from the length column (eval batches are grouped too).
        train_rows, eval_dataset = (
            _with_lengths(rows, collator, config.length_column_name) if rows is not None else None
            for rows in (train_rows, eval_dataset)
        )
    trainer = ChatNTSFTTrainer(
        model=model,
        args=config,
        train_dataset=train_rows,
        eval_dataset=eval_dataset,
        data_collator=collator,
        processing_class=processor.tokenizer,
        peft_config=peft_config,
    )
    if eval_rows:
        trainer.add_callback(
            ExactMatchCallback(
                trainer,
                processor,
                eval_rows,
                batch_size=config.per_device_eval_batch_size,
                max_new_tokens=max_new_tokens,
                normalize=normalize,
            )
        )
    return trainer


def train_chatnt(
    model,
    processor,
    train_rows: Dataset,
    eval_rows: list[dict],
    script_args: ChatNTScriptArguments,
    config: SFTConfig,
    command: str | None = None,
) -> SFTTrainer:
    """Tune ``model`` on ``train_rows``, scoring generated answers on ``eval_rows``; save to ``config.output_dir``
    with a model card of the run (``command``: the command line that started it)."""
    if len(train_rows) == 0:
        raise ValueError("No training row.")
    if config.remove_unused_columns:
        raise ValueError("remove_unused_columns must be False: the collator reads the messages and sequences columns.")
    if not (config.dataset_kwargs or {}).get("skip_prepare_dataset"):
        raise ValueError("dataset_kwargs must hold skip_prepare_dataset=True: TRL's preparation would drop the DNA.")
    if script_args.answer_parser not in ANSWER_PARSERS:
        raise ValueError(f"answer_parser must be one of {sorted(ANSWER_PARSERS)}, got {script_args.answer_parser!r}")
    if config.eval_strategy != "no" and not eval_rows:
        raise ValueError(f"eval_strategy={config.eval_strategy!s} needs held-out rows; pass some or set eval_strategy='no'.")
    set_seed(config.seed)
    peft_config = lora_config(
        script_args.lora_target,
        script_args.lora_r,
        script_args.lora_alpha,
        script_args.lora_dropout,
        script_args.train_dna_encoder,
    )
    # Exact only while the decoder is frozen: no decoder LoRA, no decoder training.
    decoder_frozen = script_args.lora_target in ("none", "encoder") and not model.config.train_text_model
    trainer = build_sft_trainer(
        model, processor, train_rows, eval_rows, config, peft_config, script_args.max_new_tokens,
        ANSWER_PARSERS[script_args.answer_parser], share_prefix=decoder_frozen,
    )
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    step = trainer.state.global_step
    if eval_rows and not any("eval_loss" in entry and entry["step"] == step for entry in trainer.state.log_history):
        trainer.evaluate()  # the final model's scores, unless the schedule just produced them
    adopt_training_system_message(processor, train_rows)
    if trainer.accelerator.is_main_process:
        save_chatnt(trainer.accelerator.unwrap_model(trainer.model), processor, config.output_dir)
    write_run_card(trainer, "chatnt.training.chatnt_sft", start=run_start(model),
                   data=f"{len(train_rows):,} instruction rows", command=command, tags=["trl", "sft"])
    trainer.save_state()  # trainer_state.json with the whole run's log, its runtime included (for the model card)
    return trainer


def run_start(model) -> str:
    """Where a ChatNT run started: its encoder (or ``--init_from`` checkpoint) and its decoder's source."""
    reference = model.config.text_model_reference or {}
    source = reference_source(reference)
    decoder = describe(source) if source else "a local decoder"
    return f"the encoder {model.config.dna_config.name_or_path or '(built from its config)'} and {decoder}"


def adopt_training_system_message(processor, rows, sample: int = 200) -> None:
    """Make the rows' shared system message the processor's default, so the saved model is asked in the
    words it was tuned with and its system message lists the tasks it learned. Rows without one, or with
    differing ones (checked on the first ``sample`` rows), leave the processor's default alone."""
    firsts = {row["messages"][0]["content"] if row["messages"][0]["role"] == "system" else None
              for row in rows.select(range(min(sample, len(rows))))}
    if len(firsts) == 1 and None not in firsts:
        processor.system_prompt = firsts.pop()


def save_chatnt(model, processor, output_dir: str) -> None:
    """Save the model (without the frozen decoder when it is unchanged and others can obtain it) and the processor.

    A PEFT model is merged in place (its adapters folded into the base weights) before saving.
    """
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    decoder_unchanged = model.current_text_model_checksum() == model.config.text_model_reference["sha256"]
    obtainable = reference_source(model.config.text_model_reference) is not None
    if not decoder_unchanged:
        print("The decoder carries merged LoRA weights, so the model is saved with its decoder.")
    elif not obtainable:
        print("The decoder comes from a local folder others cannot obtain, so the model is saved with its decoder.")
    model.save_pretrained(output_dir, include_text_model=not (decoder_unchanged and obtainable))
    processor.save_pretrained(output_dir)


def parse_args(argv: list[str] | None = None) -> tuple[ChatNTScriptArguments, SFTConfig]:
    """Parse script and SFT arguments, with the chosen preset's training values as defaults."""
    return parse_with_preset(
        argv, (ChatNTScriptArguments, SFTConfig), {name: preset["training"] for name, preset in PRESETS.items()},
        # Without this, TrainingArguments refuses bf16 on a machine without an accelerator.
        use_cpu=not torch.accelerator.is_available(),
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
    )


def main(argv: list[str] | None = None) -> None:
    script_args, config = parse_args(argv)
    train_rows, test_rows = load_instruction_dataset(script_args.dataset, json.loads(script_args.builder_kwargs))
    eval_rows = subset_per_task(test_rows, script_args.generation_eval_per_task, seed=config.seed)
    print(f"train_rows: {len(train_rows)}  test_rows: {len(test_rows)}  evaluated: {len(eval_rows)}")
    model, processor = build_model(script_args, config.trust_remote_code)
    command = " ".join(["python -m chatnt.training.chatnt_sft", *(sys.argv[1:] if argv is None else argv)])
    trainer = train_chatnt(model, processor, train_rows, eval_rows, script_args, config, command)
    final = next((entry for entry in reversed(trainer.state.log_history) if "eval_exact_match" in entry), {})
    for name, value in final.items():
        if name.startswith("eval_exact_match"):
            print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
