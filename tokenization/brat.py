"""brat standoff: `.txt` + `.ann` pairs read through `bioc.brat`, every failure named by file and line."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .schema import CorpusFormatError, Example, ReadReport
from .standoff import Mention, StandoffDocument, check_mentions, expand_paths, standoff_examples

__all__ = ["brat_pairs", "parse_ann", "read_brat", "read_brat_document", "read_brat_text"]


def _document_id(file: Path, root: Path) -> str:
    """The file's path below the folder it was found in, without suffix (its stem for a named file)."""
    if root == file:
        return file.stem
    return file.relative_to(root).with_suffix("").as_posix()


_BRAT_SYNTAX = {
    "T": "'ID<TAB>TYPE START END[;START END]*<TAB>TEXT' with 0 <= START < END",
    "R": "'ID<TAB>TYPE ROLE1:ID1 ROLE2:ID2'",
    "*": "'*<TAB>TYPE ID1 ID2 ...'",
    "E": "'ID<TAB>TYPE:TRIGGER [ROLE:ID ...]'",
    "A": "'ID<TAB>TYPE REFID [VALUE]'",
    "M": "'ID<TAB>TYPE REFID [VALUE]'",
    "#": "'#ID<TAB>TYPE REFID<TAB>NOTE'",
    "N": "'ID<TAB>TYPE REFID RESOURCE:ENTRY<TAB>TEXT'",
}
_BRAT_KINDS = {"T": "entity", "R": "relation", "*": "relation", "E": "event", "A": "attribute", "M": "attribute",
               "#": "note", "N": "normalization"}


def _check_normalization(line: str) -> None:
    """`bioc.brat` skips N lines without looking; check their shape so a broken file is not accepted."""
    columns = line.split("\t")
    if len(columns) < 2 or len(columns[1].split(" ")) != 3 or ":" not in columns[1].split(" ")[2]:
        raise ValueError(line)


def _brat_parsers() -> dict[str, Any]:
    from bioc.brat import decoder

    return {
        "T": decoder.loads_brat_entity, "R": decoder.loads_brat_relation, "*": decoder.loads_brat_equiv,
        "E": decoder.loads_brat_event, "A": decoder.loads_brat_attribute, "M": decoder.loads_brat_attribute,
        "#": decoder.loads_brat_note, "N": _check_normalization,
    }


def parse_ann(path: Path) -> tuple[list[Mention], Counter]:
    """Text-bound mentions of a `.ann` file, and the count of its other annotations by report kind."""
    parsers = _brat_parsers()
    mentions: list[Mention] = []
    ignored: Counter = Counter()
    with path.open(encoding="utf-8", newline="") as lines:
        for number, raw in enumerate(lines, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            kind = line[0]
            if kind not in parsers:
                raise CorpusFormatError(
                    str(path), number,
                    f"expected a brat annotation line starting with one of {' '.join(_BRAT_SYNTAX)}, got {line!r:.80}",
                )
            try:
                parsed = parsers[kind](line)
            except (AssertionError, ValueError, IndexError) as error:
                detail = f" ({error})" if isinstance(error, ValueError) and str(error) != line else ""
                raise CorpusFormatError(str(path), number, f"expected {_BRAT_SYNTAX[kind]}, got {line!r:.80}{detail}") from None
            if kind != "T":
                ignored[_BRAT_KINDS[kind]] += 1
                continue
            fragments = tuple((interval.begin, interval.end) for interval in sorted(parsed.locations))
            mentions.append(Mention(fragments, parsed.type, parsed.text, number))
    return mentions, ignored


def _line_regions(text: str) -> list[tuple[int, int]]:
    """Non-blank lines: brat texts often hold one sentence or paragraph a line; sentences never cross them."""
    return [match.span() for match in re.finditer(r"[^\r\n]+", text) if match.group().strip()]


def brat_pairs(paths: Iterable[Path], require_ann: bool = True) -> list[tuple[Path, Path | None, str]]:
    """(text file, annotation file, document id) of brat folders and files (a `.txt` or its `.ann`).

    In a folder, the id is the text file's path below it without `.txt`. A text without its
    `.ann` is an error when annotations are required (training), else its annotation file is None.
    """
    pairs: list[tuple[Path, Path | None, str]] = []
    seen: set[Path] = set()
    for file, root in expand_paths(paths, (".txt", ".ann"), "brat"):
        text_file = file.with_suffix(".txt")
        if text_file in seen:
            continue
        seen.add(text_file)
        ann_file = file.with_suffix(".ann")
        if not text_file.is_file():
            raise FileNotFoundError(f"{ann_file}: no text file {text_file.name} beside it (brat needs both)")
        if not ann_file.is_file():
            if require_ann:
                raise FileNotFoundError(f"{text_file}: no annotation file {ann_file.name} beside it (an empty one"
                                        " says the text has no entity)")
            ann_file = None
        pairs.append((text_file, ann_file, _document_id(text_file, root if root != file else text_file)))
    return pairs


def read_brat_text(path: Path) -> str:
    """The text exactly as brat counts offsets: UTF-8, line ends kept as they are."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def read_brat_document(text_file: Path, ann_file: Path | None, doc_id: str) -> StandoffDocument:
    """One brat document, its mentions checked against its text."""
    text = read_brat_text(text_file)
    document = StandoffDocument(doc_id, text, _line_regions(text), where=str(ann_file or text_file))
    if ann_file is not None:
        mentions, document.ignored = parse_ann(ann_file)
        check_mentions(document, mentions)
    return document



def read_brat(paths: list[Path], source: str, split: str, report: ReadReport) -> Iterator[Example]:
    """Sentence examples of brat folders or files (every `.txt` needs its `.ann`)."""
    for text_file, ann_file, doc_id in brat_pairs(paths):
        yield from standoff_examples(read_brat_document(text_file, ann_file, doc_id), source, report)
