"""Writing files so that a reader never sees half of one: beside the target first, then renamed over it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: str | Path, data: str | bytes | Iterable[bytes]) -> None:
    """Write ``data`` (text as UTF-8, line ends as given; or byte chunks, streamed) to ``path`` atomically.

    A crash or Ctrl-C leaves the previous file (or none), never a truncated one; the temporary
    file is removed when writing fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, str):
            with temporary.open("w", encoding="utf-8", newline="") as handle:
                handle.write(data)
        elif isinstance(data, bytes):
            temporary.write_bytes(data)
        else:
            with temporary.open("wb") as handle:
                handle.writelines(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
