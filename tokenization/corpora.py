"""Read NER corpora of several formats into one example schema (see `schema.py`).

A source is described by a plain dict (as found in a YAML training config):

    name: ncbi_disease              # also the `source` of every example
    format: iob                     # iob | jsonl_nested | pubtator | brat | bioc | hf_token_classification | bigbio_kb
    paths: {train: .../train.tsv}   # local files, one per split (brat, bioc: a file, folder or list of them) ...
    hub: {path: bigbio/x, name: x_bigbio_kb, splits: {train: train}, revision: main}   # ... or a Hub dataset
    tag_map: {GENE: Gene_or_protein, protein: Gene_or_protein, DNA: null}
    prefix_types: false             # true: types become "{name}:{type}", kept apart from other sources
    merge_sentences: auto           # merge consecutive sentences of a document up to the encoder's
                                    # subword limit: auto (where the split has document ids) | true | false
    max_words: 256                  # longer sentences are counted as `too_long` (they are split later
                                    # only if over the encoder's subword limit)
    pipeline_words: true            # split tokens at punctuation as the pipeline splits raw text
    type_infon: type                # bioc: the annotation infon that holds the entity type

Tag map: a corpus type found in the map is renamed to its value (several types may share one
value, which merges them), or dropped when the value is null. A type missing from the map keeps
its name, unless the map has a `"*"` entry, which then applies to every unlisted type
(`"*": null` keeps only the listed types). Dropped entities are counted as `dropped_type`.

Pipeline words: `pipeline("srunear-ner")` splits raw text into words at whitespace and at
every punctuation character (BERT's pre-tokenizer), so "IL-2" is three words there. Corpora
such as GENIA and JNLPBA keep "IL-2" as one token; a model trained on those tokens would
meet word sequences at tagging time it never saw. By default every token is therefore split
the same way and spans follow (`pipeline_words: false` keeps the corpus's own tokens).

Document formats (brat, bioc) read `.txt`/`.ann` pairs and BioC XML or JSON collections through
the `bioc` package (see `standoff.py`); like PubTator, their documents are split into sentences
and words with character offsets kept.

Record formats (jsonl_nested, hf_token_classification, bigbio_kb) go through
`datasets.load_dataset`, local files and Hub datasets alike; line formats (iob, pubtator) are
local files read line by line so that errors can name the exact line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import datasets

from modeling_srunear.text_segmentation import split_words

from .documents import CharEntity, assemble_text, document_examples
from .standoff import read_bioc, read_brat
from .schema import EXAMPLE_FEATURES, CorpusFormatError, Example, ReadReport, Span
from .iob import decode_tags, parse_tag
from .textfiles import text_lines

__all__ = [
    "FORMATS",
    "HubConfig",
    "SourceConfig",
    "load_source",
    "load_sources",
    "local_paths",
    "read_source",
    "map_types",
    "resolve_overlaps",
]

DOCSTART = "-DOCSTART-"
# What a file of each format holds, for the errors about an empty or unreadable file.
EXPECTED_CONTENT = {
    "iob": "'token<TAB>tag' lines, a blank line after each sentence",
    "pubtator": "'PMID|t|title' and 'PMID|a|abstract' lines, tab-separated annotations, a blank line after each document",
    "jsonl_nested": "one JSON object per line with 'tokens' and 'entity_mentions'",
    "hf_token_classification": "rows of 'tokens' and 'ner_tags'",
    "bigbio_kb": "BigBio KB records with 'passages' and 'entities'",
    "brat": "'.txt' files with '.ann' files of 'T' lines beside them",
    "bioc": "a BioC XML or JSON collection of documents with passages",
}
_BLANK_PROBE_BYTES = 1 << 16


# --------------------------------------------------------------------------- configuration


@dataclass
class HubConfig:
    """Where a source lives on the Hub: `load_dataset(path, name, split=splits[split], revision=...)`."""

    path: str
    name: str | None = None
    splits: dict[str, str] = field(default_factory=dict)
    revision: str | None = None


@dataclass
class SourceConfig:
    """One corpus and how its annotations map onto the shared label set."""

    name: str
    format: str
    paths: dict[str, str | list[str]] = field(default_factory=dict)
    hub: HubConfig | None = None
    tag_map: dict[str, str | None] = field(default_factory=dict)
    prefix_types: bool = False
    # The paper merges every corpus that has document ids (GENIA, CoNLL with -DOCSTART-): "auto"
    # merges a split whose sentences come from more than one document; the merging itself needs
    # the encoder's tokenizer and happens in `srunear.evaluation.fit_split`.
    merge_sentences: bool | str = "auto"
    max_words: int | None = 256
    pipeline_words: bool = True  # split tokens at punctuation as the pipeline does (see the module docstring)
    label_names: list[str] | None = None  # for integer tags that carry no ClassLabel names
    tokens_column: str = "tokens"
    tags_column: str = "ner_tags"
    type_infon: str = "type"  # bioc: the annotation infon that holds the entity type

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(
                f"source {self.name!r}: unknown format {self.format!r}; expected one of {sorted(FORMATS)}"
            )
        if isinstance(self.hub, dict):
            self.hub = HubConfig(**self.hub)
        if not self.paths and self.hub is None:
            raise ValueError(f"source {self.name!r}: give `paths` (local files) or `hub` (a Hub dataset)")
        if self.max_words is not None and self.max_words < 1:
            raise ValueError(f"source {self.name!r}: max_words must be positive, got {self.max_words}")
        if self.merge_sentences not in (True, False, "auto"):
            raise ValueError(
                f"source {self.name!r}: merge_sentences must be auto, true or false, got {self.merge_sentences!r}"
            )

    @classmethod
    def from_dict(cls, config: dict[str, Any] | SourceConfig) -> SourceConfig:
        """Build from a config dict, rejecting unknown keys (a typo must not be ignored)."""
        if isinstance(config, SourceConfig):
            return config
        known = {f.name for f in fields(cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(
                f"source {config.get('name')!r}: unknown keys {sorted(unknown)}; known keys: {sorted(known)}"
            )
        return cls(**config)

    def splits(self) -> list[str]:
        """The splits this source provides."""
        return list(self.paths) if self.paths else list(self.hub.splits if self.hub else [])

    def merges(self, documents: int) -> bool:
        """Whether a split of `documents` distinct document ids gets its sentences merged."""
        return documents > 1 if self.merge_sentences == "auto" else bool(self.merge_sentences)


# --------------------------------------------------------------------------- IOB column files


def _column_line(line: str) -> list[str]:
    """Columns of a line: tab-separated if it has a tab, else whitespace-separated."""
    return line.split("\t") if "\t" in line else line.split()


def read_iob(path: str | Path, source: str, split: str, report: ReadReport) -> Iterator[Example]:
    """Sentences of a `token<TAB or SPACE>...<TAB or SPACE>tag` file (tag = last column).

    Blank lines end sentences; `-DOCSTART-` lines start a new document (files without them
    are one document). IOB2, IOB1, IOBES and BILOU tags are all accepted.
    """
    path = Path(path)
    document = 0
    tokens: list[str] = []
    tags: list[tuple[str, str]] = []
    first_line = 0

    def flush() -> Iterator[Example]:
        if tokens:
            spans, repaired = decode_tags(tags)
            report.note("iob_repaired", f"{path.name}:{first_line}" if repaired else None, count=repaired)
            yield Example(list(tokens), spans, source, f"{source}:{split}:{document}")
        tokens.clear()
        tags.clear()

    for number, raw in text_lines(path):
        line = raw.rstrip("\r\n")
        if not line.strip():
            yield from flush()
            continue
        columns = _column_line(line)
        if columns[0] == DOCSTART:
            yield from flush()
            document += 1
            continue
        if len(columns) < 2 or not columns[0].strip():
            raise CorpusFormatError(
                str(path), number, f"expected 'token<TAB>tag' (tag in the last column), got {line!r}"
            )
        try:
            tags.append(parse_tag(columns[-1].strip()))
        except ValueError as error:
            raise CorpusFormatError(str(path), number, str(error)) from None
        if not tokens:
            first_line = number
        tokens.append(columns[0].strip())
    yield from flush()


# --------------------------------------------------------------------------- PubTator


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


# --------------------------------------------------------------------------- record formats (through `datasets`)


@dataclass
class _Records:
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


def _open_records(config: SourceConfig, split: str, base_dir: Path | None, cache_dir: str | None) -> _Records:
    """The raw split as a `datasets.Dataset`: a local data file or a Hub dataset, the same way."""
    if config.paths:
        path = _local_path(config, split, base_dir)
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
        return _Records(dataset, str(path), path)
    hub = config.hub
    if split not in hub.splits:
        raise ValueError(f"source {config.name!r}: no split {split!r} in hub.splits {sorted(hub.splits)}")
    dataset = datasets.load_dataset(
        hub.path, hub.name, split=hub.splits[split], revision=hub.revision, cache_dir=cache_dir
    )
    return _Records(dataset, _where(config, split, base_dir))


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


def _require(records: _Records, row: int, record: dict[str, Any], key: str) -> Any:
    value = record.get(key)
    if value is None:
        raise records.error(row, f"missing {key!r}")
    return value


def _check_tokens(records: _Records, row: int, tokens: Any) -> list[str]:
    if not isinstance(tokens, list) or not all(isinstance(token, str) and token.strip() for token in tokens):
        raise records.error(row, f"'tokens' must be a list of non-empty strings, got {tokens!r:.80}")
    return tokens


def read_jsonl_nested(records: _Records, source: str, split: str, report: ReadReport) -> Iterator[Example]:
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


def _tag_names(records: _Records, config: SourceConfig) -> list[str] | None:
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
    records: _Records, config: SourceConfig, split: str, report: ReadReport
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


def _bigbio_text(records: _Records, row: int, passages: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
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


def read_bigbio_kb(records: _Records, source: str, split: str, report: ReadReport) -> Iterator[Example]:
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


# --------------------------------------------------------------------------- shared post-processing


def map_types(
    spans: Iterable[Span], tag_map: dict[str, str | None], prefix: str | None = None
) -> tuple[list[Span], list[Span]]:
    """Rename/merge/drop span types by `tag_map` (see module doc), then prefix; returns (kept, dropped)."""
    kept, dropped = [], []
    for span in spans:
        new_type = tag_map.get(span.type, tag_map.get("*", span.type))
        if new_type is None:
            dropped.append(span)
            continue
        kept.append(Span(span.start, span.end, f"{prefix}:{new_type}" if prefix else new_type))
    return kept, dropped


def _cross(a: Span, b: Span) -> bool:
    """Partial overlap: neither disjoint nor one inside the other."""
    return a.start < b.start < a.end < b.end or b.start < a.start < b.end < a.end


def resolve_overlaps(spans: Iterable[Span]) -> tuple[list[Span], dict[str, list[Span]]]:
    """Keep nested and disjoint spans; drop duplicates and same-type crossings (the later one).

    Returns the kept spans (by position) and the removed or noteworthy ones per report kind:
    `duplicate`, `crossing` (dropped) and `crossing_other_type` (kept, reported).
    """
    kept: list[Span] = []
    issues: dict[str, list[Span]] = {"duplicate": [], "crossing": [], "crossing_other_type": []}
    for span in sorted(spans, key=lambda s: (s.start, -s.end, s.type)):
        if span in kept:
            issues["duplicate"].append(span)
        elif any(_cross(span, other) and other.type == span.type for other in kept):
            issues["crossing"].append(span)
        else:
            if any(_cross(span, other) for other in kept):
                issues["crossing_other_type"].append(span)
            kept.append(span)
    return kept, issues


def _clean_example(example: Example, config: SourceConfig, report: ReadReport) -> Example:
    """Apply the word split, tag map and overlap rules to one sentence, counting everything removed."""
    if config.pipeline_words:
        example = pipeline_words(example)
    spans, dropped = map_types(example.spans, config.tag_map, config.name if config.prefix_types else None)
    for span in dropped:
        report.note("dropped_type", f"{example.doc_id}: {span.type} {' '.join(example.tokens[span.start:span.end])!r}")
    spans, issues = resolve_overlaps(spans)
    for kind, removed in issues.items():
        for span in removed:
            report.note(
                kind,
                f"{example.doc_id}: {span.type} {' '.join(example.tokens[span.start:span.end])!r}"
                f" [{span.start}:{span.end}]"
            )
    if config.max_words is not None and len(example.tokens) > config.max_words:
        report.note("too_long", f"{example.doc_id}: {len(example.tokens)} words > {config.max_words}")
    example.spans = spans
    return example


def pipeline_words(example: Example) -> Example:
    """The example with every token split into words as the pipeline splits raw text; spans follow.

    A token the splitter would drop entirely (it has no word characters or punctuation) stays
    one word, so no span can lose its ends. Character offsets, when the example has them,
    are split with the tokens. Most sentences need no split and come back as they are.
    """
    if all(_one_word(token) for token in example.tokens):
        return example
    tokens: list[str] = []
    offsets: list[tuple[int, int]] = []
    first: list[int] = []  # first new word of each old token
    has_offsets = len(example.offsets) == len(example.tokens)
    for index, token in enumerate(example.tokens):
        first.append(len(tokens))
        pieces = [(token, 0, len(token))] if _one_word(token) else split_words(token) or [(token, 0, len(token))]
        tokens.extend(word for word, _, _ in pieces)
        if has_offsets:
            base = example.offsets[index][0]
            offsets.extend((base + start, base + end) for _, start, end in pieces)
    first.append(len(tokens))
    spans = [Span(first[span.start], first[span.end], span.type) for span in example.spans]
    return Example(tokens, spans, example.source, example.doc_id, example.text, offsets if has_offsets else list(example.offsets))


def _one_word(token: str) -> bool:
    """One character, or ASCII letters and digits only: the pipeline's splitter leaves it whole."""
    return len(token) == 1 or (token.isascii() and token.isalnum())


