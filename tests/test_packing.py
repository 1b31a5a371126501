"""Fitting sentences to the encoder: split the too long between mentions, merge a document's short ones."""

from __future__ import annotations

import random
from collections import Counter

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenization import EXAMPLE_FEATURES, PackCounts, ReadReport, SourceConfig, pack_rows
from tokenization.packing import balance_groups, greedy_groups, merge_rows, piece_bounds, split_row


def row(tokens, spans=(), doc_id="d1", text=None):
    """A schema row; with `text`, offsets of space-separated tokens."""
    offsets, position = [], 0
    for token in tokens:
        offsets.append([position, position + len(token)])
        position += len(token) + 1
    return {"tokens": list(tokens), "spans": [{"start": s, "end": e, "type": t} for s, e, t in spans],
            "source": "src", "text": " ".join(tokens) if text else "", "offsets": offsets if text else [],
            "doc_id": doc_id}


def mentions(rows):
    """Every span as (document, type, its words): what must survive splitting and merging."""
    return Counter((r["doc_id"], s["type"], tuple(r["tokens"][s["start"]:s["end"]])) for r in rows for s in r["spans"])


# --------------------------------------------------------------------------- splitting


def test_pieces_end_between_mentions_when_the_budget_allows():
    assert piece_bounds([1] * 10, [(3, 7)], budget=5) == [(0, 3), (3, 8), (8, 10)]
    assert piece_bounds([2, 2, 2], [], budget=6) == [(0, 3)]


def test_a_mention_longer_than_the_budget_is_cut_and_counted():
    report = PackCounts()
    long = row("a b c d e f g h".split(), [(0, 8, "Outer"), (1, 2, "Inner"), (6, 8, "Tail")])
    pieces = split_row(long, [1] * 8, budget=3, report=report)
    assert [piece["tokens"] for piece, _ in pieces] == [["a", "b", "c"], ["d", "e", "f"], ["g", "h"]]
    assert mentions(piece for piece, _ in pieces) == Counter({("d1", "Inner", ("b",)): 1, ("d1", "Tail", ("g", "h")): 1})
    assert (report.split_sentences, report.pieces, report.cut_mentions, report.unsplittable_words) == (1, 3, 1, 0)


def test_a_word_over_the_budget_by_itself_is_dropped_with_its_mentions():
    report = PackCounts()
    pieces = split_row(row(["x", "huge", "y"], [(1, 2, "T"), (2, 3, "T")]), [1, 9, 1], budget=4, report=report)
    assert [piece["tokens"] for piece, _ in pieces] == [["x"], ["y"]]
    assert report.unsplittable_words == 1 and report.cut_mentions == 1
    assert pieces[1][0]["spans"] == [{"start": 0, "end": 1, "type": "T"}]


def test_pieces_keep_text_and_offsets_aligned():
    pieces = split_row(row("one two three four".split(), [(2, 4, "T")], text=True), [1, 1, 1, 1], 2, PackCounts())
    for piece, _ in pieces:
        assert [piece["text"][a:b] for a, b in piece["offsets"]] == piece["tokens"]
    assert pieces[1][0]["text"] == "three four"


# --------------------------------------------------------------------------- merging


def test_greedy_merge_then_balance_keeps_the_count_and_evens_the_sizes():
    lengths = [2, 2, 2, 2, 2, 4]

    def size(a, b):
        return sum(lengths[a:b])

    def fits(a, b):
        return size(a, b) <= 10

    greedy = greedy_groups(lengths, fits)
    assert greedy == [(0, 5), (5, 6)]
    assert balance_groups(greedy, size, fits) == [(0, 4), (4, 6)]


def test_merged_rows_have_a_separator_word_no_span_covers():
    merged = merge_rows([row(["a", "b"], [(1, 2, "X")], text=True), row(["c"], [(0, 1, "Y")], text=True)], "[SEP]")
    assert merged["tokens"] == ["a", "b", "[SEP]", "c"]
    assert merged["spans"] == [{"start": 1, "end": 2, "type": "X"}, {"start": 3, "end": 4, "type": "Y"}]
    assert [merged["text"][a:b] for a, b in merged["offsets"]] == merged["tokens"]


def test_pack_rows_merges_only_within_a_document_and_within_the_limit():
    rows = [row(["a"] * 3, doc_id="d1"), row(["b"] * 3, doc_id="d1"), row(["c"] * 3, doc_id="d1"),
            row(["d"] * 2, doc_id="d2")]
    counts = [[1] * len(r["tokens"]) for r in rows]
    packed, report = pack_rows(rows, counts, limit=10, special=2, separator="[SEP]", separator_count=1)
    # budget 8: two sentences of 3 plus a separator fit (7), three do not (11)
    assert [r["tokens"] for r in packed] == [["a"] * 3 + ["[SEP]"] + ["b"] * 3, ["c"] * 3, ["d"] * 2]
    assert report.merged_examples == 1
    unmerged, _ = pack_rows(rows, counts, limit=10, special=2)
    assert unmerged == rows


