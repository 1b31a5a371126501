"""Strict span-level precision, recall and F1 for nested NER, scored source by source.

Why scoring is per source: every training corpus ("source") annotates only some entity
types, so on a given source a prediction of a type it does not annotate can be neither
confirmed nor refuted. Each source is therefore scored only on its own types, and the
headline number is the mean of the per-source micro F1 scores.

Conventions, fixed here so every caller reports the same numbers:

* A span is ``(start, end, type)`` over word indices, ``end`` exclusive; a sentence is
  an iterable of spans; a corpus is an iterable of sentences. The sentence index is part
  of a span's identity, so equal offsets in two sentences are two different entities.
* Matching is strict: start, end and type must all agree. Nested and overlapping spans
  are scored like any other span.
* Within one sentence spans form a set: a duplicated prediction (or gold span) counts once.
* Values are percentages (0-100). Precision is ``tp / (tp + fp)``, or 0 when nothing was
  predicted; recall is ``tp / (tp + fn)``, or 0 when there is no gold; F1 is their
  harmonic mean, or 0 when both are 0.
* A type with neither gold nor predicted spans says nothing about the model: asked for
  directly (``SpanScores.score(type)``) it scores 0/0/0 with support 0, but it is left out
  of the per-type table. A type with predictions but no gold stays in the table (support
  0, precision 0) because those predictions are genuine false positives.
* Gold spans that the tokenisation cannot represent never reach the model, yet they are
  still entities it failed to find. ``unrepresentable_gold`` adds them as false negatives
  so that lossy tokenisation cannot inflate recall.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from srunear.markdown import markdown_row

Span = tuple[int, int, str]
SpanLike = Union[Sequence[Any], Mapping[str, Any]]
Sentences = Iterable[Iterable[SpanLike]]
Unrepresentable = Union[int, Mapping[str, int]]

MICRO_ROW = "micro"


@dataclass(frozen=True)
class Counts:
    """True positives, false positives and false negatives: the additive core of every score."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def support(self) -> int:
        """Number of gold spans, including those counted as misses."""
        return self.tp + self.fn

    @property
    def predicted(self) -> int:
        """Number of distinct predicted spans."""
        return self.tp + self.fp

    @property
    def precision(self) -> float:
        return _percent(self.tp, self.predicted)

    @property
    def recall(self) -> float:
        return _percent(self.tp, self.support)

    @property
    def f1(self) -> float:
        # 2PR/(P+R) written over counts: exact, and 0 whenever tp is 0.
        return _percent(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def is_empty(self) -> bool:
        """True when there is neither gold nor prediction, i.e. nothing to report."""
        return self.support == 0 and self.predicted == 0


@dataclass(frozen=True)
class Score:
    """Unrounded precision/recall/F1 (percent) plus gold support: one table row."""

    precision: float
    recall: float
    f1: float
    support: int

    @classmethod
    def of(cls, counts: Counts) -> Score:
        return cls(counts.precision, counts.recall, counts.f1, counts.support)

    def as_type_row(self) -> dict[str, float | int]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support}

    def as_micro_row(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class SpanScores:
    """Per-type and micro counts for one source; ``to_dict`` gives the report layout."""

    per_type: Mapping[str, Counts] = field(default_factory=dict)
    micro: Counts = Counts()

    def score(self, entity_type: str) -> Score:
        """Score of one type; a type never seen scores 0/0/0 with support 0 (see module doc)."""
        return Score.of(self.per_type.get(entity_type, Counts()))

    def micro_score(self) -> Score:
        return Score.of(self.micro)

    def table_types(self) -> list[str]:
        """Types worth a row: those with gold or predicted spans, sorted for stable output."""
        return sorted(t for t, counts in self.per_type.items() if not counts.is_empty())

    def to_dict(self) -> dict[str, Any]:
        """``{"types": {type: {precision, recall, f1, support}}, "micro": {precision, recall, f1}}``."""
        return {
            "types": {t: self.score(t).as_type_row() for t in self.table_types()},
            "micro": self.micro_score().as_micro_row(),
        }


@dataclass(frozen=True)
class SourceData:
    """Everything needed to score one source: its sentences and the types it annotates."""

    gold: Sentences
    predicted: Sentences
    types: Collection[str] | None = None
    unrepresentable_gold: Unrepresentable = 0


def _percent(numerator: int, denominator: int) -> float:
    return 100.0 * numerator / denominator if denominator else 0.0


def as_span(obj: SpanLike) -> Span:
    """Normalise a tuple, list or ``{"start", "end", "type"}`` mapping to a hashable span.

    Malformed spans raise instead of silently never matching, which would hide bugs
    upstream as a mysteriously low score.
    """
    if isinstance(obj, Mapping):
        start, end, entity_type = obj["start"], obj["end"], obj["type"]
    else:
        if isinstance(obj, (str, bytes)) or len(obj) != 3:
            raise ValueError(f"a span must be (start, end, type), got {obj!r}")
        start, end, entity_type = obj
    span = (int(start), int(end), str(entity_type))
    if not 0 <= span[0] < span[1]:
        raise ValueError(f"a span needs 0 <= start < end (end exclusive), got {obj!r}")
    return span


def sentence_spans(spans: Iterable[SpanLike], types: Collection[str] | None = None) -> set[Span]:
    """Distinct spans of one sentence, restricted to ``types`` when given."""
    normalised = {as_span(span) for span in spans}
    if types is None:
        return normalised
    return {span for span in normalised if span[2] in types}


def _paired_sentences(gold: Sentences, predicted: Sentences) -> list[tuple[Iterable[SpanLike], Iterable[SpanLike]]]:
    gold_list, predicted_list = list(gold), list(predicted)
    if len(gold_list) != len(predicted_list):
        raise ValueError(
            f"gold has {len(gold_list)} sentences but predictions have {len(predicted_list)}; "
            "they must be aligned sentence by sentence"
        )
    return list(zip(gold_list, predicted_list))


def _unrepresentable_by_type(unrepresentable: Unrepresentable, types: Collection[str] | None) -> tuple[Counter, int]:
    """Split the miss count into a per-type part and a part that only the micro row can absorb."""
    if isinstance(unrepresentable, Mapping):
        by_type = Counter({t: int(n) for t, n in unrepresentable.items() if types is None or t in types})
        untyped = 0
    else:
        by_type, untyped = Counter(), int(unrepresentable)
    if untyped < 0 or any(n < 0 for n in by_type.values()):
        raise ValueError(f"unrepresentable_gold must be non-negative, got {unrepresentable!r}")
    return by_type, untyped


def span_prf(
    gold: Sentences,
    predicted: Sentences,
    types: Collection[str] | None = None,
    unrepresentable_gold: Unrepresentable = 0,
) -> SpanScores:
    """Strictly match predicted against gold spans, sentence by sentence.

    ``types`` restricts scoring to a source's annotated types: spans of any other type,
    gold or predicted, are ignored. ``unrepresentable_gold`` counts gold spans lost to
    tokenisation as false negatives: a mapping ``{type: count}`` charges each type (and the
    micro row); a plain integer, whose types are unknown, charges only the micro row.
    """
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    for gold_sentence, predicted_sentence in _paired_sentences(gold, predicted):
        gold_set = sentence_spans(gold_sentence, types)
        predicted_set = sentence_spans(predicted_sentence, types)
        tp.update(span[2] for span in gold_set & predicted_set)
        fp.update(span[2] for span in predicted_set - gold_set)
        fn.update(span[2] for span in gold_set - predicted_set)
    missed_by_type, missed_untyped = _unrepresentable_by_type(unrepresentable_gold, types)
    fn.update(missed_by_type)
    per_type = {t: Counts(tp[t], fp[t], fn[t]) for t in sorted(set(tp) | set(fp) | set(fn))}
    micro = sum(per_type.values(), Counts()) + Counts(fn=missed_untyped)
    return SpanScores(per_type=per_type, micro=micro)


def source_report(
    gold: Sentences,
    predicted: Sentences,
    types: Collection[str] | None = None,
    unrepresentable_gold: Unrepresentable = 0,
) -> dict[str, Any]:
    """One source's ``{"types": ..., "micro": ...}`` block; shared by the evaluate wrapper."""
    return span_prf(gold, predicted, types, unrepresentable_gold).to_dict()


def _as_source_data(value: SourceData | Sequence[Any]) -> SourceData:
    if isinstance(value, SourceData):
        return value
    if not 3 <= len(value) <= 4:
        raise ValueError("a source is (gold, predicted, types) or (gold, predicted, types, unrepresentable_gold)")
    return SourceData(*value)


def average_f1(sources: Mapping[str, Mapping[str, Any]]) -> float:
    """Unweighted mean of per-source micro F1, so small corpora weigh as much as large ones."""
    if not sources:
        return 0.0
    return sum(block["micro"]["f1"] for block in sources.values()) / len(sources)


def evaluate_sources(per_source: Mapping[str, SourceData | Sequence[Any]]) -> dict[str, Any]:
    """Score every source on its own types.

    ``per_source`` maps a source name to a ``SourceData`` or to a tuple
    ``(gold, predicted, types[, unrepresentable_gold])``. Returns
    ``{"sources": {name: {"types": {...}, "micro": {...}}}, "average_f1": float}``, which is
    plain JSON. A source with neither gold nor predictions has micro F1 0 and still counts
    in the average.
    """
    sources = {}
    for name, value in per_source.items():
        data = _as_source_data(value)
        sources[name] = source_report(data.gold, data.predicted, data.types, data.unrepresentable_gold)
    return {"sources": sources, "average_f1": average_f1(sources)}


def _pct(value: float) -> str:
    return f"{value:.2f}"


def markdown_table(report: Mapping[str, Any]) -> str:
    """Render an ``evaluate_sources`` report: a row per source and type, a micro row per source, the average."""
    lines = [
        markdown_row(["Source", "Type", "Precision", "Recall", "F1", "Support"]),
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, block in report["sources"].items():
        for entity_type, row in block["types"].items():
            lines.append(
                markdown_row([name, entity_type, _pct(row["precision"]), _pct(row["recall"]), _pct(row["f1"]), row["support"]])
            )
        micro = block["micro"]
        lines.append(
            markdown_row([name, f"*{MICRO_ROW}*", _pct(micro["precision"]), _pct(micro["recall"]), _pct(micro["f1"]), ""])
        )
    lines.append(markdown_row(["**average**", "", "", "", f"**{_pct(report['average_f1'])}**", ""]))
    return "\n".join(lines) + "\n"