# --------------------------------------------------------------------------- entry points


def local_paths(config: SourceConfig, split: str, base_dir: Path | None) -> list[Path]:
    """The split's local paths, resolved against `base_dir`; each must exist (a folder only for document formats)."""
    if split not in config.paths:
        raise ValueError(f"source {config.name!r}: no split {split!r} in paths {sorted(config.paths)}")
    value = config.paths[split]
    if config.format not in DOCUMENT_FORMATS and not isinstance(value, str):
        raise ValueError(f"source {config.name!r}, split {split!r}: format {config.format!r} reads one file, got {value!r}")
    paths = []
    for entry in [value] if isinstance(value, str) else list(value):
        path = Path(entry).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        exists = path.exists() if config.format in DOCUMENT_FORMATS else path.is_file()
        if not exists:
            kind = "file or folder" if config.format in DOCUMENT_FORMATS else "file"
            raise FileNotFoundError(f"source {config.name!r}, split {split!r}: no {kind} at {path}")
        if config.format not in DOCUMENT_FORMATS and _is_blank(path):
            raise CorpusFormatError(str(path), None, f"the file is empty; expected {EXPECTED_CONTENT[config.format]}")
        paths.append(path)
    if not paths:
        raise ValueError(f"source {config.name!r}, split {split!r}: the list of paths is empty")
    return paths


