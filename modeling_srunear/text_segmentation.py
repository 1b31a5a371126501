"""Split raw text into sentences and words, keeping character offsets into the original text.

This module ships as Hugging Face remote code next to the model, so it depends only on the
standard library, `tokenizers`, and (optionally) `pysbd`. Every offset it returns indexes the
caller's string: `text[start:end]` is exactly the word or sentence, whatever the segmenter did.
"""

from __future__ import annotations

import re
from functools import lru_cache

from tokenizers.pre_tokenizers import BertPreTokenizer

try:  # pysbd is optional: a better English sentence splitter, but not needed to run the model.
    import pysbd
except ImportError:  # pragma: no cover - exercised only where pysbd is absent
    pysbd = None

__all__ = ["find_surrogate", "split_words", "split_sentences", "sentence_boundaries_regex", "strip_span", "HAS_PYSBD"]

HAS_PYSBD = pysbd is not None

# A sentence ends at . ! or ? (possibly repeated, possibly followed by closing quotes/brackets)
# when whitespace and then an upper-case letter or a digit follow.
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
# Characters a sentence break needs (sentence-final punctuation, line and tab breaks); a text
# with none of them before its last character is one sentence, and the segmenter is skipped.
_POSSIBLE_BREAK = re.compile(r"[.!?;:\n\r\t\v\f\u2026\u2028\u2029\u3002\uff01\uff1f]")
# pysbd sees at most this many characters at once (see `_pysbd_boundaries`); sentence ends
# closer than the margin to a window's edge are left to the next window.
PYSBD_WINDOW = 2000
WINDOW_MARGIN = 200
_SURROGATE = re.compile("[\ud800-\udfff]")


def find_surrogate(text: str) -> int | None:
    """Position of the first surrogate code point (which no UTF-8 encoder accepts), or None."""
    match = _SURROGATE.search(text)
    return match.start() if match else None


@lru_cache(maxsize=1)
def _word_splitter() -> BertPreTokenizer:
    """One shared pre-tokenizer: it is stateless and costly enough to build once."""
    return BertPreTokenizer()


@lru_cache(maxsize=1)
def _pysbd_segmenter():
    """One shared pysbd segmenter (building it compiles many regexes)."""
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Words of `text` as `(word, start, end)`, split on whitespace and punctuation.

    Uses BERT's pre-tokenizer so that word boundaries match what BERT-style encoders expect.
    Offsets are checked against the text (and re-found from a moving cursor if a tokenizers
    version ever reports them differently), so `text[start:end] == word` always holds.
    """
    if not text or text.isspace():
        return []
    words: list[tuple[str, int, int]] = []
    cursor = 0
    for word, (start, end) in _word_splitter().pre_tokenize_str(text):
        if start < cursor or text[start:end] != word:
            start = text.find(word, cursor)
            if start < 0:  # cannot happen for a pure splitter; never return a wrong offset
                continue
            end = start + len(word)
        words.append((word, start, end))
        cursor = end
    return words


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence character spans of `text`: stripped, in order, non-overlapping, covering all non-space text.

    Uses pysbd when installed, otherwise `sentence_boundaries_regex`. Only the segmenter's
    sentence *ends* are trusted; spans are rebuilt from them, so coverage holds by construction.
    A text without sentence-final punctuation or breaks before its last character is one
    sentence; pysbd is not run on it (it is slow, and most single sentences are like that).
    """
    if not text or text.isspace():
        return []
    body_end = len(text.rstrip())
    if not _POSSIBLE_BREAK.search(text, 0, body_end - 1):
        return spans_from_boundaries(text, [])
    ends = _pysbd_boundaries(text) if HAS_PYSBD else sentence_boundaries_regex(text)
    return spans_from_boundaries(text, ends)


def spans_from_boundaries(text: str, ends: list[int]) -> list[tuple[int, int]]:
    """Turn sentence end positions into stripped `(start, end)` spans covering the whole text."""
    spans: list[tuple[int, int]] = []
    previous = 0
    for boundary in sorted({min(max(end, 0), len(text)) for end in ends} | {len(text)}):
        if boundary <= previous:
            continue
        span = strip_span(text, previous, boundary)
        if span is not None:
            spans.append(span)
        previous = boundary
    return spans


def strip_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Shrink `[start, end)` to exclude surrounding whitespace; None when nothing is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def sentence_boundaries_regex(text: str) -> list[int]:
    """Sentence end positions by a simple rule: [.!?] then whitespace then a capital or a digit.

    Blank lines also end a sentence. This is the fallback when pysbd is not installed.
    """
    ends: list[int] = []
    for match in _SENTENCE_END.finditer(text):
        following = text[match.end() :].lstrip()
        if following and (following[0].isupper() or following[0].isdigit()):
            ends.append(match.end())
    ends.extend(match.start() for match in _BLANK_LINE.finditer(text))
    return sorted(ends)


def _pysbd_boundaries(text: str, window: int = PYSBD_WINDOW) -> list[int]:
    """Sentence end positions from pysbd, run on pieces of at most `window` characters.

    pysbd's time grows with the square of its input (40,000 characters: seconds), so a long
    text is fed in windows. Each window's last sentence may be cut by the window edge, so
    only the ends before it are kept, and the next window starts where the last kept
    sentence ended: every kept sentence was segmented with the text after it in view. A
    window in which pysbd finds no end it can keep (one sentence longer than the window)
    is cut at its last whitespace, which only splits a sentence far too long for the
    encoder anyway. Time per character therefore stays flat as texts grow.
    """
    ends: list[int] = []
    start = 0
    while len(text) - start > window:
        stop = start + window
        found = [start + end for end in _pysbd_window_boundaries(text[start:stop])]
        kept = [end for end in found[:-1] if start < end <= stop - WINDOW_MARGIN]
        if not kept:
            cut = max(text.rfind(" ", start + 1, stop), text.rfind("\n", start + 1, stop))
            kept = [cut if cut > start else stop]
        ends.extend(kept)
        start = kept[-1]
    ends.extend(start + end for end in _pysbd_window_boundaries(text[start:]))
    return ends


def _pysbd_window_boundaries(text: str) -> list[int]:
    """Sentence end positions from pysbd, each checked against (or re-found in) `text`.

    pysbd's char spans are not always right (repeated sentences, altered whitespace), so a
    span is trusted only if it reproduces its sentence at or after the cursor; otherwise the
    sentence is searched from the cursor, and as a last resort located by counting its
    non-space characters, which never drifts while pysbd keeps the characters themselves.
    """
    ends: list[int] = []
    cursor = 0
    for piece in _pysbd_segmenter().segment(text):
        sentence = piece.sent.strip()
        if not sentence:
            continue
        end = _locate_sentence_end(text, sentence, cursor, piece.start, piece.end)
        ends.append(end)
        cursor = end
    return ends


def _locate_sentence_end(text: str, sentence: str, cursor: int, start: int, end: int) -> int:
    """Where `sentence` (stripped) ends in `text`, searching no earlier than `cursor`."""
    if start >= cursor and text[start:end].strip() == sentence:
        return start + text[start:end].index(sentence) + len(sentence)
    found = text.find(sentence, cursor)
    if found == cursor or (found > cursor and text[cursor:found].isspace()):
        return found + len(sentence)
    return _end_after_non_space(text, cursor, sum(not c.isspace() for c in sentence))


def _end_after_non_space(text: str, cursor: int, count: int) -> int:
    """Position just after the `count`-th non-space character at or after `cursor`."""
    position = cursor
    while position < len(text) and count > 0:
        if not text[position].isspace():
            count -= 1
        position += 1
    return position
