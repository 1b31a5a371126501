"""Tag many documents with a saved SRU-NER model: resumable, shardable; JSON lines, PubTator, brat, BioC or HTML out.

    python tag.py MODEL_DIR INPUT... --output OUT [--format jsonl|pubtator|brat|bioc-xml|bioc-json|html]
                  [--input-format auto|text|jsonl|pubtator|bioc|brat] [--lines] [--threshold X] [--batch-size N] [--debug]

Everything that can be checked without the model is checked before it is loaded: the
options, the model folder's type, that the output can be written, and every input document
(ids, format, encoding). Progress is counted in characters, so a single long document
shows how far it has got.

Inputs are plain-text files (one document per file, or one per non-blank line with ``--lines``;
the id is the file stem, or ``stem:line``), JSON lines (``{"id": ..., "text": ...}``; the keys
are configurable), PubTator files (title and abstract; the text is ``title + " " + abstract``),
BioC XML or JSON collections (the passages at their offsets; annotations already there are not
read) or brat folders (every ``.txt`` below the folder; the id is its path below it without
``.txt``). Every entity's ``start``/``end`` are character offsets into that document text.

Documents go to the pipeline a few batches at a time (it orders a group's sentences by length,
so batches carry little padding); output is appended one document at a time and flushed as its
group finishes, so a run that is stopped (Ctrl-C, a killed job) loses at most the group in
progress and can simply be started again with the same arguments: documents already complete
in the output are skipped, and a record cut off half-way is removed before appending. Document
ids must therefore be unique across the inputs (checked before anything is tagged).

Several processes (``accelerate launch tag.py ...``, or ``--num-shards K --shard-index I`` by
hand) each tag the documents whose input position ``n`` has ``n % K == I`` into their own file
``OUT.partI-of-K`` (resumable on its own). When every part is complete, the parts are merged
into ``OUT`` in input order: by the main process under accelerate, otherwise by whichever
process finishes last. The part files are kept, so re-running a finished job only re-merges.

Output formats (brat, BioC and HTML are written from a JSON lines journal, ``OUT.records.jsonl``,
which is what is resumed and sharded; the output is written from it, atomically, once every
document is tagged):

* ``jsonl``: one ``{"id", "text", "entities": [{entity_group, score, word, start, end}]}`` per line.
* ``pubtator``: ``ID|t|title``, ``ID|a|abstract``, then ``ID<TAB>start<TAB>end<TAB>mention<TAB>type<TAB>score``
  per entity and a blank line. A document that did not come from PubTator is written with its
  whole text as the title and an empty abstract. Line breaks and tabs are written as spaces
  (in titles, abstracts and mentions alike), which keeps every offset valid and every mention
  equal to its slice of the written text.
* ``brat``: ``OUT`` is a folder with ``ID.txt`` (the text, unchanged) and ``ID.ann`` (a T line per
  entity, its score as an ``AnnotatorNotes`` note) per document.
* ``bioc-xml`` / ``bioc-json``: one BioC collection; each document keeps its BioC passages (PubTator
  input: title and abstract; other input: one passage), each entity an annotation with infons
  ``type`` and ``score`` and its document offset.
* ``html``: one self-contained page, the documents one after another under a legend of types
  with counts (see ``srunear.display``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srunear.cli import add_debug_flag, command_line
from tokenization.textfiles import not_utf8_error

__all__ = [
    "Document",
    "TagResult",
    "TaggingError",
    "detect_input_format",
    "format_record",
    "main",
    "merge_parts",
    "part_path",
    "read_documents",
    "read_records",
    "recover_output",
    "tag_files",
]

INPUT_FORMATS = ("auto", "text", "jsonl", "pubtator", "bioc", "brat")
RECORD_OUTPUTS = ("jsonl", "pubtator")  # appended record by record
OUTPUT_FORMATS = (*RECORD_OUTPUTS, "brat", "bioc-xml", "bioc-json", "html")  # the others: written from a journal
_PUBTATOR_HEADER = re.compile(r"^[^\t|]+\|[ta]\|")
_BREAKS = str.maketrans({"\r": " ", "\n": " ", "\t": " "})


class TaggingError(ValueError):
    """A problem with the inputs, the output file or the options, explained for the user."""


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


@dataclass
class TagResult:
    """What a call of ``tag_files`` did."""

    output: Path  # the file this process wrote (OUT, or its part file when sharded)
    total: int  # documents in this process's shard
    skipped: int  # already complete in the output (resumed)
    tagged: int  # tagged now
    merged: bool = False  # whether this process wrote the merged OUT
    exported: bool = False  # whether this process wrote a brat, BioC or HTML output from the journal


# --------------------------------------------------------------------------- reading inputs


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


def _pubtator_passages(document: Document) -> tuple:
    """Title and abstract as BioC passages, so that BioC output keeps PubTator's offsets."""
    from tokenization.standoff import Passage

    title = document.title or ""
    return (Passage(0, title, {"type": "title"}), Passage(len(title) + 1, document.abstract or "", {"type": "abstract"}))


