"""Export a trained DNAHLM to a shippable folder: safetensors weights, configs and tokenizer only.

Training output folders also hold optimizer checkpoints and a pickled ``training_args.bin``; a published
checkpoint should load without unpickling anything, so only the inference files are written.

    python -m chatnt.training.dnahlm.export --source runs/dnahlm-mini-sft --target checkpoints/dnahlm-mini
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer, HfArgumentParser


@dataclass
class ExportArguments:
    source: str = field(metadata={"help": "A trained model folder (sft.py or pretrain.py output)."})
    target: str = field(metadata={"help": "Where to write the checkpoint."})
    max_file_mb: float = field(default=25.0, metadata={"help": "Refuse to write any file larger than this."})


def export(source: str, target: str, max_file_mb: float = 25.0) -> list[Path]:
    """Write the model (safetensors) and tokenizer of ``source`` to ``target``; return the files written."""
    model = AutoModelForCausalLM.from_pretrained(source)
    tokenizer = AutoTokenizer.from_pretrained(source)
    # Training switches the KV cache off in the config; generation wants it on.
    model.config.use_cache = True
    target_dir = Path(target)
    target_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target_dir, safe_serialization=True, max_shard_size=int(max_file_mb * 1e6))
    tokenizer.save_pretrained(target_dir)
    files = sorted(p for p in target_dir.iterdir() if p.is_file() and p.name != "README.md")
    too_big = [f"{p.name} ({p.stat().st_size / 1e6:.1f} MB)" for p in files if p.stat().st_size > max_file_mb * 1e6]
    if too_big:
        raise ValueError(f"Files over {max_file_mb} MB: {', '.join(too_big)}")
    return files


def main(argv: list[str] | None = None) -> None:
    (args,) = HfArgumentParser(ExportArguments).parse_args_into_dataclasses(args=argv)
    for path in export(args.source, args.target, args.max_file_mb):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
