"""What train.py, evaluate.py and tag.py share: a user's mistake is one line on stderr, not a traceback.

A bad file, a missing folder or a wrong option raises ``ValueError`` or ``OSError`` somewhere
below the script (``CorpusFormatError``, ``TaggingError`` and ``FileNotFoundError`` among
them). The script prints ``error: <message>`` and exits with status 2, as argparse does for a
bad option. ``--debug`` (or ``SRUNEAR_DEBUG=1``) lets the traceback through, for bug reports.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["DEBUG_ENV", "USER_ERRORS", "add_debug_flag", "command_line", "one_line"]

DEBUG_ENV = "SRUNEAR_DEBUG"
USER_ERRORS = (ValueError, OSError)
EXIT_USER_ERROR = 2


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """The ``--debug`` option every script accepts (read by ``command_line``)."""
    parser.add_argument("--debug", action="store_true", help=f"show the traceback of an error (or set {DEBUG_ENV}=1)")


def one_line(error: BaseException) -> str:
    """The error's message on one line (some library messages span several); its type if it has none."""
    return " ".join(str(error).split()) or type(error).__name__


def _debugging(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def command_line(
    build_parser: Callable[[], argparse.ArgumentParser], intermixed: bool = False
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[Sequence[str] | None], int]]:
    """Turn ``main(args)`` into ``main(argv)``: ``build_parser()`` (plus ``--debug``) parses ``argv``
    (``intermixed``: options may follow the positionals), and user errors print ``error: ...`` and return 2."""

    def decorate(main: Callable[[argparse.Namespace], int]) -> Callable[[Sequence[str] | None], int]:
        @functools.wraps(main)
        def run(argv: Sequence[str] | None = None) -> int:
            arguments = list(sys.argv[1:] if argv is None else argv)
            parser = build_parser()
            add_debug_flag(parser)
            args = parser.parse_intermixed_args(arguments) if intermixed else parser.parse_args(arguments)
            try:
                return main(args)
            except USER_ERRORS as error:
                if _debugging(arguments):
                    raise
                print(f"error: {one_line(error)}", file=sys.stderr)
                return EXIT_USER_ERROR

        return run

    return decorate
