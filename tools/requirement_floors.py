"""Prints ``name==lower_bound`` for every requirement of an installed distribution, extras included.

``make lock`` installs with these as constraints, so the lock pins each direct requirement at the lower
bound ``setup.py`` declares, and ``make test`` (which installs the lock) tests exactly those bounds.

    python tools/requirement_floors.py chatnt > floors.txt
"""

import re
import sys
from importlib.metadata import requires

# "torch>=2.13", "gradio<7,>=6.31; extra == 'demo'": the name, then a ">=" bound anywhere in the specifiers.
_FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)[^;]*?>=\s*([^,;\s]+)")


def floors(distribution: str) -> dict[str, str]:
    found = {}
    for requirement in requires(distribution) or []:
        match = _FLOOR.match(requirement)
        if match is None:
            sys.exit(f"{distribution} requires {requirement!r} without a lower bound (>=): give it one in setup.py.")
        name, bound = match.group(1).lower(), match.group(2)
        if found.get(name, bound) != bound:
            sys.exit(f"{distribution} gives {name} two lower bounds ({found[name]}, {bound}): keep one.")
        found[name] = bound
    return found


if __name__ == "__main__":
    for name, bound in sorted(floors(sys.argv[1]).items()):
        print(f"{name}=={bound}")
