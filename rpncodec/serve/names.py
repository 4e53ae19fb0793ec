"""URL names -> files inside the served folder, and nothing else.

A name is one path segment of letters, digits, ``.``, ``_`` and ``-`` that does not start with
a dot (so no ``..``, no hidden files, no slashes in any encoding: the router has decoded the
path before the name is checked). The file ``NAME.rpn`` is then resolved with every symlink
followed and must still lie inside the folder: a link that points out of it is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")
SUFFIX = ".rpn"


class BadName(Exception):
    """A name that is invalid (status 400) or names no file (404). ``str`` is the message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def resolve(folder: Path, name: str) -> Path:
    """The real path of ``folder/NAME.rpn``, guaranteed to be a regular file inside
    ``folder`` (which must already be resolved)."""
    if not NAME_RE.fullmatch(name):
        raise BadName(400, "invalid name: use the file name without .rpn (letters, digits, "
                         ". _ -, not starting with a dot)")
    candidate = folder / f"{name}{SUFFIX}"
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a dangling link, a symlink loop
        raise BadName(404, f"no file named {name}") from None
    if not real.is_relative_to(folder) or not real.is_file():
        raise BadName(404, f"no file named {name}")
    return real


def listing(folder: Path) -> list[str]:
    """Names of the servable files directly in ``folder``, sorted."""
    names = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        name = path.name[: -len(SUFFIX)]
        try:
            resolve(folder, name)
        except BadName:
            continue
        names.append(name)
    return names