def _local_path(config: SourceConfig, split: str, base_dir: Path | None) -> Path:
    return local_paths(config, split, base_dir)[0]


def _is_blank(path: Path) -> bool:
    """True for a file of nothing but whitespace (a byte order mark included); reads at most 64 KiB."""
    with path.open("rb") as handle:
        head = handle.read(_BLANK_PROBE_BYTES)
        return not head.removeprefix(b"\xef\xbb\xbf").strip() and not handle.read(1)


def _where(config: SourceConfig, split: str, base_dir: Path | None) -> str:
    """The file (or Hub dataset) a split is read from, for error messages."""
    if config.paths:
        return str(_local_path(config, split, base_dir))
    return f"{config.hub.path}[{config.hub.name or 'default'}]/{config.hub.splits.get(split, split)}"


def _raw_examples(
    config: SourceConfig, split: str, report: ReadReport, base_dir: Path | None, cache_dir: str | None
) -> Iterator[Example]:
    """Examples as the corpus has them (types not yet mapped), whatever the format."""
    if config.format in DOCUMENT_FORMATS:
        if not config.paths:
            raise ValueError(f"source {config.name!r}: format {config.format!r} reads local files; give `paths`")
        paths = local_paths(config, split, base_dir)
        if config.format == "bioc":
            return read_bioc(paths, config.name, split, report, config.type_infon)
        return read_brat(paths, config.name, split, report)
    if config.format in LINE_FORMATS:
        if not config.paths:
            raise ValueError(f"source {config.name!r}: format {config.format!r} reads local files; give `paths`")
        return LINE_FORMATS[config.format](_local_path(config, split, base_dir), config.name, split, report)
    records = _open_records(config, split, base_dir, cache_dir)
    if config.format == "hf_token_classification":
        return read_hf_token_classification(records, config, split, report)
    return RECORD_FORMATS[config.format](records, config.name, split, report)


