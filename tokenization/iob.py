"""Decode per-token tags (IOB2, IOB1, IOBES, BILOU) into word spans.

One decoder serves all schemes because they differ only in how an entity may start and end;
reading them the same way also repairs IOB1 files and sloppy IOB2 files without a switch.
"""

from __future__ import annotations

from collections.abc import Sequence

from .schema import Span

__all__ = ["parse_tag", "decode_tags", "tags_to_spans"]

# BILOU's L (last) and U (unit) are IOBES's E and S.
_PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}


def parse_tag(tag: str) -> tuple[str, str]:
    """`"B-Disease"` -> `("B", "Disease")`, `"O"` -> `("O", "")`; anything else raises ValueError."""
    if tag == "O":
        return "O", ""
    prefix, dash, entity_type = tag.partition("-")
    if not dash or prefix not in _PREFIXES or not entity_type.strip():
        raise ValueError(f"invalid tag {tag!r}: expected 'O' or B-/I-/E-/S- (or L-/U-) followed by a type")
    return _PREFIXES[prefix], entity_type


def decode_tags(tags: Sequence[tuple[str, str]]) -> tuple[list[Span], int]:
    """Spans from parsed tags, and how many entities started with I- or E- (repaired).

    An I-X (or E-X) that does not continue an open X entity starts a new one, which is the
    IOB1 reading and the usual repair of broken IOB2. E- and S- close the entity they are in.
    """
    spans: list[Span] = []
    repaired = 0
    open_start, open_type = -1, ""

    def close(end: int) -> None:
        nonlocal open_start, open_type
        if open_start >= 0:
            spans.append(Span(open_start, end, open_type))
        open_start, open_type = -1, ""

    for index, (prefix, entity_type) in enumerate(tags):
        continues = open_start >= 0 and open_type == entity_type and prefix in ("I", "E")
        if not continues:
            close(index)
            if prefix in ("I", "E"):
                repaired += 1
            if prefix != "O":
                open_start, open_type = index, entity_type
        if prefix in ("E", "S"):
            close(index + 1)
    close(len(tags))
    return spans, repaired


def tags_to_spans(tags: Sequence[str]) -> tuple[list[Span], int]:
    """`decode_tags` for tag strings (raises ValueError on an invalid tag)."""
    return decode_tags([parse_tag(tag) for tag in tags])
