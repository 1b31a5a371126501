"""See nested entities: HTML with stacked, colour-coded underlines and type labels.

    from srunear.display import show
    show(text, ner(text))          # in a notebook: renders in place

The text is cut at every entity boundary; a piece covered by entities carries one underline per
nesting level (innermost entity closest to the words), each in its type's colour, the type's label
under the entity's first piece, and its score on hover. Everything is inline-styled, so the
fragment looks the same pasted into any page or notebook; text and types are escaped.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["HTMLFragment", "assign_levels", "render_html", "render_page", "show", "type_colours"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f")
LEVEL_PX = 17  # vertical room per nesting level (text is 16px)
FIRST_BAR_PX = 23  # the first underline, just below the words


def type_colours(types: Iterable[str]) -> dict[str, str]:
    """One colour per type, in sorted order, so a page and its legend agree (the palette repeats after 10)."""
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(sorted(set(types)))}


def assign_levels(entities: Sequence[Mapping[str, Any]]) -> list[int]:
    """Nesting level of each entity: the lowest level free over its whole span, shortest entities first.

    An entity inside another therefore sits closer to the words than the one around it.
    """
    levels = [0] * len(entities)
    placed: list[int] = []
    order = sorted(range(len(entities)), key=lambda i: (entities[i]["end"] - entities[i]["start"], entities[i]["start"]))
    for index in order:
        start, end = entities[index]["start"], entities[index]["end"]
        taken = {levels[other] for other in placed if entities[other]["start"] < end and start < entities[other]["end"]}
        levels[index] = next(level for level in range(len(entities) + 1) if level not in taken)
        placed.append(index)
    return levels


def _tooltip(entity: Mapping[str, Any]) -> str:
    score = entity.get("score")
    return f"{entity['entity_group']}" + (f" (score {score:.3f})" if isinstance(score, (int, float)) else "")


def _piece(text: str, start: int, end: int, covering: list[int], entities, levels, colours, labelled: set[int]) -> str:
    """One piece of text and the underline (and first label) of every entity over it."""
    words = html.escape(text[start:end])
    if not covering:
        return words
    depth = max(levels[i] for i in covering) + 1
    marks = []
    for index in covering:
        entity, level = entities[index], levels[index]
        colour = colours[entity["entity_group"]]
        tip = html.escape(_tooltip(entity), quote=True)
        top = FIRST_BAR_PX + level * LEVEL_PX
        marks.append(
            f'<span class="srunear-bar" data-entity="{index}" data-level="{level}" title="{tip}" style="position:absolute;'
            f'left:0;right:0;top:{top}px;height:3px;background:{colour};border-radius:1px"></span>'
        )
        if index not in labelled:
            labelled.add(index)
            marks.append(
                f'<span class="srunear-label" data-entity="{index}" data-level="{level}" title="{tip}" style="position:absolute;'
                f'left:0;top:{top + 4}px;font:bold 10px/1 sans-serif;color:{colour};white-space:nowrap">'
                f'{html.escape(str(entity["entity_group"]))}</span>'
            )
    return (
        f'<span class="srunear-piece" style="position:relative;display:inline-block;white-space:pre;'
        f'padding-bottom:{depth * LEVEL_PX + 2}px">{words}{"".join(marks)}</span>'
    )


def render_html(text: str, entities: Sequence[Mapping[str, Any]], colours: Mapping[str, str] | None = None) -> str:
    """A self-contained HTML fragment of `text` with its (possibly nested) entities underlined.

    `entities` are the pipeline's dicts (`entity_group`, `start`, `end`, optional `score`);
    `colours` maps types to CSS colours (default: `type_colours` of the types present).
    """
    entities = [e for e in entities if 0 <= e["start"] < e["end"] <= len(text)]
    colours = dict(colours or type_colours(e["entity_group"] for e in entities))
    for entity in entities:
        colours.setdefault(entity["entity_group"], PALETTE[len(colours) % len(PALETTE)])
    levels = assign_levels(entities)
    cuts = sorted({0, len(text), *(e["start"] for e in entities), *(e["end"] for e in entities)})
    labelled: set[int] = set()
    pieces = []
    for start, end in zip(cuts, cuts[1:]):
        covering = sorted((i for i, e in enumerate(entities) if e["start"] <= start and end <= e["end"]),
                          key=lambda i: levels[i])
        pieces.append(_piece(text, start, end, covering, entities, levels, colours, labelled))
    return (
        '<div class="srunear-entities" style="font:16px/1.6 Georgia,serif;white-space:pre-wrap;'
        f'word-wrap:break-word">{"".join(pieces)}</div>'
    )


def _legend(counts: Counter, colours: Mapping[str, str]) -> str:
    items = "".join(
        f'<li style="display:inline-block;margin:0 1.2em 0.3em 0"><span style="display:inline-block;width:1.4em;height:4px;'
        f'vertical-align:middle;background:{colours[name]}"></span> {html.escape(name)} '
        f'<span class="srunear-count">{counts[name]}</span></li>'
        for name in sorted(counts)
    )
    return f'<ul class="srunear-legend" style="list-style:none;padding:0;font:14px sans-serif">{items}</ul>'


def render_page(documents: Iterable[tuple[str, str, Sequence[Mapping[str, Any]]]], title: str = "srunear entities") -> str:
    """A complete HTML page: a legend of types with counts, then each (id, text, entities) in turn."""
    documents = list(documents)
    counts = Counter(e["entity_group"] for _, _, entities in documents for e in entities)
    colours = type_colours(counts)
    sections = "".join(
        f'<section class="srunear-document" style="margin:1.5em 0"><h2 style="font:bold 15px sans-serif;color:#555">'
        f"{html.escape(identifier)}</h2>{render_html(text, entities, colours)}</section>"
        for identifier, text, entities in documents
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f'<body style="max-width:60em;margin:2em auto;padding:0 1em"><h1 style="font:bold 20px sans-serif">{html.escape(title)}'
        f"</h1>{_legend(counts, colours)}{sections}</body></html>\n"
    )


@dataclass(frozen=True)
class HTMLFragment:
    """HTML that a notebook renders in place (through `_repr_html_`); `str()` gives the markup."""

    markup: str

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup


def show(text: str, entities: Sequence[Mapping[str, Any]]) -> HTMLFragment:
    """One call to see a pipeline's output in a notebook: `show(text, ner(text))`."""
    return HTMLFragment(render_html(text, entities))