def read_source(
    source_config: dict[str, Any] | SourceConfig,
    split: str,
    *,
    base_dir: str | Path | None = None,
    cache_dir: str | None = None,
) -> tuple[list[dict[str, Any]], ReadReport]:
    """Examples of one split of one source as schema dicts, and the report of what reading found.

    Raises `CorpusFormatError` (a ValueError) on malformed input; everything else that changes
    the annotations is counted in the report.
    """
    config = SourceConfig.from_dict(source_config)
    report = ReadReport(config.name, split)
    base = Path(base_dir) if base_dir is not None else None
    documents: set[str] = set()

    def cleaned() -> Iterator[Example]:
        for example in _raw_examples(config, split, report, base, cache_dir):
            report.sentences += 1
            documents.add(example.doc_id)
            yield _clean_example(example, config, report)

    rows = [example.to_dict() for example in cleaned()]
    if not rows:
        raise CorpusFormatError(
            _where(config, split, base), None, f"no sentences found; expected {EXPECTED_CONTENT[config.format]}"
        )
    report.documents = len(documents)
    report.examples = len(rows)
    for row in rows:
        report.entities += len(row["spans"])
        report.type_counts.update(span["type"] for span in row["spans"])
    return rows, report


def load_source(
    source_config: dict[str, Any] | SourceConfig,
    split: str,
    *,
    base_dir: str | Path | None = None,
    cache_dir: str | None = None,
) -> tuple[datasets.Dataset, ReadReport]:
    """One split of one source as a `datasets.Dataset` in `EXAMPLE_FEATURES`, with its `ReadReport`."""
    rows, report = read_source(source_config, split, base_dir=base_dir, cache_dir=cache_dir)
    return datasets.Dataset.from_list(rows, features=EXAMPLE_FEATURES), report


