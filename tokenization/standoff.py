"""Read brat standoff folders and BioC collections (XML or JSON) through the `bioc` package.

`bioc` does the parsing (`bioc.brat` line by line, `bioc.biocxml`, `bioc.biocjson`), but it
fails with bare assertions or KeyErrors that name neither file nor line, ignores brat
normalisation (N) lines, and never checks offsets against the text. This module calls it piece
by piece and turns every failure into a `CorpusFormatError` naming the file, the line and what
was expected; offsets are checked against the text, and the annotations that NER does not use
(relations, events, attributes, notes, normalisations) are counted so that a report shows them.

Both formats become `StandoffDocument`s: the text, the regions that sentences never cross (brat
lines, BioC passages) and the mentions with their fragments. The training reader turns those
into sentence examples exactly like PubTator documents (`documents.document_examples`); the
tagger reads the same documents and keeps the passages to write BioC back.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .documents import CharEntity, assemble_text, document_examples
from .schema import CorpusFormatError, Example, ReadReport

__all__ = [
    "Mention",
    "Passage",
    "StandoffDocument",
    "bioc_kind",
    "brat_pairs",
    "expand_paths",
    "read_bioc",
    "read_bioc_documents",
    "read_brat",
    "read_brat_document",
    "standoff_examples",
]


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


# --------------------------------------------------------------------------- paths


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


def _document_id(file: Path, root: Path) -> str:
    """The file's path below the folder it was found in, without suffix (its stem for a named file)."""
    if root == file:
        return file.stem
    return file.relative_to(root).with_suffix("").as_posix()


# --------------------------------------------------------------------------- brat


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


def read_brat_document(text_file: Path, ann_file: Path | None, doc_id: str) -> StandoffDocument:
    """One brat document, its mentions checked against its text."""
    text = read_brat_text(text_file)
    document = StandoffDocument(doc_id, text, _line_regions(text), where=str(ann_file or text_file))
    if ann_file is not None:
        mentions, document.ignored = parse_ann(ann_file)
        check_mentions(document, mentions)
    return document


# --------------------------------------------------------------------------- BioC


def bioc_kind(path: Path) -> str:
    """`xml` or `json`, from the first non-blank character of the file."""
    with path.open(encoding="utf-8-sig") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith("<"):
        return "xml"
    if head.startswith("{"):
        return "json"
    raise CorpusFormatError(str(path), 1, "expected BioC XML (starting with '<') or BioC JSON (starting with '{')")


_XML_REQUIRED = {  # element -> (required child texts, required integer child texts, required attributes, integer attributes)
    "document": (("id",), (), (), ()),
    "passage": ((), ("offset",), (), ()),
    "sentence": ((), ("offset",), (), ()),
    "annotation": ((), (), ("id",), ()),
    "location": ((), (), (), ("offset", "length")),
    "node": ((), (), ("refid", "role"), ()),
}


def _is_integer(value: str | None) -> bool:
    return value is not None and value.strip().lstrip("-").isdigit()


def _xml_problem(path: Path) -> tuple[int | None, str] | None:
    """The first element missing what `bioc.biocxml` needs, with its line; None if none is found."""
    from lxml import etree

    for element in etree.parse(str(path)).getroot().iter(*_XML_REQUIRED):
        texts, integer_texts, attributes, integer_attributes = _XML_REQUIRED[element.tag]
        for child in texts:
            if element.find(child) is None:
                return element.sourceline, f"<{element.tag}> needs a <{child}> element"
        for child in integer_texts:
            if not _is_integer(element.findtext(child)):
                return element.sourceline, f"<{element.tag}> needs an integer <{child}>, got {element.findtext(child)!r}"
        for name in attributes:
            if name not in element.attrib:
                return element.sourceline, f"<{element.tag}> needs a {name!r} attribute"
        for name in integer_attributes:
            if not _is_integer(element.get(name)):
                return element.sourceline, f"<{element.tag}> needs an integer {name!r} attribute, got {element.get(name)!r}"
    return None


