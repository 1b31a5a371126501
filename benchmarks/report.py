"""What every benchmark's report needs: results and tables written atomically, figures saved the same way.

A benchmark can be stopped at any moment (Ctrl-C, a deadline, a killed job): each file it
writes is either the previous complete version or the new complete one, never half of one.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from srunear.files import atomic_write  # noqa: E402

__all__ = ["atomic_write", "save_figure", "write_json"]


def write_json(path: Path, data: Any, indent: int = 2, sort_keys: bool = False) -> None:
    """``data`` as indented JSON with a final newline."""
    atomic_write(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")


def save_figure(figure: Any, path: Path, dpi: int = 110) -> None:
    """A matplotlib figure as PNG; the figure is closed afterwards, written or not."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(figure)
    atomic_write(path, buffer.getvalue())
