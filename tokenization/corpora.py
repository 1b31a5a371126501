"""Read NER corpora of several formats into one example schema (see `schema.py`).

A source's config (format, paths or Hub dataset, tag map) is described in `sources.py`; every
reader's examples then go through `cleaning.py` (pipeline words, tag map, overlaps).

Line formats (iob, pubtator) are local files read line by line so that errors can name the exact
line (`iob_columns.py`, `pubtator.py`).

Document formats (brat, bioc) read `.txt`/`.ann` pairs and BioC XML or JSON collections through
the `bioc` package (`brat.py`, `bioc_files.py`); like PubTator, their documents are split into sentences
and words with character offsets kept.

Record formats (jsonl_nested, hf_token_classification, bigbio_kb) go through
`datasets.load_dataset`, local files and Hub datasets alike (`records.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import datasets

from .bioc_files import read_bioc
from .brat import read_brat
from .cleaning import clean_example
from .iob_columns import read_iob
from .pubtator import read_pubtator
from .records import Records, open_records, read_bigbio_kb, read_hf_token_classification, read_jsonl_nested
from .schema import EXAMPLE_FEATURES, CorpusFormatError, Example, ReadReport
from .sources import DOCUMENT_FORMATS, EXPECTED_CONTENT, SourceConfig, describe_split, local_path, local_paths

__all__ = ["load_source", "load_sources", "read_source"]

LINE_FORMATS: dict[str, Callable[[Path, str, str, ReadReport], Iterator[Example]]] = {
    "iob": read_iob,
    "pubtator": read_pubtator,
}
RECORD_FORMATS: dict[str, Callable[[Records, str, str, ReadReport], Iterator[Example]]] = {
    "jsonl_nested": read_jsonl_nested,
    "bigbio_kb": read_bigbio_kb,
}


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
        return LINE_FORMATS[config.format](local_path(config, split, base_dir), config.name, split, report)
    records = open_records(config, split, base_dir, cache_dir)
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
            yield clean_example(example, config, report)

    rows = [example.to_dict() for example in cleaned()]
    if not rows:
        raise CorpusFormatError(
            describe_split(config, split, base), None, f"no sentences found; expected {EXPECTED_CONTENT[config.format]}"
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