# --------------------------------------------------------------------------- with the encoder's tokenizer


def corpus(seed=0, documents=6, long_sentence=True):
    """Sentences of several documents with nested mentions; one sentence far over a 48-subword limit."""
    rng = random.Random(seed)
    words = "the of cells protein kinase binds IL-2 receptor alpha in patients with NF-kappaB".split()
    rows = []
    for document in range(documents):
        for _ in range(rng.randint(1, 6)):
            tokens = [rng.choice(words) for _ in range(rng.randint(3, 14))]
            start = rng.randrange(len(tokens) - 1)
            spans = [(start, start + 2, "Gene"), (start, start + 1, "Disease")]
            rows.append(row(tokens, spans, doc_id=f"doc{document}"))
    if long_sentence:
        tokens = [rng.choice(words) for _ in range(80)]
        rows.append(row(tokens, [(10, 13, "Gene"), (40, 42, "Disease"), (44, 45, "Gene")], doc_id="doc_long"))
    return rows


def split_data(rows, documents):
    from srunear.splits import SplitData

    report = ReadReport("src", "test", documents=documents, sentences=len(rows), examples=len(rows))
    return SplitData(datasets.Dataset.from_list(rows, features=EXAMPLE_FEATURES), report)


@pytest.mark.parametrize("merge", [True, False])
def test_fit_split_fits_the_limit_and_keeps_every_mention(tokenizer, merge):
    from srunear.splits import fit_split
    from srunear.prediction import subword_lengths

    rows = corpus()
    source = SourceConfig("src", "jsonl_nested", {"test": "x"}, merge_sentences="auto" if merge else False)
    fitted = fit_split(split_data(rows, documents=7), source, tokenizer, limit=48)
    packed = fitted.dataset.to_list()
    assert max(subword_lengths(tokenizer, [r["tokens"] for r in packed])) <= 48
    assert mentions(packed) == mentions(rows) and fitted.cut_mentions == 0
    assert fitted.report.counts["split"] == 1 and "doc_long: 80 words" in fitted.report.summary()
    separators = [i for r in packed for i, token in enumerate(r["tokens"]) if token == tokenizer.sep_token]
    assert bool(separators) == merge
    for r in packed:  # no span covers a separator, and no example mixes documents
        covered = {i for s in r["spans"] for i in range(s["start"], s["end"])}
        assert not covered & {i for i, token in enumerate(r["tokens"]) if token == tokenizer.sep_token}
    if merge:
        assert len(packed) < len(rows) and fitted.report.examples == len(packed)
        unpacked = [token for r in packed for token in r["tokens"] if token != tokenizer.sep_token]
        assert unpacked == [token for r in rows for token in r["tokens"]]  # order kept, nothing lost


def test_auto_does_not_merge_a_corpus_without_document_ids(tokenizer):
    from srunear.splits import fit_split

    rows = [{**r, "doc_id": "src:test"} for r in corpus(long_sentence=False)]
    fitted = fit_split(split_data(rows, documents=1), SourceConfig("src", "iob", {"test": "x"}), tokenizer, limit=48)
    assert fitted.dataset.to_list() == rows


def test_merged_and_unmerged_scoring_count_the_same_gold(tokenizer, tiny_model):
    """Scores are computed on fitted examples; their gold is exactly the corpus's, split or merged."""
    from srunear.evaluation import evaluate_model
    from srunear.splits import fit_split

    rows = [{**r, "source": "all"} for r in corpus(seed=1)]
    rows[-1]["spans"].append({"start": 0, "end": 60, "type": "Chemical"})  # longer than the limit: cut, then missed
    data = split_data(rows, documents=7)
    support = {}
    for merge in ("auto", False):
        source = SourceConfig("all", "jsonl_nested", {"test": "x"}, merge_sentences=merge)
        fitted = fit_split(data, source, tokenizer, limit=48)
        assert fitted.cut_mentions == 1
        report = evaluate_model(tiny_model, tokenizer, {"all": fitted})
        types = report["sources"]["all"]["types"]
        support[merge] = {name: block["support"] for name, block in types.items() if block["support"]}
    gold = Counter(s["type"] for r in rows for s in r["spans"])
    assert support["auto"] == support[False]
    assert sum(support["auto"].values()) + 1 == sum(gold.values())  # the cut mention counts as missed in micro


