"""A Python environment without the chatnt package, holding only named packages and their dependencies.

Nothing is downloaded (the tests run offline): the packages are this venv's installed copies, exposed to a new
``venv --without-pip`` through one ``.pth`` entry pointing at a folder of symlinks to their files. Only the
requirement closure of the named packages is linked, so code that imports anything else (chatnt, trl, peft,
datasets, ...) fails there as it would on a user's machine.
"""

import importlib.metadata
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def requirement_closure(packages: list[tuple[str, bool]]) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions of ``packages`` (name, with its dependencies) and what they require, extras
    left out."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [(canonicalize_name(name), with_dependencies) for name, with_dependencies in packages]
    while pending:
        name, with_dependencies = pending.pop()
        if name in found:
            continue
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise RuntimeError(f"{name} is required but not installed in this venv") from None
        found[name] = distribution
        for text in distribution.requires or [] if with_dependencies else []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append((canonicalize_name(requirement.name), True))
    return found


def packages_in_pip_commands(text: str) -> list[tuple[str, bool]]:
    """``(name, with its dependencies)`` for each package in the ``pip install ...`` commands of a text (a model
    card's set-up line); ``--no-deps`` installs a package alone."""
    packages = []
    for command in re.findall(r"pip install ([^\n&|;`]+)", text):
        words = command.split()
        packages += [(Requirement(word.strip("\"'")).name, "--no-deps" not in words) for word in words if not word.startswith("-")]
    return packages


def make_environment(root: Path, packages: list[tuple[str, bool]]) -> Path:
    """Creates the environment in ``root`` and returns its Python executable."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site_packages = Path(
        subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       check=True, capture_output=True, text=True).stdout.strip()
    )
    ours = Path(sysconfig.get_paths()["purelib"])
    links = root / "linked-packages"
    links.mkdir()
    for distribution in requirement_closure(packages).values():
        for file in distribution.files or []:
            parts = Path(file).parts
            if not parts or parts[0] == ".." or parts[0].endswith(".pth"):
                continue  # scripts outside site-packages; .pth hooks (an editable install's finder)
            target = links / parts[0]
            if not target.exists():
                target.symlink_to(ours / parts[0])
    (site_packages / "linked-packages.pth").write_text(str(links) + "\n")
    return python
