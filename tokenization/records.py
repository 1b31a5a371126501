"""Readers of record formats (jsonl_nested, hf_token_classification, bigbio_kb) through `datasets`.

Local files and Hub datasets load the same way; a row's error names the file and line where
the rows are JSON lines, else the dataset and row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from .documents import CharEntity, assemble_text, document_examples
from .iob import decode_tags, parse_tag
from .iob_columns import DOCSTART
from .schema import CorpusFormatError, Example, ReadReport, Span
from .sources import SourceConfig, describe_split, local_path
from .textfiles import text_lines

__all__ = ["Records", "open_records", "read_bigbio_kb", "read_hf_token_classification", "read_jsonl_nested"]


@dataclass
class Records:
    """A raw `datasets.Dataset` and how to name one of its rows in an error message."""

    dataset: datasets.Dataset
    where: str
    path: Path | None = None
    _lines: list[int] | None = field(default=None, init=False, repr=False)

    def line(self, row: int) -> int | None:
        """1-based line of `row` in a local JSON-lines file; None where rows are not lines."""
        if self.path is None or self.path.suffix not in (".jsonl", ".json"):
            return None
        if self._lines is None:
            self._lines = [number for number, line in text_lines(self.path) if line.strip()]
            if len(self._lines) != self.dataset.num_rows:  # one JSON document, not JSON lines
                self._lines = []
        return self._lines[row] if self._lines else None

    def error(self, row: int, message: str) -> CorpusFormatError:
        """A format error naming the file and line (or the dataset and row) of `row`."""
        line = self.line(row)
        if line is None:
            return CorpusFormatError(self.where, None, f"row {row + 1}: {message}")
        return CorpusFormatError(self.where, line, message)

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row index, record) pairs, the index kept for error messages."""
        return enumerate(self.dataset)


_LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
_TEXT_BUILDERS = {"json", "csv"}


def open_records(config: SourceConfig, split: str, base_dir: Path | None, cache_dir: str | None) -> Records:
    """The raw split as a `datasets.Dataset`: a local data file or a Hub dataset, the same way."""
    if config.paths:
        path = local_path(config, split, base_dir)
        builder = _LOCAL_BUILDERS.get(path.suffix)
        if builder is None:
            raise ValueError(f"source {config.name!r}: cannot load {path} (expected one of {sorted(_LOCAL_BUILDERS)})")
        if builder in _TEXT_BUILDERS:  # pyarrow reads other encodings without a word and fails on the rows later
            for _ in text_lines(path):
                pass
        try:
            dataset = datasets.load_dataset(builder, data_files={split: str(path)}, split=split, cache_dir=cache_dir)
        except Exception as error:  # pyarrow/datasets wrap parse errors in several types
            bad_line = _first_bad_json_line(path) if builder == "json" else None
            if bad_line is not None:
                raise CorpusFormatError(
                    str(path), bad_line[0], f"expected one JSON object per line: {bad_line[1]}"
                ) from error
            raise CorpusFormatError(
                str(path), None, f"cannot be read as {builder}: {error.__cause__ or error}"
            ) from error
        return Records(dataset, str(path), path)
    hub = config.hub
    if split not in hub.splits:
        raise ValueError(f"source {config.name!r}: no split {split!r} in hub.splits {sorted(hub.splits)}")
    dataset = datasets.load_dataset(
        hub.path, hub.name, split=hub.splits[split], revision=hub.revision, cache_dir=cache_dir
    )
    return Records(dataset, describe_split(config, split, base_dir))


def _first_bad_json_line(path: Path) -> tuple[int, str] | None:
    """The first line of a JSON-lines file that is not a JSON object, to name it in the error."""
    if path.suffix != ".jsonl":
        return None
    for number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            return number, str(error)
        if not isinstance(value, dict):
            return number, f"got {type(value).__name__}"
    return None


def _require(records: Records, row: int, record: dict[str, Any], key: str) -> Any:
    value = record.get(key)
    if value is None:
        raise records.error(row, f"missing {key!r}")
    return value


def _check_tokens(records: Records, row: int, tokens: Any) -> list[str]:
    if not isinstance(tokens, list) or not all(isinstance(token, str) and token.strip() for token in tokens):
        raise records.error(row, f"'tokens' must be a list of non-empty strings, got {tokens!r:.80}")
    return tokens


def read_jsonl_nested(records: Records, source: str, split: str, report: ReadReport) -> Iterator[Example]:
    """Sentences with (possibly nested) word-span mentions: `tokens`, `entity_mentions`, `doc_id`."""
    if records.dataset.num_rows and "tokens" not in records.dataset.column_names:
        raise CorpusFormatError(records.where, None, f"no 'tokens' field (columns: {records.dataset.column_names})")
    for row, record in records.rows():
        tokens = _check_tokens(records, row, _require(records, row, record, "tokens"))
        if not tokens:
            report.note("empty", f"{records.where} row {row + 1}")
            continue
        spans = []
        for mention in record.get("entity_mentions") or []:
            start, end, entity_type = mention.get("start"), mention.get("end"), mention.get("entity_type")
            if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(tokens):
                raise records.error(
                    row,
                    f"mention [{start}:{end}] must satisfy 0 <= start"
                    f" < end <= {len(tokens)} (the sentence length)"
                )
            if not entity_type:
                raise records.error(row, f"mention [{start}:{end}] has no 'entity_type'")
            spans.append(Span(start, end, entity_type))
        yield Example(list(tokens), spans, source, record.get("doc_id") or f"{source}:{split}")


