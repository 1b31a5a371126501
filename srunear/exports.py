"""Write tagged documents as brat standoff or BioC (XML or JSON), through the `bioc` package.

Entities are the pipeline's dicts (`entity_group`, `score`, `word`, `start`, `end`, character
offsets into the document text). brat gets one `.txt` (the text, unchanged, so offsets hold) and
one `.ann` per document, each score as an `AnnotatorNotes` note; BioC gets one collection with
every document's passages and an annotation per entity (infons `type` and `score`), placed in
the passage that holds it. Every file is written beside its target and renamed over it, so a
reader never sees one half-written.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srunear.files import atomic_write
from tokenization.standoff import Passage

__all__ = ["TaggedDocument", "bioc_collection", "brat_ann", "check_brat_id", "write_bioc", "write_brat"]

_BRAT_TEXT = str.maketrans({"\r": " ", "\n": " ", "\t": " "})


@dataclass
class TaggedDocument:
    """A document and the entities found in it; `passages` as read (one passage of the whole text if empty)."""

    id: str
    text: str
    entities: Sequence[Mapping[str, Any]]
    passages: Sequence[Passage] = ()
    infons: Mapping[str, str] = field(default_factory=dict)


def brat_ann(document: TaggedDocument) -> str:
    """The `.ann` text: a T line per entity (line breaks in mentions as spaces) and its score as a note."""
    from bioc.brat import BratDocument, BratEntity, BratNote, dumps_ann

    brat = BratDocument()
    for number, entity in enumerate(document.entities, 1):
        mention = BratEntity()
        mention.id, mention.type = f"T{number}", str(entity["entity_group"]).translate(_BRAT_TEXT).replace(" ", "_")
        mention.text = document.text[entity["start"] : entity["end"]].translate(_BRAT_TEXT)
        mention.add_span(int(entity["start"]), int(entity["end"]))
        brat.add_annotation(mention)
        if entity.get("score") is not None:
            note = BratNote()
            note.id, note.type, note.refid, note.text = f"#{number}", "AnnotatorNotes", mention.id, f"score {entity['score']:.4f}"
            brat.add_annotation(note)
    return dumps_ann(brat)


def check_brat_id(identifier: str) -> str | None:
    """Why `identifier` cannot name a file below the output folder, or None when it can."""
    parts = identifier.split("/")
    if "\\" in identifier or "\0" in identifier or any(part in ("", ".", "..") for part in parts):
        return "brat output names files after document ids: no empty, '.' or '..' path parts, no backslash"
    if parts[-1].startswith("."):
        return "brat output names files after document ids: a hidden file name (starting with '.') is not allowed"
    return None


def write_brat(folder: str | Path, documents: Iterable[TaggedDocument]) -> int:
    """`ID.txt` and `ID.ann` for every document under `folder` (ids may hold `/` for subfolders)."""
    folder = Path(folder)
    count = 0
    for document in documents:
        problem = check_brat_id(document.id)
        if problem:
            raise ValueError(f"document id {document.id!r}: {problem}")
        atomic_write(folder / f"{document.id}.txt", document.text)
        atomic_write(folder / f"{document.id}.ann", brat_ann(document))
        count += 1
    return count


def _bioc_document(document: TaggedDocument):
    import bioc

    result = bioc.BioCDocument()
    result.id = document.id
    result.infons = dict(document.infons)
    passages = []
    for passage in document.passages or [Passage(0, document.text)]:
        bioc_passage = bioc.BioCPassage()
        bioc_passage.offset, bioc_passage.text, bioc_passage.infons = passage.offset, passage.text, dict(passage.infons)
        result.add_passage(bioc_passage)
        passages.append(bioc_passage)
    for number, entity in enumerate(document.entities, 1):
        start, end = int(entity["start"]), int(entity["end"])
        annotation = bioc.BioCAnnotation()
        annotation.id = f"T{number}"
        annotation.infons = {"type": str(entity["entity_group"])}
        if entity.get("score") is not None:
            annotation.infons["score"] = f"{entity['score']:.4f}"
        annotation.text = document.text[start:end]
        annotation.add_location(bioc.BioCLocation(start, end - start))
        holder = next((p for p in passages if p.offset <= start and end <= p.offset + len(p.text)), result)
        holder.add_annotation(annotation)
    return result


def bioc_collection(documents: Iterable[TaggedDocument], source: str = "srunear"):
    """A `bioc.BioCCollection` of the documents, annotations at document offsets (as BioC defines them)."""
    import bioc

    collection = bioc.BioCCollection()
    collection.source, collection.date, collection.key = source, datetime.date.today().isoformat(), "srunear.key"
    for document in documents:
        collection.add_document(_bioc_document(document))
    return collection


def write_bioc(path: str | Path, documents: Iterable[TaggedDocument], kind: str) -> int:
    """Write one BioC collection (`kind`: "xml" or "json") atomically; returns the number of documents."""
    from bioc import biocjson, biocxml

    collection = bioc_collection(documents)
    if kind == "xml":
        text = biocxml.dumps(collection)
    elif kind == "json":
        text = biocjson.dumps(collection, indent=2, ensure_ascii=False) + "\n"
    else:
        raise ValueError(f"BioC kind must be 'xml' or 'json', got {kind!r}")
    atomic_write(Path(path), text)
    return len(collection.documents)