def _read_bioc(path: Path) -> Iterator[Document]:
    from tokenization.standoff import read_bioc_documents

    _open_text(path).close()  # the same clear error as the other formats for a missing file
    for document in read_bioc_documents(path, with_annotations=False):
        yield Document(document.id, document.text, where=f"{path} (document {document.id})",
                       passages=tuple(document.passages), infons=dict(document.infons))


def _read_brat(path: Path) -> Iterator[Document]:
    from tokenization.standoff import brat_pairs, read_brat_text

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
    if input_format not in INPUT_FORMATS:
        raise TaggingError(f"input format must be one of {INPUT_FORMATS}, got {input_format!r}")
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


# --------------------------------------------------------------------------- writing records


def check_id(identifier: str, output_format: str, where: str = "") -> None:
    """Ids must be non-empty, and a PubTator id cannot hold '|', tabs or line breaks."""
    location = f"{where}: " if where else ""
    if not identifier:
        raise TaggingError(f"{location}empty document id")
    if output_format == "pubtator" and any(c in identifier for c in "|\t\r\n"):
        raise TaggingError(f"{location}document id {identifier!r} cannot be written as PubTator ('|', tab or line break)")
    if output_format == "brat":
        from srunear.exports import check_brat_id

        problem = check_brat_id(identifier)
        if problem:
            raise TaggingError(f"{location}document id {identifier!r}: {problem}")