def _tag_names(records: Records, config: SourceConfig) -> list[str] | None:
    """Names of integer tags: the ClassLabel's names, else `label_names`; None for string tags."""
    feature = records.dataset.features.get(config.tags_column)
    if feature is None:
        raise CorpusFormatError(
            records.where, None, f"no {config.tags_column!r} column (columns: {records.dataset.column_names})"
        )
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.ClassLabel):
        return list(config.label_names or inner.names)
    if isinstance(inner, datasets.Value) and inner.dtype == "string":
        return None
    if config.label_names:
        return list(config.label_names)
    raise CorpusFormatError(
        records.where, None, f"{config.tags_column!r} holds {feature} without tag names: give `label_names`"
    )


def read_hf_token_classification(
    records: Records, config: SourceConfig, split: str, report: ReadReport
) -> Iterator[Example]:
    """Sentences of a token-classification dataset: `tokens` + BIO `ner_tags` (ClassLabel or strings)."""
    names = _tag_names(records, config)
    document = 0
    for row, record in records.rows():
        tokens = _check_tokens(records, row, _require(records, row, record, config.tokens_column))
        labels = _require(records, row, record, config.tags_column)
        if tokens == [DOCSTART]:
            document += 1
            continue
        if len(labels) != len(tokens):
            raise records.error(row, f"{len(tokens)} tokens but {len(labels)} tags")
        if not tokens:
            report.note("empty", f"{records.where} row {row + 1}")
            continue
        try:
            tags = [parse_tag(names[label] if names is not None else label) for label in labels]
        except (ValueError, IndexError, TypeError) as error:
            raise records.error(row, f"bad tag in {labels!r:.80}: {error}") from None
        spans, repaired = decode_tags(tags)
        report.note("iob_repaired", f"{records.where} row {row + 1}" if repaired else None, count=repaired)
        doc_id = record.get("document_id") or record.get("doc_id") or f"{config.name}:{split}:{document}"
        yield Example(list(tokens), spans, config.name, str(doc_id))


def _bigbio_text(records: Records, row: int, passages: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """The document text rebuilt from passages at their offsets (gaps become spaces), and the pieces."""
    pieces: list[tuple[int, str]] = []
    for passage in passages:
        texts, offsets = passage.get("text") or [], passage.get("offsets") or []
        if len(texts) != len(offsets):
            raise records.error(
                row, f"passage {passage.get('id')!r} has {len(texts)} texts but {len(offsets)} offsets"
            )
        for piece, (start, end) in zip(texts, offsets):
            if not 0 <= start <= end or end - start != len(piece):
                raise records.error(
                    row,
                    f"passage {passage.get('id')!r}: offsets [{start}:{end}]"
                    f" do not fit its text of length {len(piece)}"
                )
            pieces.append((start, piece))
    try:
        text = assemble_text(pieces)
    except ValueError as error:
        raise records.error(row, f"passages: {error}") from None
    return text, [(start, start + len(piece)) for start, piece in pieces]


def read_bigbio_kb(records: Records, source: str, split: str, report: ReadReport) -> Iterator[Example]:
    """Sentence examples of a BigBio KB-schema dataset (`passages` + char-offset `entities`)."""
    for row, record in records.rows():
        doc_id = str(record.get("document_id") or record.get("id") or f"{source}:{split}:{row}")
        text, regions = _bigbio_text(records, row, _require(records, row, record, "passages"))
        entities = []
        for entity in record.get("entities") or []:
            offsets = entity.get("offsets") or []
            if not offsets or not entity.get("type"):
                raise records.error(
                    row, f"entity {entity.get('id')!r} needs 'type' and at least one [start, end] offset"
                )
            start, end = min(s for s, _ in offsets), max(e for _, e in offsets)
            if not 0 <= start < end <= len(text):
                raise records.error(
                    row, f"entity {entity.get('id')!r} [{start}:{end}] outside the document text (length {len(text)})"
                )
            stated = entity.get("text") or []
            if len(stated) == len(offsets) and any(text[s:e] != piece for (s, e), piece in zip(offsets, stated)):
                report.note("mismatch", f"{doc_id}: {stated!r} vs text {[text[s:e] for s, e in offsets]!r}")
                continue
            if len(offsets) > 1:
                report.note("discontinuous", f"{doc_id}: {stated!r} -> {text[start:end]!r}")
            entities.append(CharEntity(start, end, entity["type"]))
        if not regions:
            report.note("empty", doc_id)
            continue
        yield from document_examples(text, regions, entities, source=source, doc_id=doc_id, report=report)
