"""Sentence and word splitting keeps exact character offsets into the caller's text."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling_srunear import text_segmentation as seg
from modeling_srunear.text_segmentation import (
    sentence_boundaries_regex,
    spans_from_boundaries,
    split_sentences,
    split_words,
)

# Text that looks like what the splitters meet: words, punctuation, abbreviations, odd spaces.
_PIECES = st.sampled_from(
    ["Dr.", "e.g.", "E. coli", "IL-2", "p53", "5.", "Hello", "world", "(", ")", "!", "?", ".", ",", "\u03b1",
     "\u65e5\u672c", " ", "  ", "\n", "\n\n", "\t", "\u00a0", "\u2028", "A", "1", "'", "\"", "caf\u00e9", "x"]
)
REALISTIC_TEXT = st.lists(_PIECES, max_size=40).map("".join)
ANY_TEXT = st.text(max_size=120)
TEXTS = st.one_of(REALISTIC_TEXT, ANY_TEXT)


def assert_words_exact(text: str, words: list[tuple[str, int, int]]) -> None:
    previous_end = 0
    for word, start, end in words:
        assert word and text[start:end] == word
        assert previous_end <= start < end
        previous_end = end


def assert_sentences_cover(text: str, spans: list[tuple[int, int]]) -> None:
    previous_end = 0
    covered = set()
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        assert not text[start].isspace() and not text[end - 1].isspace()
        covered.update(range(start, end))
        previous_end = end
    assert {i for i, char in enumerate(text) if not char.isspace()} <= covered


# --------------------------------------------------------------------------- words


def test_split_words_on_whitespace_and_punctuation():
    text = "IL-2 receptor (IL-2R), e.g. in T cells."
    words = split_words(text)
    assert [w for w, _, _ in words] == ["IL", "-", "2", "receptor", "(", "IL", "-", "2R", ")", ",", "e", ".", "g", ".", "in", "T", "cells", "."]
    assert_words_exact(text, words)


@pytest.mark.parametrize("text", ["", " ", "\n\t  \u00a0"])
def test_split_words_empty(text):
    assert split_words(text) == []


def test_split_words_unicode_offsets_are_characters():
    text = "  caf\u00e9 \u00e0 \U0001F600 \u65e5\u672c\u8a9e!"
    words = split_words(text)
    assert_words_exact(text, words)
    assert [w for w, _, _ in words] == ["caf\u00e9", "\u00e0", "\U0001F600", "\u65e5\u672c\u8a9e", "!"]


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_split_words_offsets_property(text):
    assert_words_exact(text, split_words(text))


# --------------------------------------------------------------------------- sentences


def test_split_sentences_basic():
    text = "  Dr. Smith saw E. coli cells.  They grew fast!\nNext one?  Yes. "
    spans = split_sentences(text)
    assert_sentences_cover(text, spans)
    sentences = [text[s:e] for s, e in spans]
    assert sentences[-1] == "Yes."
    assert "They grew fast!" in sentences


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_split_sentences_empty(text):
    assert split_sentences(text) == []


def test_repeated_sentences_map_to_their_own_place():
    text = "E. coli is a bacterium. E. coli is a bacterium. E. coli is a bacterium."
    spans = split_sentences(text)
    assert_sentences_cover(text, spans)
    assert len(spans) == 3
    assert [text[s:e] for s, e in spans] == ["E. coli is a bacterium."] * 3


def test_regex_fallback_rule():
    text = "It rose 5.2 percent. Then it fell! 3 days later it rose? no. The end"
    spans = spans_from_boundaries(text, sentence_boundaries_regex(text))
    assert [text[s:e] for s, e in spans] == [
        "It rose 5.2 percent.",
        "Then it fell!",
        "3 days later it rose? no.",
        "The end",
    ]


def test_fallback_used_without_pysbd(monkeypatch):
    monkeypatch.setattr(seg, "HAS_PYSBD", False)
    text = "First one. Second one.\n\nthird after a blank line"
    assert [text[s:e] for s, e in split_sentences(text)] == ["First one.", "Second one.", "third after a blank line"]


def test_wrong_pysbd_spans_are_repaired(monkeypatch):
    """A segmenter reporting wrong char spans (and altered whitespace) still yields exact offsets."""
    text = "Alpha beta.  Gamma  delta. Alpha beta."
    bogus = [
        SimpleNamespace(sent="Alpha beta. ", start=0, end=12),
        SimpleNamespace(sent="Gamma delta. ", start=0, end=13),  # wrong start, one space lost
        SimpleNamespace(sent="Alpha beta.", start=0, end=11),  # points at the first occurrence
    ]
    monkeypatch.setattr(seg, "HAS_PYSBD", True)
    monkeypatch.setattr(seg, "_pysbd_segmenter", lambda: SimpleNamespace(segment=lambda _: bogus))
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["Alpha beta.", "Gamma  delta.", "Alpha beta."]
    assert spans[2] == (27, 38)


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_split_sentences_cover_property(text):
    assert_sentences_cover(text, split_sentences(text))


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_regex_sentences_cover_property(text):
    assert_sentences_cover(text, spans_from_boundaries(text, sentence_boundaries_regex(text)))


@settings(max_examples=100, deadline=None)
@given(TEXTS)
def test_words_inside_sentences_keep_offsets(text):
    """The reader's composition: words of each sentence, shifted back into the document."""
    for start, end in split_sentences(text):
        for word, word_start, word_end in split_words(text[start:end]):
            assert text[start + word_start : start + word_end] == word


