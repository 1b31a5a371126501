"""Reading text files the same way in every reader: UTF-8, a byte order mark dropped, bad bytes named.

Editors on Windows often save UTF-8 with a byte order mark; read as plain UTF-8 it becomes
part of the first token and hides a ``-DOCSTART-`` or a PubTator header. A file in another
encoding (latin-1 is the usual one) fails in Python with a bare ``UnicodeDecodeError``
that names neither file nor line; here it names both, the byte, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .schema import CorpusFormatError

__all__ = ["not_utf8_error", "read_text", "text_lines"]

ENCODING = "utf-8-sig"  # UTF-8; a leading byte order mark, if any, is dropped


def not_utf8_error(path: str | Path) -> CorpusFormatError:
    """The error for a file that is not UTF-8, naming its first bad line, column and byte."""
    path = Path(path)
    fix = f"re-encode it as UTF-8, e.g. iconv -f latin1 -t utf8 {path.name} > {path.stem}.utf8{path.suffix}"
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                return CorpusFormatError(
                    str(path), number, f"not UTF-8 at byte 0x{raw[error.start]:02x} (column {error.start + 1}); {fix}"
                )
    return CorpusFormatError(str(path), None, f"not UTF-8; {fix}")


def text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` pairs of a UTF-8 file, line endings kept, without a byte order mark."""
    try:
        with Path(path).open(encoding=ENCODING) as handle:
            yield from enumerate(handle, 1)
    except UnicodeDecodeError:
        raise not_utf8_error(path) from None


def read_text(path: str | Path, newline: str | None = None) -> str:
    """The whole of a UTF-8 file, without a byte order mark (``newline=""`` keeps ``\\r\\n``)."""
    try:
        with Path(path).open(encoding=ENCODING, newline=newline) as handle:
            return handle.read()
    except UnicodeDecodeError:
        raise not_utf8_error(path) from None
