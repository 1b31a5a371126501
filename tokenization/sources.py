"""Where a corpus lives and how its annotations map onto the shared label set.

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

How the tag map renames, merges and drops types: see `cleaning.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .schema import CorpusFormatError

__all__ = [
    "DOCUMENT_FORMATS", "EXPECTED_CONTENT", "FORMATS", "HubConfig", "SourceConfig", "describe_split", "local_path", "local_paths",
]

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
FORMATS = frozenset(EXPECTED_CONTENT)
DOCUMENT_FORMATS = frozenset({"brat", "bioc"})  # read from local files or folders, never through `datasets`
_BLANK_PROBE_BYTES = 1 << 16


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
    # the encoder's tokenizer and happens in `srunear.splits.fit_split`.
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


def local_path(config: SourceConfig, split: str, base_dir: Path | None) -> Path:
    return local_paths(config, split, base_dir)[0]


def _is_blank(path: Path) -> bool:
    """True for a file of nothing but whitespace (a byte order mark included); reads at most 64 KiB."""
    with path.open("rb") as handle:
        head = handle.read(_BLANK_PROBE_BYTES)
        return not head.removeprefix(b"\xef\xbb\xbf").strip() and not handle.read(1)


def describe_split(config: SourceConfig, split: str, base_dir: Path | None) -> str:
    """The file (or Hub dataset) a split is read from, for error messages."""
    if config.paths:
        return str(local_path(config, split, base_dir))
    return f"{config.hub.path}[{config.hub.name or 'default'}]/{config.hub.splits.get(split, split)}"

