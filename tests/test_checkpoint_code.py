"""Every shipped checkpoint carries exactly the remote code it needs, equal to the repository's root files."""

import json
import shutil

import pytest
from chatnt.training.checkpoint_code import checkpoint_folders, main, needed_files, stale_files
from helpers import REPO_ROOT


@pytest.mark.parametrize("folder", checkpoint_folders(), ids=lambda folder: folder.name)
def test_shipped_checkpoint_code_is_current(folder):
    assert not stale_files(folder), f"refresh with: python -m chatnt.training.checkpoint_code ({stale_files(folder)})"


def test_the_needed_code_follows_the_auto_map_entries_and_their_imports():
    chatnt = needed_files(REPO_ROOT / "checkpoints" / "chatnt-mini")
    assert {"modeling_chatnt.py", "processing_chatnt.py", "pipeline_chatnt.py", "tokenization_nucleotide_transformer.py",
            "dna_encoders.py", "decoder_sources.py"} <= chatnt  # the last two only through relative imports
    assert needed_files(REPO_ROOT / "checkpoints" / "nt-mini-encoder") == {
        "configuration_nucleotide_transformer.py", "modeling_nucleotide_transformer.py",
        "tokenization_nucleotide_transformer.py"}
    assert needed_files(REPO_ROOT / "checkpoints" / "dnahlm-mini") == set()  # GPT-2: no remote code


def test_a_stale_or_extra_copy_is_found_and_the_command_refreshes_it(tmp_path, capsys):
    folder = tmp_path / "nt-mini-encoder"
    shutil.copytree(REPO_ROOT / "checkpoints" / "nt-mini-encoder", folder,
                    ignore=shutil.ignore_patterns("*.safetensors"))
    (folder / "modeling_nucleotide_transformer.py").write_text("# an old copy\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "tokenization_nucleotide_transformer.py").write_text("")
    (folder / "configuration_nucleotide_transformer.py").unlink()
    assert stale_files(folder) == ["configuration_nucleotide_transformer.py missing",
                                   "modeling_nucleotide_transformer.py differs from the repository's",
                                   "sub/tokenization_nucleotide_transformer.py not needed"]
    assert main(["--check", str(folder)]) == 1
    assert main([str(folder)]) == 0 and stale_files(folder) == []
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"]["AutoModel"] = "modeling_missing.Model"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(FileNotFoundError, match="names modeling_missing.py, which is not a file of the repository root"):
        needed_files(folder)
