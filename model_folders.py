"""Where a model comes from: a local folder or a Hub id, and loader errors cut to one line.

Both the model and the processor load from "a folder or a Hub id"; they tell the two apart, and word the
error for a wrong path, with these helpers (remote code: it needs only the standard library).
"""

import os
import re

# "owner/name" as the Hub spells model ids; any other path that does not exist locally is a wrong path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(path: str) -> bool:
    """Whether ``path`` is shaped like a Hub model id (``owner/name``)."""
    return bool(_HUB_ID.match(path))


def first_line(error: BaseException) -> str:
    """The first line of an error's message (loaders raise long multi-line ones), or its type's name."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def is_local_model_folder(path: str, holds: str, saved_by: str) -> bool:
    """True for an existing folder, False for a Hub id (``owner/name``, left to transformers to resolve).

    Raises ``ValueError`` for a file and ``FileNotFoundError`` for any other missing path; ``holds`` and
    ``saved_by`` name, in the messages, what the folder should contain and which call writes it.
    """
    if os.path.isdir(path):
        return True
    if os.path.exists(path):
        raise ValueError(f"{path!r} is a file; pass the model folder that holds {holds}.")
    if is_hub_id(path):
        return False
    raise FileNotFoundError(
        f"model directory not found: {path!r}. Pass the folder written by {saved_by} (e.g. "
        f"checkpoints/chatnt-mini); relative paths start at {os.getcwd()!r}."
    )


__all__ = ["first_line", "is_hub_id", "is_local_model_folder"]