def test_subset_of_a_merged_corpus_takes_whole_documents_in_order():
    from srunear.splits import subset_indices

    doc_ids = ["a", "a", "a", "b", "b", "c", "c", "c", "c"]
    chosen = subset_indices(doc_ids, 5, seed=3)
    assert len(chosen) == 5 and chosen == subset_indices(doc_ids, 5, seed=3)
    runs = [doc_ids[i] for i in chosen]
    starts = [d for i, d in enumerate(runs) if i == 0 or runs[i - 1] != d]
    assert len(starts) == len(set(starts))  # each document in one block
    for d in set(runs):  # a document's sentences stay in file order, from its first one
        picked = [i for i in chosen if doc_ids[i] == d]
        assert picked == list(range(doc_ids.index(d), doc_ids.index(d) + len(picked)))
    assert subset_indices(doc_ids, 4, seed=None) == [0, 1, 2, 3]


@settings(max_examples=300, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=30), limit=st.integers(1, 60), whole=st.booleans())
def test_spread_subset_takes_examples_from_the_whole_split(sizes, limit, whole):
    """Dev examples kept by `eval_subset: spread`: at most `limit` (all when fewer), in file order, from every
    part of the split; for merged corpora whole documents, each from its first sentence."""
    from srunear.splits import spread_indices

    doc_ids = [f"d{d}" for d, size in enumerate(sizes) for _ in range(size)]
    chosen = spread_indices(doc_ids, limit, whole)
    assert chosen == sorted(set(chosen)) and 0 < len(chosen) <= limit
    assert chosen == spread_indices(doc_ids, limit, whole)  # no randomness: every run selects on the same ones
    if len(doc_ids) <= limit:
        assert chosen == list(range(len(doc_ids)))
        return
    assert chosen[0] == 0
    if not whole:  # exactly `limit`, with gaps of at most ceil(n / limit): no stretch of the split is skipped
        gaps = [b - a for a, b in zip(chosen, chosen[1:])] + [len(doc_ids) - chosen[-1]]
        assert len(chosen) == limit and max(gaps) <= -(-len(doc_ids) // limit)
        return
    picked = sorted({int(doc_ids[i][1:]) for i in chosen})
    if picked == [0] and sizes[0] > limit:  # one document longer than the limit: its first sentences
        assert chosen == list(range(limit))
        return
    starts = [doc_ids.index(f"d{d}") for d in picked]
    assert chosen == [i for d, start in zip(picked, starts) for i in range(start, start + sizes[d])]  # whole
    # k documents at floor(i * D / k): evenly spaced, so with two or more the last is in the second half;
    # the largest such k whose documents fit in the limit
    k, count = len(picked), len(sizes)
    assert picked == [i * count // k for i in range(k)]
    assert all(sum(sizes[i * count // j] for i in range(j)) > limit for j in range(k + 1, count))


def test_spread_dev_subset_of_a_corpus_stored_paper_by_paper(tmp_path):
    """The case that asked for it: the first dev sentences are one paper; `spread` draws from all of them."""
    from srunear.experiment import load_experiment
    from srunear.splits import load_split

    papers = [("potato", 40), ("mouse", 30), ("human", 30)]
    lines = []
    for word, count in papers:
        lines += [f"{word}\tB-Species\nsentence\tO\n" for _ in range(count)]
    (tmp_path / "dev.tsv").write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "train.tsv").write_text("x\tO\n", encoding="utf-8")
    config = tmp_path / "e.yaml"
    config.write_text("encoder: minilm\ntraining: {max_eval_examples: 10}\nsources:\n  - name: l\n    format: iob\n"
                      "    paths: {train: train.tsv, dev: dev.tsv}\n", encoding="utf-8")
    experiment = load_experiment(config)
    first = load_split(experiment, "dev", 10)["l"].dataset["tokens"]
    spread = load_split(experiment, "dev", 10, spread=True)["l"].dataset["tokens"]
    assert {t[0] for t in first} == {"potato"}
    assert [t[0] for t in spread] == ["potato"] * 4 + ["mouse"] * 3 + ["human"] * 3
    with pytest.raises(ValueError, match="training.eval_subset must be 'first' or 'spread', got 'random'"):
        load_experiment(config, ["training.eval_subset=random"])


def test_predict_spans_tags_a_sentence_over_the_limit_in_pieces(tmp_path, tokenizer):
    """Limit 24 subwords = 22 words of "a": 44 of them are tagged as two 22-word pieces, spans shifted back."""
    from helpers import save_nudged_tiny_model

    from modeling_srunear import SRUNERModel
    from srunear.prediction import predict_spans, subword_lengths

    model = SRUNERModel.from_pretrained(save_nudged_tiny_model(tmp_path / "model", tokenizer))
    assert model.config.max_subword_tokens == 24 and subword_lengths(tokenizer, [["a"] * 44]) == [46]
    piece, whole = predict_spans(model, tokenizer, [{"tokens": ["a"] * 22}, {"tokens": ["a"] * 44}], batch_size=1)
    assert piece, "the nudged model finds Gene spans"
    expected = [span[:3] for span in piece] + [(s + 22, e + 22, t) for s, e, t, _ in piece]
    assert [span[:3] for span in whole] == expected
