"""Fit sentences to the encoder's input: split the too long, merge the short (the paper's "maximize").

A sentence whose subwords exceed the limit is split into pieces, cutting only between mentions
where the budget allows; a mention that is longer than the limit by itself has to be cut, and
is counted (`cut_mention`) rather than trained on or scored as a fragment. Consecutive sentences
of one document are then merged while they fit, with a separator word between them (the
tokenizer's SEP token, as a word of its own that no span covers), and the merged lengths are
evened out without changing their number, so that batches waste little padding.

Everything works on schema rows and per-word subword counts that the caller computes with its
tokenizer, so this package needs no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PackCounts", "balance_groups", "greedy_groups", "merge_rows", "pack_rows", "piece_bounds", "split_row"]

Row = dict[str, Any]


@dataclass
class PackCounts:
    """What fitting changed: split sentences and their pieces, mentions cut, words dropped, merges."""

    split_sentences: int = 0
    pieces: int = 0
    cut_mentions: int = 0
    unsplittable_words: int = 0
    merged_examples: int = 0  # examples made of more than one sentence
    samples: list[str] = field(default_factory=list)


def piece_bounds(counts: Sequence[int], spans: Sequence[tuple[int, int]], budget: int) -> list[tuple[int, int]]:
    """Word ranges covering a sentence, each within `budget` subwords where one word allows.

    Greedy left to right: a piece grows while it fits and ends at the last position no span
    crosses; only when no such position exists is a span cut. A single word over the budget
    becomes a piece of its own (the caller decides what to do with it).
    """
    crossed = [False] * (len(counts) + 1)
    for start, end in spans:
        for position in range(start + 1, end):
            crossed[position] = True
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < len(counts):
        end, total, last_free = start, 0, None
        while end < len(counts) and total + counts[end] <= budget:
            total += counts[end]
            end += 1
            if not crossed[end]:
                last_free = end
        if end == len(counts):
            bounds.append((start, end))
            break
        cut = max(end, start + 1) if last_free is None else last_free
        bounds.append((start, cut))
        start = cut
    return bounds


def _span_bounds(row: Row) -> list[tuple[int, int]]:
    return [(span["start"], span["end"]) for span in row["spans"]]


def _crop(row: Row, start: int, end: int) -> Row:
    """Words `start:end` of a row, with the spans that lie inside and the text they cover."""
    spans = [{**span, "start": span["start"] - start, "end": span["end"] - start}
             for span in row["spans"] if start <= span["start"] and span["end"] <= end]
    text, offsets = "", []
    if row["offsets"]:
        base, last = row["offsets"][start][0], row["offsets"][end - 1][1]
        text = row["text"][base:last]
        offsets = [[a - base, b - base] for a, b in row["offsets"][start:end]]
    return {**row, "tokens": list(row["tokens"][start:end]), "spans": spans, "text": text, "offsets": offsets}


def split_row(row: Row, counts: Sequence[int], budget: int, report: PackCounts) -> list[tuple[Row, list[int]]]:
    """The row's pieces (with their word counts), each within `budget` subwords; changes are counted."""
    if sum(counts) <= budget:
        return [(row, list(counts))]
    bounds = piece_bounds(counts, _span_bounds(row), budget)
    pieces = [(_crop(row, a, b), list(counts[a:b])) for a, b in bounds if sum(counts[a:b]) <= budget]
    for a, b in bounds:
        if sum(counts[a:b]) > budget:
            report.unsplittable_words += b - a
    kept = sum(len(piece["spans"]) for piece, _ in pieces)
    report.cut_mentions += len(row["spans"]) - kept
    report.split_sentences += 1
    report.pieces += len(pieces)
    if len(report.samples) < 3:
        report.samples.append(f"{row['doc_id']}: {len(row['tokens'])} words, {sum(counts)} subwords"
                              f" -> {len(pieces)} pieces, {len(row['spans']) - kept} mentions cut")
    return pieces


