"""What every reader's examples go through: pipeline words, the tag map, overlap rules.

Tag map: a corpus type found in the map is renamed to its value (several types may share one
value, which merges them), or dropped when the value is null. A type missing from the map keeps
its name, unless the map has a `"*"` entry, which then applies to every unlisted type
(`"*": null` keeps only the listed types). Dropped entities are counted as `dropped_type`.

Pipeline words: `pipeline("srunear-ner")` splits raw text into words at whitespace and at
every punctuation character (BERT's pre-tokenizer), so "IL-2" is three words there. Corpora
such as GENIA and JNLPBA keep "IL-2" as one token; a model trained on those tokens would
meet word sequences at tagging time it never saw. By default every token is therefore split
"""

from __future__ import annotations

from collections.abc import Iterable

from modeling_srunear.text_segmentation import split_words

from .schema import Example, ReadReport, Span
from .sources import SourceConfig

__all__ = ["clean_example", "map_types", "pipeline_words", "resolve_overlaps"]


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


def clean_example(example: Example, config: SourceConfig, report: ReadReport) -> Example:
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
