"""Output records of tag.py (JSON lines, PubTator): written one document at a time, read back to resume."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from srunear.tag_inputs import Document, TaggingError, check_format

__all__ = ["RECORD_OUTPUTS", "check_id", "format_record", "read_records", "recover_output"]

RECORD_OUTPUTS = ("jsonl", "pubtator")  # appended record by record
_BREAKS = str.maketrans({"\r": " ", "\n": " ", "\t": " "})


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
    check_format(output_format, RECORD_OUTPUTS, "record")
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
    check_format(output_format, RECORD_OUTPUTS, "record")
    read = _jsonl_records if output_format == "jsonl" else _pubtator_records
    return read(path, path.read_bytes())


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