def greedy_groups(lengths: Sequence[int], fits) -> list[tuple[int, int]]:
    """Consecutive index ranges, each extended while `fits(start, end)` holds (fewest groups)."""
    groups: list[tuple[int, int]] = []
    start = 0
    while start < len(lengths):
        end = start + 1
        while end < len(lengths) and fits(start, end + 1):
            end += 1
        groups.append((start, end))
        start = end
    return groups


def balance_groups(groups: list[tuple[int, int]], size, fits) -> list[tuple[int, int]]:
    """Move sentences between neighbouring groups while that lowers the sum of squared sizes.

    The number of groups stays the same and no group empties; every move keeps both groups
    within the limit. The cost falls strictly at every move, so this ends.
    """
    groups = list(groups)
    moved = True
    while moved:
        moved = False
        for g in range(len(groups) - 1):
            (a, b), (c, d) = groups[g], groups[g + 1]
            before = size(a, b) ** 2 + size(c, d) ** 2
            for left, right in (((a, b - 1), (b - 1, d)), ((a, b + 1), (b + 1, d))):
                if left[1] <= left[0] or right[1] <= right[0] or not (fits(*left) and fits(*right)):
                    continue
                if size(*left) ** 2 + size(*right) ** 2 < before:
                    groups[g], groups[g + 1] = left, right
                    moved = True
                    break
    return groups


def merge_rows(rows: Sequence[Row], separator: str) -> Row:
    """One row of consecutive sentences of a document, `separator` as a word between them."""
    if len(rows) == 1:
        return rows[0]
    tokens, spans, offsets, text = [], [], [], ""
    with_text = all(row["offsets"] for row in rows)
    for index, row in enumerate(rows):
        if index:
            tokens.append(separator)
            if with_text:
                text += " "
                offsets.append([len(text), len(text) + len(separator)])
                text += separator + " "
        shift, char_shift = len(tokens), len(text)
        tokens.extend(row["tokens"])
        spans.extend({**span, "start": span["start"] + shift, "end": span["end"] + shift} for span in row["spans"])
        if with_text:
            offsets.extend([a + char_shift, b + char_shift] for a, b in row["offsets"])
            text += row["text"]
    return {**rows[0], "tokens": tokens, "spans": spans, "text": text if with_text else "",
            "offsets": offsets if with_text else []}


def _documents(rows: Sequence[Row]) -> list[tuple[int, int]]:
    """Index ranges of consecutive rows sharing a document (and source)."""
    ranges: list[tuple[int, int]] = []
    for index, row in enumerate(rows):
        previous = rows[ranges[-1][0]] if ranges else None
        if previous is not None and (previous["doc_id"], previous["source"]) == (row["doc_id"], row["source"]):
            ranges[-1] = (ranges[-1][0], index + 1)
        else:
            ranges.append((index, index + 1))
    return ranges


def pack_rows(
    rows: Sequence[Row],
    word_counts: Sequence[Sequence[int]],
    limit: int,
    special: int,
    separator: str | None = None,
    separator_count: int = 1,
) -> tuple[list[Row], PackCounts]:
    """Rows that each fit `limit` subwords (`special` of them added by the tokenizer).

    Long rows are split (see `piece_bounds`); with a `separator`, consecutive rows of a
    document are then merged up to the limit, `separator_count` subwords per separator.
    """
    report = PackCounts()
    budget = limit - special
    pieces: list[tuple[Row, list[int]]] = []
    for row, counts in zip(rows, word_counts):
        pieces.extend(split_row(row, counts, budget, report))
    if separator is None:
        return [row for row, _ in pieces], report
    out: list[Row] = []
    for first, last in _documents([row for row, _ in pieces]):
        lengths = [sum(counts) for _, counts in pieces[first:last]]
        prefix = [0]
        for length in lengths:
            prefix.append(prefix[-1] + length)

        def size(a: int, b: int) -> int:
            return prefix[b] - prefix[a] + (b - a - 1) * separator_count

        def fits(a: int, b: int) -> bool:
            return size(a, b) <= budget

        for a, b in balance_groups(greedy_groups(lengths, fits), size, fits):
            out.append(merge_rows([row for row, _ in pieces[first + a : first + b]], separator))
            report.merged_examples += b - a > 1
    return out, report
