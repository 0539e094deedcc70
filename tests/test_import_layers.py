"""The package's layers point down (.importlinter): the check `make test` runs first, and that it catches an
upward import."""

import subprocess
import sys
from pathlib import Path

from helpers import REPO_ROOT

LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT_IMPORTS, "--no-cache", "--no-logo", str(config)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)


def test_the_layers_hold():
    result = lint(REPO_ROOT / ".importlinter")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 kept, 0 broken" in result.stdout


def test_an_import_against_the_layers_breaks_the_contract(tmp_path):
    # The genome windows read FASTA files; a contract that puts the FASTA reader above them must fail, naming the line.
    config = tmp_path / "upside-down.ini"
    config.write_text("[importlinter]\nroot_package = chatnt\n\n[importlinter:contract:upside-down]\n"
                      "name = FASTA above genome\ntype = layers\nlayers =\n    chatnt.fasta\n    chatnt.genome\n")
    result = lint(config)
    assert result.returncode == 1
    assert "chatnt.genome is not allowed to import chatnt.fasta" in result.stdout
    assert "chatnt.genome.windows -> chatnt.fasta" in result.stdout
