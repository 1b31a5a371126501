"""BioC collections (XML or JSON) read through `bioc`, every failure named by file and line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .documents import assemble_text
from .schema import CorpusFormatError, Example, ReadReport
from .standoff import Mention, Passage, StandoffDocument, check_mentions, expand_paths, standoff_examples

__all__ = ["bioc_kind", "read_bioc", "read_bioc_documents"]


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



def read_bioc(paths: list[Path], source: str, split: str, report: ReadReport, type_infon: str = "type"
              ) -> Iterator[Example]:
    """Sentence examples of BioC XML/JSON files (or folders of `.xml`/`.json` files)."""
    for file, _ in expand_paths(paths, (".xml", ".json"), "BioC"):
        for document in read_bioc_documents(file, type_infon):
            yield from standoff_examples(document, source, report)
