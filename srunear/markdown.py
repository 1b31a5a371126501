"""Markdown tables for reports and model cards: one escaping rule, so no value can break a table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["markdown_cell", "markdown_row", "markdown_table_lines"]


def markdown_cell(value: Any) -> str:
    """A table cell: pipes escaped and line breaks flattened (odd source or type names stay one cell)."""
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(markdown_cell(cell) for cell in cells) + " |"


def markdown_table_lines(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Header, separator and rows of a left-aligned table."""
    return [markdown_row(header), markdown_row(["---"] * len(header)), *(markdown_row(row) for row in rows)]