def _load_bioc_xml(path: Path):
    from bioc import biocxml
    from lxml import etree

    try:
        return biocxml.load(str(path))
    except etree.XMLSyntaxError as error:
        raise CorpusFormatError(str(path), error.lineno, f"not well-formed XML: {error.msg}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        problem = _xml_problem(path) or (None, f"not a BioC collection ({type(error).__name__}: {error})")
        raise CorpusFormatError(str(path), problem[0], problem[1]) from None


_JSON_DEFAULTS = {  # optional BioC JSON keys (zero or more in the DTD) and their empty values
    "collection": {"source": "", "date": "", "key": "", "infons": {}},
    "document": {"infons": {}, "annotations": [], "relations": []},
    "passage": {"infons": {}, "sentences": [], "annotations": [], "relations": []},
    "sentence": {"infons": {}, "annotations": [], "relations": []},
    "annotation": {"infons": {}, "text": None},
    "relation": {"infons": {}, "nodes": []},
}


def _with_defaults(value: Any, kind: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"a BioC {kind} must be a JSON object, got {type(value).__name__}")
    return {**_JSON_DEFAULTS[kind], **value}


def _json_document(document: Any) -> dict[str, Any]:
    """A BioC JSON document with the optional keys filled in, so that `bioc` need not have them."""
    document = _with_defaults(document, "document")
    document["annotations"] = [_with_defaults(a, "annotation") for a in document["annotations"]]
    document["relations"] = [_with_defaults(r, "relation") for r in document["relations"]]
    passages = []
    for passage in document.get("passages", []):
        passage = _with_defaults(passage, "passage")
        passage["annotations"] = [_with_defaults(a, "annotation") for a in passage["annotations"]]
        passage["relations"] = [_with_defaults(r, "relation") for r in passage["relations"]]
        sentences = []
        for sentence in passage["sentences"]:
            sentence = _with_defaults(sentence, "sentence")
            sentence["annotations"] = [_with_defaults(a, "annotation") for a in sentence["annotations"]]
            sentence["relations"] = [_with_defaults(r, "relation") for r in sentence["relations"]]
            sentences.append(sentence)
        passage["sentences"] = sentences
        passages.append(passage)
    document["passages"] = passages
    return document


def _json_line(raw: str, *ids: str | None) -> int | None:
    """The line where `"id": ID` occurs for each id in turn (a document, then an annotation in it)."""
    position = 0
    for identifier in ids:
        if identifier is None:
            continue
        match = re.compile(r'"id"\s*:\s*' + re.escape(json.dumps(identifier))).search(raw, position)
        if match is None:
            return None if position == 0 else raw.count("\n", 0, position) + 1
        position = match.start()
    return raw.count("\n", 0, position) + 1


def _load_bioc_json(path: Path, raw: str):
    from bioc.biocjson import decoder

    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise CorpusFormatError(str(path), error.lineno, f"not valid JSON: {error.msg} (column {error.colno})") from None
    if not isinstance(value, dict) or not isinstance(value.get("documents"), list):
        raise CorpusFormatError(str(path), 1, 'expected a BioC JSON collection: {"documents": [...], ...}')
    collection = decoder.parse_collection({**_with_defaults(value, "collection"), "documents": []})
    for index, document in enumerate(value["documents"]):
        identifier = document.get("id") if isinstance(document, dict) else None
        try:
            collection.add_document(decoder.parse_doc(_json_document(document)))
        except (KeyError, TypeError, ValueError) as error:
            missing = f"no {error} key" if isinstance(error, KeyError) else str(error)
            raise CorpusFormatError(
                str(path), _json_line(raw, str(identifier)) if identifier is not None else None,
                f"document {index + 1} (id {identifier!r}): {missing}; a BioC JSON document needs 'id' and"
                " 'passages', each passage 'offset', each annotation 'id' and 'locations' [{'offset', 'length'}]",
            ) from None
    return collection


def _xml_annotation_line(path: Path, document_index: int, annotation_id: str | None) -> int | None:
    """Line of an annotation (or of the document, without an id) in a BioC XML file, for error messages."""
    from lxml import etree

    documents = etree.parse(str(path)).getroot().findall("document")
    if document_index >= len(documents):
        return None
    document = documents[document_index]
    for element in document.iter("annotation"):
        if element.get("id") == annotation_id:
            return element.sourceline
    return document.sourceline


def _annotations(document) -> Iterator[Any]:
    yield from document.annotations
    for passage in document.passages:
        yield from passage.annotations
        for sentence in passage.sentences:
            yield from sentence.annotations


def _relations(document) -> int:
    return len(document.relations) + sum(
        len(p.relations) + sum(len(s.relations) for s in p.sentences) for p in document.passages
    )


def _passage_pieces(passage) -> list[tuple[int, str]]:
    """A passage's text at its offset, or its sentences' texts where the passage has none."""
    if passage.text is not None:
        return [(passage.offset, passage.text)]
    return [(sentence.offset, sentence.text or "") for sentence in passage.sentences]


def _passage(passage, text: str) -> Passage:
    """The passage with its text (rebuilt from its sentences where it has none of its own)."""
    end = max((start + len(piece) for start, piece in _passage_pieces(passage)), default=passage.offset)
    return Passage(passage.offset, text[passage.offset:end], dict(passage.infons))


def read_bioc_documents(path: str | Path, type_infon: str = "type", with_annotations: bool = True
                        ) -> Iterator[StandoffDocument]:
    """Documents of a BioC XML or JSON file (detected), mentions typed by the `type_infon` infon.

    Offsets are document offsets, as BioC defines them; the text is the passages' texts placed at
    their offsets (gaps become spaces). `with_annotations=False` reads text and passages only.
    """
    path = Path(path)
    kind = bioc_kind(path)
    raw = path.read_text(encoding="utf-8-sig") if kind == "json" else ""
    collection = _load_bioc_json(path, raw) if kind == "json" else _load_bioc_xml(path)

    def line(index: int, document_id: str, annotation_id: str | None) -> int | None:
        if kind == "json":
            return _json_line(raw, document_id, annotation_id)
        return _xml_annotation_line(path, index, annotation_id)

    for index, bioc_document in enumerate(collection.documents):
        doc_id = str(bioc_document.id)
        pieces = [piece for passage in bioc_document.passages for piece in _passage_pieces(passage)]
        try:
            text = assemble_text(pieces)
        except ValueError as error:
            raise CorpusFormatError(str(path), line(index, doc_id, None), f"document {doc_id!r}: passages: {error}") from None
        passages = [_passage(passage, text) for passage in bioc_document.passages]
        document = StandoffDocument(doc_id, text, [(s, s + len(t)) for s, t in pieces if t.strip()],
                                    passages=passages, infons=dict(bioc_document.infons), where=str(path))
        if not with_annotations:
            yield document
            continue
        mentions = []
        for annotation in _annotations(bioc_document):
            entity_type = annotation.infons.get(type_infon)
            if not entity_type:
                raise CorpusFormatError(
                    str(path), line(index, doc_id, annotation.id),
                    f"annotation {annotation.id!r} of document {doc_id!r} has no {type_infon!r} infon"
                    f" (its infons: {sorted(annotation.infons)}); set `type_infon` in the source to the key that"
                    " holds the entity type",
                )
            fragments = tuple((loc.offset, loc.offset + loc.length) for loc in annotation.locations)
            if not fragments or any(length <= 0 for length in (loc.length for loc in annotation.locations)):
                raise CorpusFormatError(str(path), line(index, doc_id, annotation.id),
                                        f"annotation {annotation.id!r} needs locations of positive length")
            mentions.append(Mention(tuple(sorted(fragments)), entity_type, annotation.text, id=annotation.id))
        check_mentions(document, mentions, lambda mention: line(index, doc_id, mention.id))
        document.ignored["relation"] = _relations(bioc_document)
        yield document


# --------------------------------------------------------------------------- examples


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


def read_brat(paths: list[Path], source: str, split: str, report: ReadReport) -> Iterator[Example]:
    """Sentence examples of brat folders or files (every `.txt` needs its `.ann`)."""
    for text_file, ann_file, doc_id in brat_pairs(paths):
        yield from standoff_examples(read_brat_document(text_file, ann_file, doc_id), source, report)


def read_bioc(paths: list[Path], source: str, split: str, report: ReadReport, type_infon: str = "type"
              ) -> Iterator[Example]:
    """Sentence examples of BioC XML/JSON files (or folders of `.xml`/`.json` files)."""
    for file, _ in expand_paths(paths, (".xml", ".json"), "BioC"):
        for document in read_bioc_documents(file, type_infon):
            yield from standoff_examples(document, source, report)
