"""Corpus readers: many NER formats in, one example schema (`EXAMPLE_FEATURES`) out."""

from .cleaning import map_types, resolve_overlaps
from .corpora import load_source, load_sources, read_source
from .documents import CharEntity, document_examples
from .packing import PackCounts, pack_rows
from .iob import decode_tags, parse_tag, tags_to_spans
from .schema import EXAMPLE_FEATURES, ISSUE_KINDS, CorpusFormatError, Example, ReadReport, Span
from .sources import FORMATS, HubConfig, SourceConfig

__all__ = [
    "EXAMPLE_FEATURES",
    "FORMATS",
    "ISSUE_KINDS",
    "CharEntity",
    "CorpusFormatError",
    "Example",
    "HubConfig",
    "PackCounts",
    "ReadReport",
    "SourceConfig",
    "Span",
    "decode_tags",
    "document_examples",
    "load_source",
    "load_sources",
    "pack_rows",
    "map_types",
    "parse_tag",
    "read_source",
    "resolve_overlaps",
    "tags_to_spans",
]