def format_record(document: Document, entities: Iterable[dict[str, Any]], output_format: str) -> bytes:
    """One complete output record (ending with its terminator) as UTF-8 bytes."""
    entities = list(entities)
    if output_format == "jsonl":
        record = {"id": document.id, "text": document.text, "entities": entities}
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    if output_format != "pubtator":
        raise TaggingError(f"record format must be one of {RECORD_OUTPUTS}, got {output_format!r}")
    if document.title is not None:
        title, abstract = document.title, document.abstract or ""
    else:
        title, abstract = document.text, ""
    lines = [f"{document.id}|t|{title.translate(_BREAKS)}", f"{document.id}|a|{abstract.translate(_BREAKS)}"]
    for entity in entities:
        mention = str(entity["word"]).translate(_BREAKS)
        entity_type = str(entity["entity_group"]).translate(_BREAKS)
        lines.append(f"{document.id}\t{entity['start']}\t{entity['end']}\t{mention}\t{entity_type}\t{entity['score']:.4f}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


# --------------------------------------------------------------------------- reading outputs back


def _jsonl_records(path: Path, data: bytes) -> tuple[dict[str, bytes], int]:
    records: dict[str, bytes] = {}
    position, number = 0, 0
    while (newline := data.find(b"\n", position)) >= 0:
        number += 1
        line = data[position : newline + 1]
        if line.strip():
            try:
                record = json.loads(line)
                identifier = record["id"]
            except (ValueError, TypeError, KeyError):
                raise TaggingError(
                    f"{path}:{number}: not a JSON lines record written by tag.py; "
                    "choose another --output or remove this file"
                ) from None
            _add_record(records, str(identifier), line, path, number)
        position = newline + 1
    return records, position


def _pubtator_records(path: Path, data: bytes) -> tuple[dict[str, bytes], int]:
    records: dict[str, bytes] = {}
    position, number, block, block_start, block_line = 0, 0, [], 0, 0
    while (newline := data.find(b"\n", position)) >= 0:
        number += 1
        line = data[position:newline].rstrip(b"\r")
        if line.strip():
            if not block:
                block_start, block_line = position, number
            block.append(line)
        elif block:
            identifier = _pubtator_block_id(block, path, block_line)
            _add_record(records, identifier, data[block_start : newline + 1], path, block_line)
            block = []
        position = newline + 1
    # a block without its closing blank line is incomplete: keep only up to the last full one
    valid = block_start if block else position
    return records, valid


def _pubtator_block_id(block: list[bytes], path: Path, line: int) -> str:
    try:
        lines = [raw.decode("utf-8") for raw in block]
    except UnicodeDecodeError:
        lines = []
    identifier = lines[0].partition("|")[0] if lines else ""
    well_formed = (
        len(lines) >= 2
        and identifier
        and lines[0].startswith(f"{identifier}|t|")
        and lines[1].startswith(f"{identifier}|a|")
        and all(rest.startswith(f"{identifier}\t") for rest in lines[2:])
    )
    if not well_formed:
        raise TaggingError(
            f"{path}:{line}: not a PubTator record written by tag.py; choose another --output or remove this file"
        )
    return identifier


def _add_record(records: dict[str, bytes], identifier: str, record: bytes, path: Path, line: int) -> None:
    if identifier in records:
        raise TaggingError(f"{path}:{line}: document {identifier!r} is already in this file; it is not a tag.py output")
    records[identifier] = record


def read_records(path: str | Path, output_format: str) -> tuple[dict[str, bytes], int]:
    """Complete records of an output file (id -> bytes, in file order) and the byte length they
    cover; anything after that length is an incomplete last record. Never modifies the file."""
    path = Path(path)
    if not path.exists():
        return {}, 0
    data = path.read_bytes()
    if output_format == "jsonl":
        return _jsonl_records(path, data)
    if output_format == "pubtator":
        return _pubtator_records(path, data)
    raise TaggingError(f"record format must be one of {RECORD_OUTPUTS}, got {output_format!r}")


def recover_output(path: str | Path, output_format: str) -> dict[str, bytes]:
    """Records already complete in ``path``, after cutting off an incomplete last record.

    Creates an empty file when there is none, so that a shard without documents is visibly done.
    """
    path = Path(path)
    records, valid = read_records(path, output_format)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    elif path.stat().st_size > valid:
        with path.open("r+b") as handle:
            handle.truncate(valid)
        print(f"{path}: removed an incomplete last record ({path.stat().st_size} bytes kept)", file=sys.stderr)
    return records


GROUP_BATCHES = 4  # documents are handed to the pipeline this many batches at a time

# --------------------------------------------------------------------------- shards


def part_path(output: str | Path, shard_index: int, num_shards: int) -> Path:
    """The file shard ``shard_index`` of ``num_shards`` writes: ``OUT.partI-of-K``."""
    output = Path(output)
    return output.with_name(f"{output.name}.part{shard_index}-of-{num_shards}")


def share_cores(count: int, device: Any) -> None:
    """Shards on one machine's CPU split its cores: K processes each using every core would
    oversubscribe it K times (unless the user chose with OMP_NUM_THREADS)."""
    import torch

    if count <= 1 or getattr(device, "type", "cpu") != "cpu" or "OMP_NUM_THREADS" in os.environ:
        return
    local = int(os.environ.get("LOCAL_WORLD_SIZE", count))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(local, 1)))


def _resolve_shards(num_shards: int | None, shard_index: int | None) -> tuple[int, int, Any]:
    """(index, count, accelerate state or None); explicit values win over accelerate's."""
    if (num_shards is None) != (shard_index is None):
        raise TaggingError("give both --num-shards and --shard-index, or neither")
    if num_shards is not None:
        if num_shards < 1 or not 0 <= shard_index < num_shards:
            raise TaggingError(f"need num_shards >= 1 and 0 <= shard_index < num_shards, got {shard_index} of {num_shards}")
        return shard_index, num_shards, None
    try:
        from accelerate import PartialState
        from accelerate.utils import parse_flag_from_env
    except ImportError:
        return 0, 1, None
    import torch

    # PartialState only joins CPU processes into one group when told to (accelerate --cpu does so).
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())
    if state.num_processes <= 1:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise TaggingError(
                "started as one of several processes but accelerate sees only one; "
                "give --num-shards and --shard-index so that they do not all write the same output"
            )
        return 0, 1, None
    return state.process_index, state.num_processes, state


