"""The one example schema every corpus reader produces, and the report of what reading changed.

An example is one sentence (or a few merged sentences of one document) as a plain dict, so that
`datasets` can store it, shuffle it and mix corpora without knowing where it came from:

    {"tokens": [...], "spans": [{"start", "end" (exclusive word index), "type"}],
     "source": str, "text": str ("" when the corpus has no raw text),
     "offsets": [[start, end], ...] (char offsets of tokens into `text`; [] without text),
     "doc_id": str}
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from datasets import Features, List, Value

__all__ = [
    "EXAMPLE_FEATURES",
    "ISSUE_KINDS",
    "CorpusFormatError",
    "Example",
    "ReadReport",
    "Span",
]

EXAMPLE_FEATURES = Features(
    {
        "tokens": List(Value("string")),
        "spans": List({"start": Value("int32"), "end": Value("int32"), "type": Value("string")}),
        "source": Value("string"),
        "text": Value("string"),
        "offsets": List(List(Value("int32"))),
        "doc_id": Value("string"),
    }
)

# What a ReadReport counts. None of these stop reading; all are reported so nothing is lost silently.
ISSUE_KINDS: dict[str, str] = {
    "unaligned": "char-offset entity whose start or end is not a word boundary (dropped)",
    "mismatch": "entity whose stated mention text differs from the document text at its offsets (dropped)",
    "crossing": "entity crossing another entity of the same type (the later one is dropped)",
    "crossing_other_type": "entity crossing an entity of another type (kept)",
    "duplicate": "entity identical to another one after type mapping (one copy kept)",
    "dropped_type": "entity whose type the tag map sends to null (dropped on purpose)",
    "discontinuous": "discontinuous entity, replaced by its overall min..max extent (kept)",
    "too_long": "sentence longer than max_words (kept; split later only if over the encoder's subword limit)",
    "split": "sentence over the encoder's subword limit, split between mentions into pieces (kept)",
    "cut_mention": "mention that does not fit the encoder by itself, cut by a split (dropped; scored as missed)",
    "unsplittable": "word over the encoder's subword limit by itself (dropped with its mentions)",
    "iob_repaired": "entity starting with I- or E- (IOB1 style or broken IOB2), read as a new entity",
    "sentence_joined": "sentence boundary inside an entity; the two sentences were joined",
    "empty": "sentence or document without any token (skipped)",
    "relation": "relation between annotations (brat R or * line, BioC relation); NER does not use it (ignored)",
    "event": "brat event (E line); ignored, although its trigger (a T line) is read like any entity",
    "attribute": "brat attribute or modification (A or M line) of an annotation (ignored)",
    "note": "brat note (# line) on an annotation (ignored)",
    "normalization": "brat normalisation (N line) linking an annotation to a database entry (ignored)",
}

class CorpusFormatError(ValueError):
    """Malformed corpus input: names the file (or dataset), the line (or row) and what was expected."""

    def __init__(self, where: str, line: int | None, message: str):
        self.where = where
        self.line = line
        self.message = message
        location = f"{where}:{line}" if line is not None else where
        super().__init__(f"{location}: {message}")


@dataclass(frozen=True, order=True)
class Span:
    """An entity over words `start` (inclusive) to `end` (exclusive) of one example."""

    start: int
    end: int
    type: str

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "type": self.type}


@dataclass
class Example:
    """A sentence while being read. `offsets` index `text`, which may still be the whole document."""

    tokens: list[str]
    spans: list[Span]
    source: str
    doc_id: str
    text: str = ""
    offsets: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The schema dict, with `text` cropped to the tokens and offsets made relative to it."""
        text, offsets = self.text, self.offsets
        if text and offsets:
            base = offsets[0][0]
            text = text[base : offsets[-1][1]]
            offsets = [(start - base, end - base) for start, end in offsets]
        return {
            "tokens": list(self.tokens),
            "spans": [span.to_dict() for span in sorted(self.spans)],
            "source": self.source,
            "text": text if offsets else "",
            "offsets": [[start, end] for start, end in offsets],
            "doc_id": self.doc_id,
        }


@dataclass
class ReadReport:
    """What reading one source split found and changed, so that no annotation disappears unnoticed."""

    source: str
    split: str
    documents: int = 0
    sentences: int = 0
    examples: int = 0
    entities: int = 0
    counts: Counter = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=dict)
    type_counts: Counter = field(default_factory=Counter)
    max_samples: int = 3

    def note(self, kind: str, detail: str | None = None, count: int = 1) -> None:
        """Count `count` occurrences of `kind`, keeping the first few details as samples."""
        if kind not in ISSUE_KINDS:
            raise KeyError(f"unknown report kind {kind!r}; known kinds: {sorted(ISSUE_KINDS)}")
        if count <= 0:
            return
        self.counts[kind] += count
        kept = self.samples.setdefault(kind, [])
        if detail is not None and len(kept) < self.max_samples:
            kept.append(detail)

    def summary(self) -> str:
        """A few human-readable lines: sizes, then every non-zero count with its samples."""
        lines = [
            f"{self.source} [{self.split}]: {self.documents} documents, {self.sentences} sentences"
            f" -> {self.examples} examples, {self.entities} entities"
        ]
        if self.type_counts:
            types = ", ".join(f"{name}={n}" for name, n in sorted(self.type_counts.items()))
            lines.append(f"  types: {types}")
        for kind in ISSUE_KINDS:
            if self.counts[kind]:
                lines.append(f"  {kind}: {self.counts[kind]} ({ISSUE_KINDS[kind]})")
                lines.extend(f"    e.g. {sample}" for sample in self.samples.get(kind, []))
        return "\n".join(lines)
