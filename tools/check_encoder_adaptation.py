"""Checks that the remote-code encoder tests fail when a piece of the encoder adaptation is removed.

Each mutation below takes one adaptation out of the source (in place), runs tests/test_remote_code_encoder.py, and
puts the file back whatever happens. Every line printed should list failing tests; a mutation that leaves all of
them passing means the tests do not cover it.

    .venv/bin/python tools/check_encoder_adaptation.py
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# name: (file, code taken out, what stands in its place)
MUTATIONS = {
    "always pass attention_mask": ("dna_encoders.py", 'if interface["accepts_attention_mask"]:', "if True:"),
    "mask-free encoder run on the padded batch": (
        "dna_encoders.py",
        '    if interface["accepts_attention_mask"]:\n',
        '    if not interface["accepts_attention_mask"]:\n'
        "        return _last_hidden_state(encoder(input_ids=input_ids))\n"
        '    if interface["accepts_attention_mask"]:\n',
    ),
    "width read from hidden_size only": (
        "dna_encoders.py", 'WIDTH_NAMES = ("hidden_size", "d_model",', 'WIDTH_NAMES = ("hidden_size",) or ("d_model",'
    ),
    "position limit from max_position_embeddings only": (
        "dna_encoders.py", '    "max_position_embeddings", "max_seq_len",', '    "max_position_embeddings",) or ("max_seq_len",'
    ),
    "no encoder code saved": ("modeling_chatnt.py", "        copy_remote_code(encoder, save_directory)\n", ""),
    "no tokenizer code in the root": ("processing_chatnt.py", "        copy_remote_code(self.dna_tokenizer, save_directory)\n", ""),
    "processor does not clean or spell": (
        "processing_chatnt.py",
        "        spelled = clean_dna_sequence(sequence, replace_unknown_with_n).translate(self._spelling)",
        "        spelled = sequence",
    ),
    "no [UNK] check": (
        "processing_chatnt.py", "        if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids:", "        if False:"
    ),
    "remote dna config never resolved": (
        "modeling_chatnt.py", "    if not is_remote_code_placeholder(dna_config):\n        return\n", "    return\n"
    ),
}


def main() -> int:
    uncovered = 0
    backup = Path(tempfile.mkdtemp()) / "original.py"
    for name, (file_name, old, new) in MUTATIONS.items():
        path = ROOT / file_name
        text = path.read_text()
        assert text.count(old) == 1, f"{name}: the code to remove is not in {file_name} once; update this script"
        shutil.copyfile(path, backup)
        path.write_text(text.replace(old, new))
        try:
            run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                  "tests/test_remote_code_encoder.py"], cwd=ROOT, capture_output=True, text=True)
        finally:
            shutil.copyfile(backup, path)
        failed = [line.split("::")[1].split(" ")[0] for line in run.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        uncovered += not failed
        print(f"{name}: {len(failed)} failing: {', '.join(failed) or 'NONE (not covered)'}")
    print(f"mutations_not_caught: {uncovered}")
    return 1 if uncovered else 0


if __name__ == "__main__":
    sys.exit(main())
