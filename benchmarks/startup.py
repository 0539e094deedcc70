"""How long the command line and the shipped model take to start, each in a fresh process.

- ``chatnt --help``: the installed ``chatnt`` command (``bin/chatnt``), which imports no torch or transformers.
- Loading ``checkpoints/chatnt-mini`` with ``chatnt.commands.load_chatnt`` (model + processor; the decoder is the
  offline SmolLM2 build, which must exist: run ``make demo`` once). The first load after the decoder's files
  change hashes every decoder tensor to check the checkpoint's sha256; later loads find that verdict in the
  record of verified decoders (``chatnt.decoder_reference``) and skip the hashing. ``first``: the decoder's
  weight files touched before each load (new modification time, same bytes), so no verdict applies;
  ``verified``: the loads after it. Each the median of ``--repeats`` processes.

    python benchmarks/startup.py [--repeats 3] [--threads 2]

Ends with ``help_seconds``, ``load_seconds_first``, ``load_seconds_verified`` and ``checksum_seconds``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHATNT_COMMAND = Path(sys.executable).parent / "chatnt"

# Run in a child process: the load time, and the time the decoder checksum alone takes on the loaded model.
LOAD_SCRIPT = """
import json, sys, time
import torch
torch.set_num_threads({threads})
start = time.perf_counter()
from chatnt.commands import load_chatnt
chatnt = load_chatnt({model!r})
loaded = time.perf_counter() - start
start = time.perf_counter()
chatnt.model.current_text_model_checksum()
print(json.dumps({{"load": loaded, "checksum": time.perf_counter() - start}}))
"""


def run_seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def load_once(model: str, threads: int) -> dict:
    script = LOAD_SCRIPT.format(threads=threads, model=model)
    output = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def touch_decoder(model: str) -> None:
    """New modification times for the decoder's weight files (bytes unchanged): its verdict no longer applies."""
    from chatnt.decoder_sources import decoder_location

    reference = json.loads((Path(model) / "config.json").read_text(encoding="utf-8")).get("text_model_reference") or {}
    if "package" not in (reference.get("source") or {}):
        sys.exit(f"{model} does not reference a package-built decoder: nothing to measure.")
    decoder, _ = decoder_location(reference["source"])
    for weights in Path(decoder).glob("*.safetensors"):
        os.utime(weights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=str(REPO_ROOT / "checkpoints" / "chatnt-mini"))
    args = parser.parse_args()

    help_seconds = statistics.median(run_seconds([str(CHATNT_COMMAND), "--help"]) for _ in range(args.repeats))
    first, verified = [], []
    for _ in range(args.repeats):
        touch_decoder(args.model)
        first.append(load_once(args.model, args.threads))
    for _ in range(args.repeats):
        verified.append(load_once(args.model, args.threads))

    print(f"help_seconds: {help_seconds:.3f}")
    print(f"load_seconds_first: {statistics.median(r['load'] for r in first):.2f}")
    print(f"load_seconds_verified: {statistics.median(r['load'] for r in verified):.2f}")
    print(f"checksum_seconds: {statistics.median(r['checksum'] for r in first + verified):.2f}")


if __name__ == "__main__":
    main()