def load_sources(
    source_configs: Iterable[dict[str, Any] | SourceConfig],
    split: str,
    *,
    base_dir: str | Path | None = None,
    cache_dir: str | None = None,
) -> tuple[datasets.Dataset, dict[str, ReadReport]]:
    """The split of every source that has it, concatenated, with one report per source."""
    parts, reports = [], {}
    for source_config in source_configs:
        config = SourceConfig.from_dict(source_config)
        if split not in config.splits():
            continue
        dataset, reports[config.name] = load_source(config, split, base_dir=base_dir, cache_dir=cache_dir)
        parts.append(dataset)
    if not parts:
        return datasets.Dataset.from_list([], features=EXAMPLE_FEATURES), reports
    return datasets.concatenate_datasets(parts), reports


LINE_FORMATS: dict[str, Callable[[Path, str, str, ReadReport], Iterator[Example]]] = {
    "iob": read_iob,
    "pubtator": read_pubtator,
}
RECORD_FORMATS: dict[str, Callable[[_Records, str, str, ReadReport], Iterator[Example]]] = {
    "jsonl_nested": read_jsonl_nested,
    "bigbio_kb": read_bigbio_kb,
}
DOCUMENT_FORMATS = frozenset({"brat", "bioc"})
FORMATS = frozenset(LINE_FORMATS) | frozenset(RECORD_FORMATS) | DOCUMENT_FORMATS | {"hf_token_classification"}
