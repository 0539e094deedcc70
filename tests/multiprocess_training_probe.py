"""Run by tests/test_multiprocess_training.py under ``accelerate launch``: tunes a tiny DNAHLM with the SFT recipe's
own ``train_sft`` and writes, per process, which examples it trained on and a checksum of its final weights.

    accelerate launch --config_file training/accelerate/cpu.yaml tests/multiprocess_training_probe.py OUT_DIR
"""

import hashlib
import json
import re
import sys
from pathlib import Path

import torch
from chatnt.training.dnahlm.pretrain import build_model
from chatnt.training.dnahlm.sft import train_sft
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer

REPO_ROOT = Path(__file__).resolve().parents[1]


def main(out_dir: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(REPO_ROOT / "tokenizer")
    examples = [{"task": "toy", "instruction": f"Example {index}: which base is most common?",
                 "input": ("A" if index % 2 else "C") * 30, "output": "adenine" if index % 2 else "cytosine"}
                for index in range(16)]
    seen: list[str] = []
    compute_loss = SFTTrainer.compute_loss

    def recording_compute_loss(self, model, inputs, *args, **kwargs):
        for row, mask in zip(inputs["input_ids"], inputs["attention_mask"]):
            seen.append(re.search(r"Example \d+", tokenizer.decode(row[mask.bool()])).group())
        return compute_loss(self, model, inputs, *args, **kwargs)

    SFTTrainer.compute_loss = recording_compute_loss
    torch.manual_seed(0)
    model = build_model("tiny", tokenizer)
    config = SFTConfig(output_dir=str(Path(out_dir) / "run"), max_steps=3, per_device_train_batch_size=2,
                       learning_rate=1e-2, lr_scheduler_type="constant", save_strategy="no", report_to="none",
                       bf16=False, use_cpu=True, dataloader_pin_memory=False, seed=0, max_length=128,
                       disable_tqdm=True)
    trainer = train_sft(model, tokenizer, examples, config)
    weights = hashlib.sha256()
    for name, tensor in sorted(trainer.model.state_dict().items()):
        weights.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
    report = {"rank": trainer.args.process_index, "world_size": trainer.args.world_size, "seen": seen,
              "weights": weights.hexdigest(), "steps": trainer.state.global_step}
    (Path(out_dir) / f"rank{trainer.args.process_index}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
