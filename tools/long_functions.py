"""Functions of the package that run over a length limit: the check behind "no function over ~60 lines without a reason".

    python tools/long_functions.py [--limit 60] [--root .]

Lists, longest body first, every function of the package's own code (tests, checkpoint copies, virtual environments
and ignored run folders left out) longer than ``--limit`` lines, with and without its docstring, then the counts
as ``key: value`` lines. Pass ``--root`` another checkout (``git worktree add``) to measure an older commit.
"""

import argparse
import ast
from pathlib import Path

SKIPPED = {"tests", "checkpoints", "runs", "build"}


def function_lengths(root: Path):
    """``(lines, body lines without the docstring, file, name)`` of every function under ``root``."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in SKIPPED or parts[0].startswith(".") or "site-packages" in parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                first = node.body[0]
                has_docstring = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                    and isinstance(first.value.value, str)
                docstring = first.end_lineno - first.lineno + 1 if has_docstring else 0
                yield lines, lines - docstring, str(path.relative_to(root)), node.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    args = parser.parse_args()
    functions = list(function_lengths(Path(args.root)))
    over = sorted((f for f in functions if f[0] > args.limit), key=lambda f: (-f[1], -f[0]))
    for lines, body, path, name in over:
        print(f"{body:4d} body / {lines:4d} lines  {path}:{name}")
    print(f"functions: {len(functions)}")
    print(f"over_{args.limit}_lines: {len(over)}")
    print(f"over_{args.limit}_body_lines: {sum(1 for f in over if f[1] > args.limit)}")


if __name__ == "__main__":
    main()
