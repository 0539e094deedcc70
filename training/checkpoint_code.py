"""The remote code of the shipped checkpoints, generated from the repository's root files by one command.

A checkpoint folder loads with ``trust_remote_code=True`` from its own copies of the code its ``auto_map`` entries
name (config, model, processor, tokenizers, custom pipeline), with the files those import relatively. Hand-kept
copies drift; this module computes what each folder needs from its JSON files, and writes or checks it:

    python -m chatnt.training.checkpoint_code            # refresh every folder under checkpoints/
    python -m chatnt.training.checkpoint_code --check    # list stale folders and exit 1 (tests run this check)

Copies live in the folder's root only: transformers resolves every ``auto_map`` entry there, subfolders' too
(``dna_tokenizer/``), so a copy in a subfolder is never read and is removed.
"""

import argparse
import filecmp
import json
import shutil
import sys
from pathlib import Path

from transformers.dynamic_module_utils import get_relative_import_files

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO_ROOT / "checkpoints"
# The JSON files whose auto_map (or custom pipeline) entries name code, relative to a checkpoint folder.
CODE_REFERENCES = ("config.json", "processor_config.json", "tokenizer_config.json", "dna_tokenizer/tokenizer_config.json")


def _class_references(value) -> list[str]:
    """``module.Class`` strings in an auto_map value (a string, or a [slow, fast] tokenizer pair)."""
    values = value if isinstance(value, list) else [value]
    return [entry.split("--")[-1] for entry in values if isinstance(entry, str)]


def entry_modules(folder: Path) -> set[str]:
    """The code files a folder's JSON files name: ``auto_map`` entries (the DNA encoder's too) and custom pipelines."""
    modules = set()
    for name in CODE_REFERENCES:
        path = folder / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        maps = [data.get("auto_map") or {}, (data.get("dna_config") or {}).get("auto_map") or {}]
        references = [entry for auto_map in maps for value in auto_map.values() for entry in _class_references(value)]
        references += [task["impl"] for task in (data.get("custom_pipelines") or {}).values()]
        modules |= {reference.rsplit(".", 1)[0] + ".py" for reference in references}
    return modules


def needed_files(folder: Path) -> set[str]:
    """The root files the folder must carry: its entry modules and everything they import relatively."""
    needed = set()
    for module in entry_modules(folder):
        source = REPO_ROOT / module
        if not source.is_file():
            raise FileNotFoundError(f"{folder.name} names {module}, which is not a file of the repository root.")
        needed |= {module} | {Path(path).name for path in get_relative_import_files(str(source))}
    return needed


def stale_files(folder: Path) -> list[str]:
    """What is wrong with a folder's code: files missing or differing from the root's, and copies not needed."""
    needed = needed_files(folder)
    problems = [f"{name} missing" for name in sorted(needed) if not (folder / name).is_file()]
    problems += [f"{name} differs from the repository's" for name in sorted(needed)
                 if (folder / name).is_file() and not filecmp.cmp(folder / name, REPO_ROOT / name, shallow=False)]
    extra = [path.relative_to(folder).as_posix() for path in sorted(folder.rglob("*.py"))]
    problems += [f"{name} not needed" for name in extra if name not in needed]
    return problems


def write_code(folder: Path) -> None:
    """Copies the needed root files into ``folder`` and removes code copies it does not need."""
    needed = needed_files(folder)
    for path in folder.rglob("*.py"):
        if path.relative_to(folder).as_posix() not in needed:
            path.unlink()
    for name in needed:
        shutil.copyfile(REPO_ROOT / name, folder / name)


def checkpoint_folders(root: Path = CHECKPOINTS) -> list[Path]:
    return sorted(path for path in root.iterdir() if (path / "config.json").is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatnt.training.checkpoint_code", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only list stale folders (exit 1 if any)")
    parser.add_argument("folders", nargs="*", help="checkpoint folders (default: every one under checkpoints/)")
    args = parser.parse_args(argv)
    folders = [Path(folder) for folder in args.folders] or checkpoint_folders()
    stale = 0
    for folder in folders:
        if args.check:
            problems = stale_files(folder)
            stale += bool(problems)
            print(f"{folder}: {'; '.join(problems) if problems else 'up to date'}")
        else:
            write_code(folder)
            print(f"{folder}: {', '.join(sorted(needed_files(folder))) or 'no code'}")
    if stale:
        print("refresh with: python -m chatnt.training.checkpoint_code", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
