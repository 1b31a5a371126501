"""The IOB column-file reader: `token ... tag` lines, blank lines between sentences."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .iob import decode_tags, parse_tag
from .schema import CorpusFormatError, Example, ReadReport
from .textfiles import text_lines

__all__ = ["DOCSTART", "read_iob"]

DOCSTART = "-DOCSTART-"


def _column_line(line: str) -> list[str]:
    """Columns of a line: tab-separated if it has a tab, else whitespace-separated."""
    return line.split("\t") if "\t" in line else line.split()


def read_iob(path: str | Path, source: str, split: str, report: ReadReport) -> Iterator[Example]:
    """Sentences of a `token<TAB or SPACE>...<TAB or SPACE>tag` file (tag = last column).

    Blank lines end sentences; `-DOCSTART-` lines start a new document (files without them
    are one document). IOB2, IOB1, IOBES and BILOU tags are all accepted.
    """
    path = Path(path)
    document = 0
    tokens: list[str] = []
    tags: list[tuple[str, str]] = []
    first_line = 0

    def flush() -> Iterator[Example]:
        if tokens:
            spans, repaired = decode_tags(tags)
            report.note("iob_repaired", f"{path.name}:{first_line}" if repaired else None, count=repaired)
            yield Example(list(tokens), spans, source, f"{source}:{split}:{document}")
        tokens.clear()
        tags.clear()

    for number, raw in text_lines(path):
        line = raw.rstrip("\r\n")
        if not line.strip():
            yield from flush()
            continue
        columns = _column_line(line)
        if columns[0] == DOCSTART:
            yield from flush()
            document += 1
            continue
        if len(columns) < 2 or not columns[0].strip():
            raise CorpusFormatError(
                str(path), number, f"expected 'token<TAB>tag' (tag in the last column), got {line!r}"
            )
        try:
            tags.append(parse_tag(columns[-1].strip()))
        except ValueError as error:
            raise CorpusFormatError(str(path), number, str(error)) from None
        if not tokens:
            first_line = number
        tokens.append(columns[0].strip())
    yield from flush()
