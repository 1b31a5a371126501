"""Turn a document with character-offset entities into word-level sentence examples.

PubTator and BigBio corpora annotate characters of a whole document; the model reads words of
one sentence. This module splits the document the same way the model's pipeline splits raw
text (`modeling_srunear.text_segmentation`), so training sees what inference will see.
"""

from __future__ import annotations

from dataclasses import dataclass

from modeling_srunear.text_segmentation import split_sentences, split_words, strip_span

from .schema import Example, ReadReport, Span

__all__ = ["CharEntity", "assemble_text", "document_examples", "sentence_spans", "join_crossed_sentences"]


@dataclass(frozen=True)
class CharEntity:
    """An entity over characters `start`..`end` (exclusive) of the document text."""

    start: int
    end: int
    type: str


def assemble_text(pieces: list[tuple[int, str]]) -> str:
    """The document text of pieces (passages, sentences) placed at their character offsets.

    Gaps between pieces become spaces, so every offset stays valid. Raises ValueError, naming the
    character, when two pieces overlap with different text, or when an offset is negative.
    """
    chars: list[str] = []
    filled: list[bool] = []
    for start, piece in pieces:
        if start < 0:
            raise ValueError(f"negative offset {start}")
        end = start + len(piece)
        if end > len(chars):
            chars.extend(" " * (end - len(chars)))
            filled.extend([False] * (end - len(filled)))
        for position, char in zip(range(start, end), piece):
            if filled[position] and chars[position] != char:
                raise ValueError(f"pieces overlap with different text at character {position}")
            chars[position], filled[position] = char, True
    return "".join(chars)


def sentence_spans(text: str, regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence spans of each region (title, abstract, passage) in document coordinates.

    Regions are split separately so that a title without a full stop never runs into the
    abstract's first sentence.
    """
    spans: list[tuple[int, int]] = []
    for region_start, region_end in sorted(regions):
        spans.extend(
            (region_start + start, region_start + end)
            for start, end in split_sentences(text[region_start:region_end])
        )
    return spans


def join_crossed_sentences(
    sentences: list[tuple[int, int]], entities: list[CharEntity]
) -> tuple[list[tuple[int, int]], int]:
    """Join neighbouring sentences whenever an entity runs across their boundary.

    Splitters break after abbreviations inside names ("S. aureus"); joining keeps the entity
    instead of losing it. Returns the sentences and the number of joins.
    """
    joined: list[tuple[int, int]] = []
    joins = 0
    for start, end in sentences:
        if joined and any(e.start < joined[-1][1] and e.end > start for e in entities):
            joined[-1] = (joined[-1][0], end)
            joins += 1
        else:
            joined.append((start, end))
    return joined, joins


def _trim(text: str, entity: CharEntity) -> CharEntity:
    """Drop whitespace that some corpora include at an entity's edges."""
    start, end = strip_span(text, entity.start, entity.end) or (entity.end, entity.end)
    return CharEntity(start, end, entity.type)


def document_examples(
    text: str,
    regions: list[tuple[int, int]],
    entities: list[CharEntity],
    *,
    source: str,
    doc_id: str,
    report: ReadReport,
) -> list[Example]:
    """Sentence examples of one document, entities mapped to word spans.

    Entities must lie inside `text` (readers check that and raise). An entity whose edges are
    not word boundaries is counted as `unaligned` in `report` and dropped: snapping it to the
    covering words would teach the model wrong boundaries.
    """
    entities = [_trim(text, entity) for entity in entities]
    sentences, joins = join_crossed_sentences(sentence_spans(text, regions), entities)
    report.note("sentence_joined", f"{doc_id}: {joins} join(s)" if joins else None, count=joins)

    examples: list[Example] = []
    word_starts: dict[int, tuple[int, int]] = {}
    word_ends: dict[int, tuple[int, int]] = {}
    for sentence_start, sentence_end in sentences:
        words = split_words(text[sentence_start:sentence_end])
        if not words:
            continue
        index = len(examples)
        offsets = [(sentence_start + start, sentence_start + end) for _, start, end in words]
        for position, (start, end) in enumerate(offsets):
            word_starts[start] = (index, position)
            word_ends[end] = (index, position)
        examples.append(
            Example([word for word, _, _ in words], [], source, doc_id, text=text, offsets=offsets)
        )

    for entity in entities:
        first, last = word_starts.get(entity.start), word_ends.get(entity.end)
        if entity.start >= entity.end or first is None or last is None or first[0] != last[0]:
            report.note(
                "unaligned", f"{doc_id}: {text[entity.start:entity.end]!r} [{entity.start}:{entity.end}] {entity.type}"
            )
            continue
        examples[first[0]].spans.append(Span(first[1], last[1] + 1, entity.type))
    return examples
