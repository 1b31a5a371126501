"""The PubTator reader: title and abstract lines, tab-separated mentions at character offsets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .documents import CharEntity, document_examples
from .schema import CorpusFormatError, Example, ReadReport
from .textfiles import text_lines

__all__ = ["parse_pubtator", "read_pubtator"]


@dataclass
class _PubTatorDocument:
    pmid: str
    line: int
    title: str = ""
    abstract: str = ""
    annotations: list[tuple[int, CharEntity, str]] = field(default_factory=list)  # (line, entity, mention)

    @property
    def text(self) -> str:
        """Title and abstract joined by one space: the text PubTator offsets refer to."""
        return f"{self.title} {self.abstract}"


def _is_int(value: str) -> bool:
    return value.strip().lstrip("-").isdigit()


def parse_pubtator(path: str | Path) -> Iterator[_PubTatorDocument]:
    """Documents of a PubTator file, with every line checked.

    Written here rather than using `bioc.pubtator`, which strips lines (shifting offsets after
    a title with trailing spaces), prints malformed lines instead of raising, and reports no
    line numbers.
    """
    path = Path(path)
    document: _PubTatorDocument | None = None
    for number, raw in text_lines(path):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if document is not None:
                yield document
            document = None
            continue
        head, bar, rest = line.partition("|")
        if bar and "\t" not in head and rest[:2] in ("t|", "a|"):
            if document is not None and (document.pmid != head or (rest[0] == "t" and document.title)):
                yield document  # a new document without a blank line before it
                document = None
            if document is None:
                document = _PubTatorDocument(head, number)
            if rest[0] == "t":
                document.title = rest[2:]
            else:
                document.abstract = rest[2:]
            continue
        columns = line.split("\t")
        looks_like_annotation = len(columns) >= 6 or (len(columns) >= 2 and _is_int(columns[1]))
        if not looks_like_annotation:
            if len(columns) < 3:
                raise CorpusFormatError(
                    str(path), number,
                    "expected 'PMID|t|title', 'PMID|a|abstract' or"
                    f" a tab-separated annotation, got {line!r}"
                )
            continue  # a relation line: PMID, relation type, id1, id2[, novelty]
        if len(columns) < 5:
            raise CorpusFormatError(
                str(path), number,
                "expected 'PMID<TAB>start<TAB>end<TAB>mention<TAB>type[<TAB>ids]',"
                f" got {line!r}"
            )
        if not (_is_int(columns[1]) and _is_int(columns[2])):
            raise CorpusFormatError(
                str(path), number,
                "annotation offsets must be integers, got"
                f" start={columns[1]!r} end={columns[2]!r}"
            )
        if document is None or columns[0] != document.pmid:
            raise CorpusFormatError(
                str(path), number,
                f"annotation for PMID {columns[0]!r} outside its"
                f" document (expected after '{columns[0]}|t|...')"
            )
        entity = CharEntity(int(columns[1]), int(columns[2]), columns[4].strip())
        document.annotations.append((number, entity, columns[3]))
    if document is not None:
        yield document


def read_pubtator(path: str | Path, source: str, split: str, report: ReadReport) -> Iterator[Example]:
    """Sentence examples of a PubTator file (title + " " + abstract, char offsets into it)."""
    for document in parse_pubtator(path):
        text = document.text
        entities: list[CharEntity] = []
        for number, entity, mention in document.annotations:
            if not 0 <= entity.start < entity.end <= len(text):
                raise CorpusFormatError(
                    str(path), number,
                    f"annotation [{entity.start}:{entity.end}] outside the"
                    f" text of PMID {document.pmid} (length {len(text)})"
                )
            if text[entity.start : entity.end] != mention:
                report.note(
                    "mismatch", f"{Path(path).name}:{number}: {mention!r} vs text {text[entity.start:entity.end]!r}"
                )
                continue
            entities.append(entity)
        regions = [(0, len(document.title)), (len(document.title) + 1, len(text))]
        yield from document_examples(text, regions, entities, source=source, doc_id=document.pmid, report=report)