def merge_parts(output: str | Path, ids: Sequence[str], num_shards: int, output_format: str) -> bool:
    """Write ``output`` from its part files in the order of ``ids`` once every part is complete.

    Returns False (and writes nothing) while some document is still missing. The merged file
    is written beside ``output`` and renamed over it, so it is never seen half-written.
    """
    output = Path(output)
    records: dict[str, bytes] = {}
    for index in range(num_shards):
        records.update(read_records(part_path(output, index, num_shards), output_format)[0])
    if any(identifier not in records for identifier in ids):
        return False
    temporary = output.with_name(f".{output.name}.merging-{os.getpid()}")
    with temporary.open("wb") as handle:
        for identifier in ids:
            handle.write(records[identifier])
    os.replace(temporary, output)
    return True


# --------------------------------------------------------------------------- tagging


def _infer_output_format(output: Path) -> str:
    """From the output name: .pubtator, .xml (BioC XML), .bioc.json (BioC JSON), .html; else JSON lines."""
    name = output.name.lower()
    if ".pubtator" in name:
        return "pubtator"
    for suffix, output_format in ((".xml", "bioc-xml"), (".bioc.json", "bioc-json"), (".html", "html"), (".htm", "html")):
        if name.endswith(suffix):
            return output_format
    return "jsonl"


def journal_path(output: str | Path) -> Path:
    """The JSON lines file that brat, BioC and HTML outputs are tagged into (and resumed from)."""
    output = Path(output)
    return output.with_name(f"{output.name}.records.jsonl")


def export_documents(output: Path, output_format: str, documents: Iterable[Document], records: dict[str, bytes]) -> int:
    """Write ``output`` as brat, BioC or HTML from the journal's records, in input order."""
    from srunear.exports import TaggedDocument, atomic_write_text, write_bioc, write_brat

    def tagged() -> Iterator[TaggedDocument]:
        for document in documents:
            entities = json.loads(records[document.id])["entities"]
            passages = document.passages or (_pubtator_passages(document) if document.title is not None else ())
            yield TaggedDocument(document.id, document.text, entities, passages, document.infons)

    if output_format == "brat":
        if output.exists() and not output.is_dir():
            raise TaggingError(f"brat output {output} is a file; give a folder")
        return write_brat(output, tagged())
    if output_format in ("bioc-xml", "bioc-json"):
        return write_bioc(output, tagged(), output_format.split("-")[1])
    from srunear.display import render_page

    items = [(item.id, item.text, item.entities) for item in tagged()]
    atomic_write_text(output, render_page(items, title=f"srunear: {output.stem}"))
    return len(items)


def check_writable(path: Path) -> None:
    """Fail now, not after the model is loaded, when ``path`` cannot be appended to (a trial leaves no file)."""
    if path.is_dir():
        raise TaggingError(f"the output {path} is a folder; give a file name")
    try:
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):
            pass
        if not existed:
            path.unlink()
    except OSError as error:
        raise TaggingError(f"cannot write the output {path}: {error.strerror or error}") from None


def check_model_folder(model: Any, entity_types: Sequence[str] | None) -> None:
    """The folder must hold an SRU-NER model that predicts ``entity_types``: read from its config, not loaded."""
    from modeling_srunear.pipeline_srunear import check_entity_types

    from srunear.loading import check_model_type

    if isinstance(model, (str, os.PathLike)):
        config = check_model_type(model)
        if entity_types is not None:
            check_entity_types(entity_types, config.get("entity_types") or [])


