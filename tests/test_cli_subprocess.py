"""Every chatnt command run as a real process (``python -m chatnt.cli``) on a tiny saved model.

Includes the resumable ``predict``: a run killed midway leaves only ``<out>.partial``, and the re-run
writes every record exactly once.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from helpers import random_dna
from test_cli_commands import save_tiny_model, write_fasta

ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
COMMAND = [sys.executable, "-m", "chatnt.cli"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, text_tokenizer, dna_tokenizer) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("chatnt-tiny"), text_tokenizer, dna_tokenizer)


def numbered_fasta(path, count: int, prefix: str = "rec", length: int = 40) -> str:
    return write_fasta(path, {f"{prefix}{i}": random_dna(length, seed=i) for i in range(count)})


def run_chatnt(*arguments, stdin: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *arguments], input=stdin, capture_output=True, text=True, env=ENVIRONMENT,
                          cwd=cwd, timeout=300)


def test_ask_prints_the_answer_and_its_probability(tiny_model, tmp_path):
    fasta = numbered_fasta(tmp_path / "r.fa", 3)
    done = run_chatnt("ask", "Is @rec1 a promoter?", "--fasta", fasta, "--model", tiny_model, "--max-new-tokens", "3")
    assert done.returncode == 0, done.stderr
    # One line, nothing on stderr: no warning, progress bar or load report around the answer.
    assert re.fullmatch(r".* \((?:the classifier says (?:yes|no): )?P\((?:yes|no)\) = [0-9.]+, uncalibrated.*\)\n", done.stdout)
    assert done.stderr == ""


def test_predict_killed_midway_resumes_and_writes_every_record_once(tiny_model, tmp_path):
    count = 200
    fasta = numbered_fasta(tmp_path / "many.fa", count)
    out, partial = tmp_path / "results.tsv", tmp_path / "results.tsv.partial"
    arguments = ["predict", "--fasta", fasta, "--question", "Is @seq a promoter? Answer yes or no.", "--out", str(out),
                 "--model", tiny_model, "--batch-size", "2", "--max-new-tokens", "4"]
    process = subprocess.Popen([*COMMAND, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=ENVIRONMENT)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if partial.exists() and partial.read_text().count("\n") > 10:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL, "predict finished before it could be interrupted"
    written = partial.read_text().count("\n") - 1
    assert 10 <= written < count and not out.exists()  # nothing named results.tsv until the run is complete

    resumed = run_chatnt(*arguments, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    ids = [line.split("\t")[0] for line in out.read_text().splitlines()[1:]]
    assert ids == [f"rec{i}" for i in range(count)]  # every record exactly once, in file order
    assert not partial.exists() and not (tmp_path / "results.tsv.partial.json").exists()
    assert f"records: {count} -> {out} (" in resumed.stdout and "from an earlier run" in resumed.stdout


def test_compare_prints_the_difference_and_the_answer(tiny_model, tmp_path):
    reference = random_dna(50, seed=1)
    variant = reference[:10] + ("G" if reference[10] != "G" else "T") + reference[11:]
    fasta = tmp_path / "pair.fa"
    fasta.write_text(f">wt\n{reference}\n>mut\n{variant}\n")
    done = run_chatnt("compare", "--ref", "@wt", "--alt", "@mut", "--fasta", str(fasta), "--model", tiny_model,
                      "--max-new-tokens", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("question: Here is a reference DNA sequence, @ref")
    assert lines[1] == f"@wt vs @mut: 1 substitution: 11:{reference[10]}>{variant[10]}"
    assert re.search(r"P\((?:yes|no)\) = ", lines[2])


def test_chat_reads_a_pipe_and_keeps_history(tiny_model, tmp_path):
    first = numbered_fasta(tmp_path / "a.fa", 2)
    second = numbered_fasta(tmp_path / "b.fa", 1, prefix="other")
    script = "\n".join(["/list", "Is @rec1 a promoter?", "Tell me more about @rec0.", "/history", f"/load {second}",
                        "/load nowhere.fa", "/list", "/reset", "/history", "/quit"]) + "\n"
    done = run_chatnt("chat", "--fasta", first, "--model", tiny_model, "--max-new-tokens", "3", stdin=script)
    assert done.returncode == 0, done.stderr
    printed = done.stdout
    assert printed.count("@rec0\t40 bp") == 2 and "@other0\t40 bp" in printed
    history = printed[printed.index("user: Is @rec1 a promoter?"):]
    assert "\nassistant: " in history and "\nuser: Tell me more about @rec0." in history  # both turns kept
    assert "loaded 1 record(s): @other0" in printed and "error: FASTA file not found: 'nowhere.fa'" in printed
    assert printed.rstrip().endswith("(no conversation yet)")  # /reset forgot the turns


def test_bad_input_exits_with_2_and_one_line(tmp_path):
    # The other rows of the bad-input table run in-process (test_cli_commands.py): same main(), faster.
    fasta = numbered_fasta(tmp_path / "r.fa", 2)
    done = run_chatnt("predict", "--fasta", fasta, "--question", "Is <DNA> bound?", "--out", str(tmp_path / "r.tsv"),
                      "--model", str(tmp_path / "no-model"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == (f"chatnt: error: model directory not found: '{tmp_path / 'no-model'}'. Pass --model DIR (a "
                           "ChatNT checkpoint folder) or leave it out for the shipped checkpoints/chatnt-mini.\n")
    assert not (tmp_path / "r.tsv").exists() and not (tmp_path / "r.tsv.partial").exists()
