"""Training recipes under ``accelerate launch`` with several processes on a CPU really train together."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_two_cpu_processes_share_the_batches_and_end_with_the_same_weights(tmp_path):
    launcher = Path(sys.executable).parent / "accelerate"
    command = [str(launcher), "launch", "--config_file", str(REPO_ROOT / "training" / "accelerate" / "cpu.yaml"),
               str(REPO_ROOT / "tests" / "multiprocess_training_probe.py"), str(tmp_path)]
    environment = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT / "tests")}
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [report["world_size"] for report in reports] == [2, 2] and [r["steps"] for r in reports] == [3, 3]
    assert reports[0]["weights"] == reports[1]["weights"]  # gradients averaged every step
    first, second = (set(report["seen"]) for report in reports)
    assert len(reports[0]["seen"]) == len(reports[1]["seen"]) == 6  # 3 steps x 2 examples per process
    assert not first & second  # each process trained on its own share of the examples