def _load_pipeline(model: Any, device: Any, trust_remote_code: bool):
    import modeling_srunear  # noqa: F401  (registers the "srunear-ner" task)
    from transformers import AutoTokenizer, pipeline

    from srunear.loading import load_model

    if not isinstance(model, (str, os.PathLike)):
        return model  # already a pipeline
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if trust_remote_code:  # the folder's own code builds the model
        return pipeline("srunear-ner", model=str(model), device=device, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    return pipeline("srunear-ner", model=load_model(model), tokenizer=tokenizer, device=device)


def _reports_progress(ner: Any) -> bool:
    """Whether the pipeline takes a ``progress`` callback (an older saved pipeline may not)."""
    import inspect

    return "progress" in inspect.signature(ner._sanitize_parameters).parameters


def _check_text(document: Document) -> None:
    from modeling_srunear.pipeline_srunear import check_encodable

    try:
        check_encodable(document.text)
    except ValueError as error:
        raise TaggingError(f"{document.where}: {error}") from None


def tag_files(
    model: Any,
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    output_format: str | None = None,
    input_format: str = "auto",
    lines: bool = False,
    id_key: str = "id",
    text_key: str = "text",
    batch_size: int | None = None,
    threshold: float | None = None,
    entity_types: Sequence[str] | None = None,
    return_sources: bool = False,
    num_shards: int | None = None,
    shard_index: int | None = None,
    device: Any = None,
    trust_remote_code: bool = False,
    progress: bool = True,
) -> TagResult:
    """Tag every document of ``inputs`` into ``output``, resuming what is already there.

    ``model`` is a model folder (or Hub id) or an ``srunear-ner`` pipeline. ``output_format``
    defaults to ``pubtator`` when the output name contains ``.pubtator``, else ``jsonl``.
    Without ``num_shards``/``shard_index``, an ``accelerate launch`` provides them.
    """
    output = Path(output)
    output_format = output_format or _infer_output_format(output)
    if output_format in RECORD_OUTPUTS:
        records_path, record_format = output, output_format
    else:
        records_path, record_format = journal_path(output), "jsonl"
    if output_format not in OUTPUT_FORMATS:
        raise TaggingError(f"output format must be one of {OUTPUT_FORMATS}, got {output_format!r}")
    if not inputs:
        raise TaggingError("no input files given")
    if batch_size is not None and batch_size < 1:
        raise TaggingError(f"batch size must be at least 1, got {batch_size}")
    if threshold is not None:
        from modeling_srunear.pipeline_srunear import check_threshold

        check_threshold(threshold)
    index, count, state = _resolve_shards(num_shards, shard_index)
    target = records_path if count == 1 else part_path(records_path, index, count)
    check_writable(target)
    if records_path != output:
        check_writable(output)

    def documents() -> Iterator[Document]:
        return read_documents(inputs, input_format, lines, id_key, text_key)

    # First pass: validate every input and fix the order, before any model is loaded.
    ids: list[str] = []
    seen: dict[str, str] = {}
    characters: dict[str, int] = {}
    for document in documents():
        check_id(document.id, output_format, document.where)
        _check_text(document)
        if document.id in seen:
            raise TaggingError(
                f"document id {document.id!r} appears twice ({seen[document.id]} and {document.where}); ids must be "
                "unique so that an interrupted run can resume: rename the files or give the records distinct ids"
            )
        seen[document.id] = document.where
        ids.append(document.id)
        characters[document.id] = len(document.text)
    check_model_folder(model, entity_types)

    mine = ids[index::count]
    done = recover_output(target, record_format)
    mine_set = set(mine)
    foreign = [identifier for identifier in done if identifier not in mine_set]
    if foreign:
        raise TaggingError(
            f"{target} holds documents that are not among the inputs (e.g. {foreign[0]!r}); "
            "it belongs to another run: choose another --output or remove it"
        )
    todo = len(mine) - len(done)
    result = TagResult(output=target, total=len(mine), skipped=len(done), tagged=0)

    if todo:
        ner = _load_pipeline(model, device if device is not None or state is None else state.device, trust_remote_code)
        share_cores(count, ner.device)
        from modeling_srunear.pipeline_srunear import DEFAULT_BATCH_SIZE

        call_options: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
        if threshold is not None:
            call_options["threshold"] = threshold
        if entity_types is not None:
            call_options["entity_types"] = entity_types  # a string is one type
        if return_sources:
            call_options["return_sources"] = True  # JSON lines keep each entity's "sources"
        pending: deque[Document] = deque()

        def groups() -> Iterator[list[str]]:
            """The documents to tag, a few batches' worth at a time: the pipeline orders each group's
            sentences by length (little padding), and each finished group is written before the next."""
            group: list[str] = []
            for position, document in enumerate(documents()):
                if position % count == index and document.id not in done:
                    pending.append(document)
                    group.append(document.text)
                    if len(group) == GROUP_BATCHES * (batch_size or DEFAULT_BATCH_SIZE):
                        yield group
                        group = []
            if group:
                yield group

        from tqdm.auto import tqdm

        description = "tagging" if count == 1 else f"tagging shard {index + 1}/{count}"
        with target.open("ab") as handle, tqdm(
            total=sum(characters[i] for i in mine), initial=sum(characters[i] for i in done), unit="char",
            unit_scale=True, desc=description, position=index if count > 1 else None, disable=not progress,
            file=sys.stderr,
        ) as bar:
            by_chunk = _reports_progress(ner)
            if by_chunk:
                call_options["progress"] = bar.update
            for group in groups():
                for entities in ner(group, **call_options):
                    document = pending.popleft()
                    handle.write(format_record(document, entities, record_format))
                    handle.flush()
                    result.tagged += 1
                    bar.set_postfix(docs=f"{result.skipped + result.tagged}/{result.total}", refresh=False)
                    if not by_chunk:
                        bar.update(len(document.text))

    if count > 1:
        if state is not None:
            state.wait_for_everyone()
            if state.is_main_process:
                result.merged = merge_parts(records_path, ids, count, record_format)
        else:
            result.merged = merge_parts(records_path, ids, count, record_format)
            if not result.merged and progress:
                print(f"shard {index} of {count} is complete; {output} will be written when the other shards finish",
                      file=sys.stderr)
    if output_format not in RECORD_OUTPUTS and (count == 1 or result.merged):
        export_documents(output, output_format, documents(), read_records(records_path, record_format)[0])
        result.exported = True
    return result


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tag.py",
        description="Tag documents with a saved SRU-NER model (resumable; shards under accelerate launch).",
    )
    parser.add_argument("model", metavar="MODEL_DIR", help="saved model folder (or Hub id)")
    parser.add_argument("inputs", metavar="INPUT", nargs="+", help="text, JSON lines, PubTator or BioC files, or brat folders")
    parser.add_argument("--output", "-o", required=True, help="output file (brat: folder); resumable")
    parser.add_argument("--format", choices=OUTPUT_FORMATS,
                        help="output format (default from OUT: .pubtator, .xml = bioc-xml, .bioc.json = bioc-json, .html; else jsonl)")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default="auto", help="default: from each file's name and first line")
    parser.add_argument("--lines", action="store_true", help="plain text: one document per non-blank line (id stem:line)")
    parser.add_argument("--id-key", default="id", help="JSON lines: key of the document id (default: id; absent: stem:line)")
    parser.add_argument("--text-key", default="text", help="JSON lines: key of the document text (default: text)")
    parser.add_argument("--batch-size", type=int, help="sentences per forward pass (default: the pipeline's, 32)")
    parser.add_argument("--threshold", type=float, help="keep entities scoring at least this")
    parser.add_argument("--entity-types", nargs="+", metavar="TYPE", help="keep only these entity types")
    parser.add_argument("--sources", action="store_true",
                        help="JSON lines: add each entity's training sources whose heads found it, with their scores")
    parser.add_argument("--num-shards", type=int, help="split the documents into K shards (default: accelerate's process count)")
    parser.add_argument("--shard-index", type=int, help="the shard this process tags (default: accelerate's process index)")
    parser.add_argument("--device", help="e.g. cpu, cuda, cuda:1 (default: accelerate's device, else cuda if available)")
    parser.add_argument("--trust-remote-code", action="store_true", help="run the model folder's own code (without this package's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_debug_flag(parser)
    return parser.parse_args(argv)


@command_line
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = tag_files(
        args.model, args.inputs, args.output, output_format=args.format, input_format=args.input_format,
        lines=args.lines, id_key=args.id_key, text_key=args.text_key, batch_size=args.batch_size,
        threshold=args.threshold, entity_types=args.entity_types, return_sources=args.sources, num_shards=args.num_shards,
        shard_index=args.shard_index, device=args.device, trust_remote_code=args.trust_remote_code,
        progress=not args.no_progress,
    )
    print(
        f"{result.output}: {result.tagged} documents tagged, {result.skipped} already done, {result.total} in all"
        + (f"; merged into {args.output}" if result.merged else "")
        + (f"; wrote {args.output}" if result.exported else ""),
        file=sys.stderr,
    )
    return 0
