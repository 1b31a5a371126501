"""Documents to tag, read from text, JSON lines, PubTator, BioC or brat inputs with file:line errors.

Inputs are plain-text files (one document per file, or one per non-blank line with ``--lines``;
the id is the file stem, or ``stem:line``), JSON lines (``{"id": ..., "text": ...}``; the keys
are configurable), PubTator files (title and abstract; the text is ``title + " " + abstract``),
BioC XML or JSON collections (the passages at their offsets; annotations already there are not
read) or brat folders (every ``.txt`` below the folder; the id is its path below it without
``.txt``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tokenization.textfiles import not_utf8_error

__all__ = ["Document", "TaggingError", "check_format", "detect_input_format", "pubtator_passages", "read_documents"]

INPUT_FORMATS = ("auto", "text", "jsonl", "pubtator", "bioc", "brat")
_PUBTATOR_HEADER = re.compile(r"^[^\t|]+\|[ta]\|")


class TaggingError(ValueError):
    """A problem with the inputs, the output file or the options, explained for the user."""


def check_format(value: str, choices: Sequence[str], what: str) -> None:
    """A format option must be one of ``choices``; the error lists them."""
    if value not in choices:
        raise TaggingError(f"{what} format must be one of {tuple(choices)}, got {value!r}")


@dataclass(frozen=True)
class Document:
    """One document to tag. ``title``/``abstract`` are set for PubTator input (``text`` joins them)."""

    id: str
    text: str
    title: str | None = None
    abstract: str | None = None
    where: str = field(default="", compare=False)  # "file:line", for error messages
    passages: tuple = field(default=(), compare=False)  # BioC input: its passages, written back to BioC
    infons: dict = field(default_factory=dict, compare=False)  # BioC input: the document's infons




def detect_input_format(path: str | Path) -> str:
    """``brat`` for a folder; ``jsonl``, ``pubtator``, ``bioc`` or ``text`` from the file name, else from
    the first non-blank line (``<``: BioC XML; a JSON object with ``documents``, or one that does not
    end on its first line: BioC JSON)."""
    path = Path(path)
    if path.is_dir():
        return "brat"
    name = path.name.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if ".pubtator" in name:
        return "pubtator"
    if name.endswith(".xml"):
        return "bioc"
    with _open_text(path) as handle:
        for line in handle:
            if not line.strip():
                continue
            if line.lstrip().startswith("<"):
                return "bioc"
            if line.lstrip().startswith("{"):
                return "jsonl" if _is_jsonl_record(line) else "bioc"
            if _PUBTATOR_HEADER.match(line):
                return "pubtator"
            return "text"
    return "text"


def _is_jsonl_record(line: str) -> bool:
    """A first line that is a whole JSON object other than a BioC collection."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return False
    return not (isinstance(value, dict) and "documents" in value)


def _open_text(path: Path):
    if not path.is_file():
        raise TaggingError(f"input file not found: {path}" if not path.exists() else f"input is not a file: {path}")
    return path.open(encoding="utf-8-sig", newline="")


def _read_text(path: Path, lines: bool) -> Iterator[Document]:
    with _open_text(path) as handle:
        if not lines:
            yield Document(path.stem, handle.read(), where=str(path))
            return
        for number, raw in enumerate(handle, 1):
            text = raw.rstrip("\r\n")
            if text.strip():
                yield Document(f"{path.stem}:{number}", text, where=f"{path}:{number}")


def _read_jsonl(path: Path, id_key: str, text_key: str) -> Iterator[Document]:
    with _open_text(path) as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as error:
                raise TaggingError(f"{where}: malformed JSON line ({error.msg} at column {error.colno})") from None
            if not isinstance(record, dict):
                raise TaggingError(f"{where}: expected a JSON object, got {type(record).__name__}")
            if text_key not in record:
                raise TaggingError(f"{where}: no {text_key!r} key (found {sorted(record)}); see --text-key")
            text = record[text_key]
            if not isinstance(text, str):
                raise TaggingError(f"{where}: {text_key!r} must be a string, got {type(text).__name__}")
            identifier = record.get(id_key)
            if identifier is None:
                identifier = f"{path.stem}:{number}"
            elif isinstance(identifier, (dict, list, bool)):
                raise TaggingError(f"{where}: {id_key!r} must be a string or a number, got {identifier!r}")
            yield Document(str(identifier), text, where=where)


def _read_pubtator(path: Path) -> Iterator[Document]:
    from tokenization.pubtator import parse_pubtator

    if not path.is_file():
        _open_text(path)  # raises the same clear error as the other formats
    for document in parse_pubtator(path):
        yield Document(document.pmid, document.text, document.title, document.abstract, where=f"{path}:{document.line}")


def pubtator_passages(document: Document) -> tuple:
    """Title and abstract as BioC passages, so that BioC output keeps PubTator's offsets."""
    from tokenization.standoff import Passage

    title = document.title or ""
    return (Passage(0, title, {"type": "title"}), Passage(len(title) + 1, document.abstract or "", {"type": "abstract"}))


def _read_bioc(path: Path) -> Iterator[Document]:
    from tokenization.bioc_files import read_bioc_documents

    _open_text(path).close()  # the same clear error as the other formats for a missing file
    for document in read_bioc_documents(path, with_annotations=False):
        yield Document(document.id, document.text, where=f"{path} (document {document.id})",
                       passages=tuple(document.passages), infons=dict(document.infons))


def _read_brat(path: Path) -> Iterator[Document]:
    from tokenization.brat import brat_pairs, read_brat_text

    try:
        pairs = brat_pairs([path], require_ann=False)
    except FileNotFoundError as error:
        raise TaggingError(str(error)) from None
    for text_file, _, identifier in pairs:
        yield Document(identifier, read_brat_text(text_file), where=str(text_file))


def read_documents(
    paths: Sequence[str | Path],
    input_format: str = "auto",
    lines: bool = False,
    id_key: str = "id",
    text_key: str = "text",
) -> Iterator[Document]:
    """Documents of every input file, in order. Malformed input raises ``TaggingError`` or
    ``tokenization.CorpusFormatError`` naming the file and line."""
    check_format(input_format, INPUT_FORMATS, "input")
    for path in map(Path, paths):
        try:
            kind = detect_input_format(path) if input_format == "auto" else input_format
            if kind == "jsonl":
                yield from _read_jsonl(path, id_key, text_key)
            elif kind == "pubtator":
                yield from _read_pubtator(path)
            elif kind == "bioc":
                yield from _read_bioc(path)
            elif kind == "brat":
                yield from _read_brat(path)
            else:
                yield from _read_text(path, lines)
        except UnicodeDecodeError:
            raise not_utf8_error(path) from None
