"""Evaluation entry point: ``python evaluate.py ...`` runs ``srunear.evaluation.main()``.

Why the odd code below: this file sits at the repository root and is called
``evaluate.py``, while the project also depends on the Hugging Face ``evaluate`` library.
Any process started from the repository root (``python -c ...``, ``pytest``, or this
script itself) has the root on ``sys.path``, so ``import evaluate`` would find this file
instead of the library. When imported under the name ``evaluate``, this module therefore
swaps itself out of ``sys.modules`` for the real library, which the importer then
receives (the import system hands back whatever ``sys.modules`` holds once a module has
executed). When run as a script it does the same swap first, so code it calls can
``import evaluate`` normally.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

_LIBRARY = "evaluate"


def _shadowing_dirs() -> set[str]:
    """Directories from which ``import evaluate`` would find this file rather than the library."""
    return {os.path.realpath(os.path.dirname(os.path.abspath(__file__))), os.path.realpath(os.getcwd())}


def _is_shadowing(entry: str, shadowing: set[str]) -> bool:
    # '' stands for the current directory on sys.path.
    return os.path.realpath(entry or os.curdir) in shadowing


def load_real_library() -> ModuleType:
    """Import the real ``evaluate`` library with this file hidden, and register it in ``sys.modules``."""
    current = sys.modules.get(_LIBRARY)
    if current is not None and os.path.realpath(getattr(current, "__file__", "") or "") != os.path.realpath(
        __file__
    ):
        return current
    shadowing = _shadowing_dirs()
    saved_path = list(sys.path)
    sys.modules.pop(_LIBRARY, None)
    sys.path[:] = [entry for entry in saved_path if not _is_shadowing(entry, shadowing)]
    try:
        library = importlib.import_module(_LIBRARY)
    except ImportError as error:
        raise ImportError(
            "the Hugging Face `evaluate` library is not installed; the repository's evaluate.py "
            "is only the srunear evaluation script and cannot stand in for it"
        ) from error
    finally:
        sys.path[:] = saved_path
    sys.modules[_LIBRARY] = library
    return library


if __name__ == _LIBRARY:
    load_real_library()
elif __name__ == "__main__":
    load_real_library()
    from srunear.evaluation import main

    raise SystemExit(main())