# --------------------------------------------------------------------------- shipping as remote code


def test_module_is_self_contained():
    """Remote code may import only the standard library, tokenizers and (guarded) pysbd."""
    tree = ast.parse(Path(seg.__file__).read_text(encoding="utf-8"))
    allowed = set(sys.stdlib_module_names) | {"tokenizers", "pysbd"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports break remote code"
            names = [node.module or ""]
        else:
            continue
        assert {name.split(".")[0] for name in names} <= allowed, names
    guarded = [n for n in ast.walk(tree) if isinstance(n, ast.Try)
               and any(isinstance(s, ast.Import) and s.names[0].name == "pysbd" for s in n.body)]
    assert guarded and any(h.type.id == "ImportError" for h in guarded[0].handlers)


def test_works_without_pysbd(monkeypatch):
    """Importing with pysbd missing falls back to the regex rule instead of failing."""
    import importlib.util

    monkeypatch.setitem(sys.modules, "pysbd", None)  # makes `import pysbd` raise ImportError
    spec = importlib.util.spec_from_file_location("text_segmentation_without_pysbd", seg.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.HAS_PYSBD is False
    text = "One here. Two there."
    assert [text[s:e] for s, e in module.split_sentences(text)] == ["One here.", "Two there."]


def test_single_sentences_skip_the_segmenter(monkeypatch):
    """No sentence-final punctuation or break before the last character: one sentence, pysbd not run."""
    def fail(text):
        raise AssertionError(f"segmenter called on {text!r}")

    monkeypatch.setattr(seg, "_pysbd_boundaries", fail)
    monkeypatch.setattr(seg, "sentence_boundaries_regex", fail)
    text = "  Mutations in the BRCA1 gene (chromosome 17q21) cause breast cancer ! "
    assert split_sentences(text) == [(2, len(text) - 1)]
    with pytest.raises(AssertionError, match="segmenter called"):
        split_sentences("Dr. Smith saw it. Then he left.")


@pytest.mark.skipif(not seg.HAS_PYSBD, reason="pysbd is not installed")
def test_fast_path_agrees_with_pysbd_on_real_sentences(shared_data):
    from tokenization import read_source

    path = shared_data / "ncbi_disease" / "test.tsv"
    rows, _ = read_source({"name": "ncbi", "format": "iob", "paths": {"test": str(path)}}, "test")
    texts = [" ".join(row["tokens"]) for row in rows[:400]]
    fast = [text for text in texts if not seg._POSSIBLE_BREAK.search(text, 0, len(text.rstrip()) - 1)]
    assert len(fast) > len(texts) // 2  # the fast path is the common case
    for text in fast:
        assert split_sentences(text) == spans_from_boundaries(text, seg._pysbd_boundaries(text)), text


# --------------------------------------------------------------------------- long texts

def _abstract_like_text(sentences: int) -> str:
    """Sentences with abbreviations and numbers, the cases where a splitter needs context."""
    templates = ["Mutations in BRCA{0} (e.g. c.{0}del) were seen in {0} patients, i.e. most of them.",
                 "Dr. Smith et al. treated mice with 5 mg/kg cisplatin vs. placebo for {0} days!",
                 "Was IL-{0} raised in Fig. {0}?", "The p53 protein binds DNA at pos. {0} of chr. 17."]
    return " ".join(templates[i % len(templates)].format(i) for i in range(sentences))


@pytest.mark.skipif(not seg.HAS_PYSBD, reason="pysbd is not installed")
def test_pysbd_sees_bounded_pieces_and_finds_the_same_sentences(monkeypatch):
    text = _abstract_like_text(300)
    assert len(text) > 8 * seg.PYSBD_WINDOW
    whole = seg._pysbd_boundaries(text, window=len(text) + 1)
    seen = []
    window_boundaries = seg._pysbd_window_boundaries

    def recording(piece):
        seen.append(len(piece))
        return window_boundaries(piece)

    monkeypatch.setattr(seg, "_pysbd_window_boundaries", recording)
    assert split_sentences(text) == spans_from_boundaries(text, whole)
    assert max(seen) <= seg.PYSBD_WINDOW  # time per character cannot grow with the text
    assert sum(seen) < 1.2 * len(text)  # and each character is segmented about once


@pytest.mark.skipif(not seg.HAS_PYSBD, reason="pysbd is not installed")
def test_a_sentence_longer_than_the_window_is_cut_at_a_space():
    text = "Start here. " + " ".join(f"word{i}" for i in range(1000)) + ". End here."
    spans = split_sentences(text)
    assert_sentences_cover(text, spans)
    assert [text[s:e] for s, e in spans][0] == "Start here."
    assert all(e - s <= seg.PYSBD_WINDOW for s, e in spans)
    assert all(text[e] == " " for s, e in spans[1:-2])  # cuts fall on spaces, never inside a word


@pytest.mark.skipif(not seg.HAS_PYSBD, reason="pysbd is not installed")
def test_windows_agree_with_whole_text_pysbd_on_real_abstracts(shared_data):
    from tokenization.pubtator import parse_pubtator

    text = "\n".join(document.text for document in parse_pubtator(shared_data / "biored" / "dev.pubtator"))[:30000]
    assert seg._pysbd_boundaries(text) == seg._pysbd_boundaries(text, window=len(text) + 1)


def test_find_surrogate():
    assert seg.find_surrogate("p53 \U0001f9ec binds") is None
    assert seg.find_surrogate("ab\udc80c\ud800") == 2
