"""What the brat and BioC readers share: the document and mention types, offset checks, examples.

Both readers (`brat.py`, `bioc_files.py`) let the `bioc` package parse (`bioc.brat` line by
line, `bioc.biocxml`, `bioc.biocjson`). That package fails with bare assertions or KeyErrors
that name neither file nor line, ignores brat normalisation (N) lines and never checks offsets
against the text; the readers call it piece by piece, turn every failure into a
`CorpusFormatError` naming the file, the line and what was expected, check offsets here, and
count the annotations that NER does not use (relations, events, attributes, notes,
normalisations) so that a report shows them.

Both formats become `StandoffDocument`s: the text, the regions that sentences never cross
(brat lines, BioC passages) and the mentions with their fragments. The training reader turns those
into sentence examples exactly like PubTator documents (`documents.document_examples`); the
tagger reads the same documents and keeps the passages to write BioC back.
"""


from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .documents import CharEntity, document_examples
from .schema import CorpusFormatError, Example, ReadReport

__all__ = ["Mention", "Passage", "StandoffDocument", "check_mentions", "expand_paths", "standoff_examples"]


@dataclass(frozen=True)
class Mention:
    """An annotated mention: one or more (start, end) fragments of the document text."""

    fragments: tuple[tuple[int, int], ...]
    type: str
    text: str | None = None  # the mention as the file states it, checked against the document text
    line: int | None = None  # where the file states it (None where the format has no lines to name)
    id: str | None = None  # the annotation's id in the file, to find its line only when it is wrong

    @property
    def extent(self) -> tuple[int, int]:
        return min(start for start, _ in self.fragments), max(end for _, end in self.fragments)


@dataclass(frozen=True)
class Passage:
    """A BioC passage: its offset in the document, its text and infons (kept to write BioC back)."""

    offset: int
    text: str
    infons: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass
class StandoffDocument:
    """One brat or BioC document with its mentions and the count of what NER does not use."""

    id: str
    text: str
    regions: list[tuple[int, int]]
    mentions: list[Mention] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    infons: dict[str, str] = field(default_factory=dict)
    ignored: Counter = field(default_factory=Counter)  # report kind -> count (relation, event, ...)
    where: str = ""  # the file annotations are in


def expand_paths(paths: Iterable[Path], suffixes: tuple[str, ...], what: str) -> list[tuple[Path, Path]]:
    """(file, folder it was found in or the file itself) for files and folders of files with these suffixes.

    Folders are searched recursively and sorted, so a document's place never depends on the disk.
    """
    found: list[tuple[Path, Path]] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            if not inside:
                raise FileNotFoundError(f"{path}: no {what} files ({', '.join(suffixes)}) in this folder")
            found.extend((p, path) for p in inside)
        elif path.is_file():
            found.append((path, path))
        else:
            raise FileNotFoundError(f"no file or folder at {path}")
    return found


def _same_text(stated: str, actual: str) -> bool:
    """Mention texts agree up to whitespace (brat writes line breaks inside a mention as spaces)."""
    return stated.split() == actual.split()


def check_mentions(document: StandoffDocument, mentions: list[Mention],
                   locate: Callable[[Mention], int | None] = lambda mention: mention.line) -> None:
    """Every fragment lies inside the text and the stated mention text is the text there (else raise).

    `locate` finds the line of a wrong mention; it is only called for one that is wrong.
    """
    for mention in mentions:
        start, end = mention.extent
        if start < 0 or end > len(document.text):
            raise CorpusFormatError(
                document.where, locate(mention),
                f"mention {mention.type} [{start}:{end}] lies outside the text of document {document.id!r}"
                f" (length {len(document.text)}); offsets must count characters of the text",
            )
        actual = " ".join(document.text[s:e] for s, e in mention.fragments)
        if mention.text is not None and not _same_text(mention.text, actual):
            raise CorpusFormatError(
                document.where, locate(mention),
                f"mention text {mention.text!r} differs from the document text {actual!r} at"
                f" {';'.join(f'{s} {e}' for s, e in mention.fragments)}: are the offsets or the text file off?",
            )
    document.mentions.extend(mentions)



def standoff_examples(document: StandoffDocument, source: str, report: ReadReport) -> list[Example]:
    """Sentence examples of one document, as for PubTator; counts what NER cannot use."""
    for kind, count in sorted(document.ignored.items()):
        report.note(kind, f"{document.id} has {count}", count=count)
    entities = []
    for mention in document.mentions:
        start, end = mention.extent
        if len(mention.fragments) > 1:
            report.note("discontinuous", f"{document.id}: {mention.text!r} -> {document.text[start:end]!r}")
        entities.append(CharEntity(start, end, mention.type))
    if not document.regions:
        report.note("empty", document.id)
        return []
    return document_examples(document.text, document.regions, entities, source=source, doc_id=document.id,
                             report=report)
