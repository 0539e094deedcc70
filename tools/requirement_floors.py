"""Prints ``name==lower_bound`` for every requirement in ``setup.py``, extras included.

``make lock`` installs with these as constraints, so the lock pins each direct requirement at the lower
bound ``setup.py`` declares, and ``make test`` (which installs the lock) tests exactly those bounds.

    python tools/requirement_floors.py > floors.txt

``setup.py`` is read, not run: its ``install_requires`` list and ``extras_require`` dict must be literals.
"""

import ast
import re
import sys
from pathlib import Path

SETUP_PY = Path(__file__).resolve().parents[1] / "setup.py"
# "torch>=2.13.0", "gradio>=6.31.0,<7": the name, then its ">=" bound.
_FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)[^;]*?>=\s*([^,;\s]+)")


def requirements(setup_py: Path = SETUP_PY) -> list[str]:
    """Every requirement string of ``setup(install_requires=[...], extras_require={...})`` in ``setup_py``."""
    tree = ast.parse(setup_py.read_text(encoding="utf-8"))
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup")
    found = []
    for keyword in call.keywords:
        if keyword.arg == "install_requires":
            found += ast.literal_eval(keyword.value)
        elif keyword.arg == "extras_require":
            found += [requirement for extra in ast.literal_eval(keyword.value).values() for requirement in extra]
    return found


def floors(setup_py: Path = SETUP_PY) -> dict[str, str]:
    """``{name: lower bound}`` of every requirement; exits naming a requirement without one."""
    found = {}
    for requirement in requirements(setup_py):
        match = _FLOOR.match(requirement)
        if match is None:
            sys.exit(f"setup.py requires {requirement!r} without a lower bound (>=): give it one.")
        name, bound = match.group(1).lower(), match.group(2)
        if found.get(name, bound) != bound:
            sys.exit(f"setup.py gives {name} two lower bounds ({found[name]}, {bound}): keep one.")
        found[name] = bound
    return found


if __name__ == "__main__":
    for name, bound in sorted(floors().items()):
        print(f"{name}=={bound}")
