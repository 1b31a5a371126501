"""Hand-checked cases for srunear.metrics and its `evaluate` wrapper."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from srunear.metrics import (
    Counts,
    SourceData,
    as_span,
    evaluate_sources,
    markdown_table,
    source_report,
    span_prf,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
METRIC_DIR = REPO_ROOT / "metrics" / "srunear_span_f1"


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-9)


# --- counts and conventions -------------------------------------------------------------


def test_counts_zero_conventions() -> None:
    empty = Counts()
    assert (empty.precision, empty.recall, empty.f1, empty.support) == (0.0, 0.0, 0.0, 0)
    only_fp = Counts(fp=3)
    assert (only_fp.precision, only_fp.recall, only_fp.f1) == (0.0, 0.0, 0.0)
    only_fn = Counts(fn=2)
    assert (only_fn.precision, only_fn.recall, only_fn.f1, only_fn.support) == (0.0, 0.0, 0.0, 2)


def test_f1_is_harmonic_mean() -> None:
    counts = Counts(tp=3, fp=1, fn=2)
    p, r = 75.0, 60.0
    assert counts.precision == approx(p)
    assert counts.recall == approx(r)
    assert counts.f1 == approx(2 * p * r / (p + r))


def test_as_span_accepts_tuples_lists_and_dicts() -> None:
    assert as_span((1, 3, "PER")) == (1, 3, "PER")
    assert as_span([1, 3, "PER"]) == (1, 3, "PER")
    assert as_span({"start": 1, "end": 3, "type": "PER"}) == (1, 3, "PER")


@pytest.mark.parametrize("bad", [(3, 3, "PER"), (4, 2, "PER"), (-1, 2, "PER"), (1, 2), "abc"])
def test_as_span_rejects_malformed(bad: object) -> None:
    with pytest.raises(ValueError):
        as_span(bad)  # type: ignore[arg-type]


def test_misaligned_sentences_raise() -> None:
    with pytest.raises(ValueError, match="aligned"):
        span_prf([[], []], [[]])


# --- matching ---------------------------------------------------------------------------


def test_nested_spans_are_scored_independently() -> None:
    # "Bank of [China]" nested in an ORG; the model finds the outer but misses the inner.
    gold = [[(0, 3, "ORG"), (2, 3, "GPE")]]
    predicted = [[(0, 3, "ORG"), (2, 3, "LOC")]]
    scores = span_prf(gold, predicted)
    assert scores.per_type["ORG"] == Counts(tp=1)
    assert scores.per_type["GPE"] == Counts(fn=1)
    assert scores.per_type["LOC"] == Counts(fp=1)
    assert scores.micro == Counts(tp=1, fp=1, fn=1)
    assert scores.micro.f1 == approx(50.0)


def test_strict_boundaries_and_sentence_identity() -> None:
    gold = [[(0, 2, "PER")], [(5, 6, "LOC")]]
    # right offsets in the wrong sentence, and a boundary off by one: all wrong.
    predicted = [[(5, 6, "LOC"), (0, 3, "PER")], []]
    scores = span_prf(gold, predicted)
    assert scores.micro == Counts(tp=0, fp=2, fn=2)


def test_duplicate_predictions_count_once() -> None:
    gold = [[(0, 2, "PER")]]
    predicted = [[(0, 2, "PER"), (0, 2, "PER"), [0, 2, "PER"], (3, 4, "LOC"), (3, 4, "LOC")]]
    scores = span_prf(gold, predicted)
    assert scores.micro == Counts(tp=1, fp=1, fn=0)
    assert scores.micro.precision == approx(50.0)


def test_empty_gold() -> None:
    scores = span_prf([[], []], [[(0, 1, "PER")], []])
    assert scores.micro == Counts(fp=1)
    report = scores.to_dict()
    # a predicted-but-never-gold type stays in the table: its predictions are real errors
    assert report["types"] == {"PER": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}}
    assert report["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_empty_predictions() -> None:
    scores = span_prf([[(0, 1, "PER"), (2, 4, "ORG")]], [[]])
    assert scores.micro == Counts(fn=2)
    assert scores.to_dict()["types"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_nothing_at_all_scores_zero_with_empty_table() -> None:
    scores = span_prf([[]], [[]], types={"PER"})
    assert scores.to_dict() == {"types": {}, "micro": {"precision": 0.0, "recall": 0.0, "f1": 0.0}}
    assert scores.score("PER").support == 0 and scores.score("PER").f1 == 0.0


def test_types_outside_the_source_are_ignored() -> None:
    gold = [[(0, 2, "PER"), (3, 4, "DRUG")]]  # DRUG gold is outside this source's types too
    predicted = [[(0, 2, "PER"), (3, 4, "GENE"), (5, 6, "LOC")]]
    scores = span_prf(gold, predicted, types={"PER", "ORG"})
    assert set(scores.per_type) == {"PER"}
    assert scores.micro == Counts(tp=1)
    assert scores.micro.f1 == approx(100.0)


def test_unrepresentable_gold_int_counts_as_micro_misses() -> None:
    gold = [[(0, 2, "PER")]]
    predicted = [[(0, 2, "PER")]]
    scores = span_prf(gold, predicted, unrepresentable_gold=1)
    assert scores.micro == Counts(tp=1, fn=1)
    assert scores.micro.recall == approx(50.0)
    assert scores.micro.precision == approx(100.0)
    # untyped misses cannot be attributed to a type
    assert scores.per_type["PER"] == Counts(tp=1)


def test_unrepresentable_gold_by_type_respects_types() -> None:
    gold = [[(0, 2, "PER")]]
    predicted = [[(0, 2, "PER")]]
    scores = span_prf(gold, predicted, types={"PER", "ORG"}, unrepresentable_gold={"ORG": 2, "GENE": 5})
    assert scores.per_type["ORG"] == Counts(fn=2)
    assert "GENE" not in scores.per_type
    assert scores.micro == Counts(tp=1, fn=2)


def test_negative_unrepresentable_gold_raises() -> None:
    with pytest.raises(ValueError):
        span_prf([[]], [[]], unrepresentable_gold=-1)


# --- agreement with seqeval on flat BIO -------------------------------------------------


def bio_to_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """Spans of a well-formed IOB2 sequence (an entity starts at B- and continues through I-)."""
    spans, start, kind = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        continues = tag.startswith("I-") and tag[2:] == kind
        if start is not None and not continues:
            spans.append((start, i, kind))
            start, kind = None, None
        if tag.startswith("B-"):
            start, kind = i, tag[2:]
    return spans


def test_bio_to_spans_helper() -> None:
    assert bio_to_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]) == [
        (0, 2, "PER"),
        (3, 4, "LOC"),
        (4, 6, "LOC"),
    ]


def test_micro_f1_agrees_with_seqeval_on_flat_bio() -> None:
    seqeval_metrics = pytest.importorskip("seqeval.metrics")
    gold_tags = [
        ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG", "I-ORG"],
        ["O", "B-MISC", "O", "O", "B-PER"],
        ["B-LOC", "B-LOC", "O", "O"],
        ["O", "O", "O"],
    ]
    predicted_tags = [
        ["B-PER", "I-PER", "O", "B-ORG", "O", "B-ORG", "I-ORG", "O"],
        ["O", "B-MISC", "O", "O", "B-PER"],
        ["B-LOC", "I-LOC", "O", "B-PER"],
        ["O", "B-LOC", "O"],
    ]
    scores = span_prf(map(bio_to_spans, gold_tags), map(bio_to_spans, predicted_tags))
    assert scores.micro.f1 == approx(100 * seqeval_metrics.f1_score(gold_tags, predicted_tags))
    assert scores.micro.precision == approx(100 * seqeval_metrics.precision_score(gold_tags, predicted_tags))
    assert scores.micro.recall == approx(100 * seqeval_metrics.recall_score(gold_tags, predicted_tags))
    per_type = seqeval_metrics.classification_report(gold_tags, predicted_tags, output_dict=True)
    for entity_type, row in scores.to_dict()["types"].items():
        if row["support"]:
            assert row["f1"] == approx(100 * per_type[entity_type]["f1-score"])
            assert row["support"] == per_type[entity_type]["support"]


# --- multi-source report and table ------------------------------------------------------


def two_source_input() -> dict[str, object]:
    return {
        "news": (
            [[(0, 2, "PER"), (3, 4, "LOC")], [(1, 2, "ORG")]],
            [[(0, 2, "PER"), (3, 4, "LOC"), (5, 6, "GENE")], []],
            ["PER", "LOC", "ORG"],
        ),
        "bio": SourceData(
            gold=[[(0, 1, "GENE")]],
            predicted=[[(0, 1, "GENE"), (2, 3, "PER")]],
            types=["GENE"],
            unrepresentable_gold=1,
        ),
    }


def test_evaluate_sources_structure_and_numbers() -> None:
    report = evaluate_sources(two_source_input())
    assert set(report) == {"sources", "average_f1"}
    assert list(report["sources"]) == ["news", "bio"]
    for block in report["sources"].values():
        assert set(block) == {"types", "micro"}
        assert set(block["micro"]) == {"precision", "recall", "f1"}
        for row in block["types"].values():
            assert set(row) == {"precision", "recall", "f1", "support"}
    news, bio = report["sources"]["news"], report["sources"]["bio"]
    assert set(news["types"]) == {"PER", "LOC", "ORG"}  # GENE prediction ignored on news
    assert news["micro"]["precision"] == approx(100.0)
    assert news["micro"]["recall"] == approx(200 / 3)
    assert news["micro"]["f1"] == approx(80.0)
    assert set(bio["types"]) == {"GENE"}  # PER prediction ignored on bio
    assert bio["micro"]["recall"] == approx(50.0)  # one unrepresentable gold span missed
    assert bio["micro"]["f1"] == approx(200 / 3)
    assert report["average_f1"] == approx((80.0 + 200 / 3) / 2)
    json.dumps(report)  # plain JSON


def test_evaluate_sources_empty_and_bad_input() -> None:
    assert evaluate_sources({}) == {"sources": {}, "average_f1": 0.0}
    with pytest.raises(ValueError):
        evaluate_sources({"x": ([[]],)})  # type: ignore[dict-item]


def test_markdown_table_rows() -> None:
    report = evaluate_sources(two_source_input())
    table = markdown_table(report)
    lines = table.strip().splitlines()
    assert lines[0].startswith("| Source | Type | Precision | Recall | F1 | Support |")
    # header + separator + (3 types + micro) + (1 type + micro) + average
    assert len(lines) == 2 + 4 + 2 + 1
    assert "| news | ORG | 0.00 | 0.00 | 0.00 | 1 |" in lines
    assert "| news | *micro* | 100.00 | 66.67 | 80.00 |  |" in lines
    assert lines[-1] == f"| **average** |  |  |  | **{report['average_f1']:.2f}** |  |"


def test_markdown_table_escapes_pipes() -> None:
    report = evaluate_sources({"a|b": ([[(0, 1, "X")]], [[(0, 1, "X")]], None)})
    assert "| a\\|b | X |" in markdown_table(report)


# --- the evaluate wrapper ---------------------------------------------------------------


@pytest.fixture
def span_metric(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The wrapper loaded from its local folder with the network forbidden."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    import evaluate

    assert "site-packages" in (evaluate.__file__ or ""), "repository evaluate.py shadowed the library"
    return evaluate.load(os.fspath(METRIC_DIR), cache_dir=os.fspath(tmp_path))


def test_wrapper_matches_plain_function(span_metric) -> None:
    gold = [[(0, 3, "ORG"), (2, 3, "GPE")], [(1, 2, "PER")], []]
    predicted = [[(0, 3, "ORG"), (2, 3, "LOC"), (0, 3, "ORG")], [], [(4, 5, "PER")]]
    for kwargs in ({}, {"types": ["ORG", "PER"]}, {"unrepresentable_gold": 2}):
        expected = source_report(gold, predicted, **kwargs)
        assert span_metric.compute(predictions=predicted, references=gold, **kwargs) == expected


def test_wrapper_accepts_dicts_and_incremental_adds(span_metric) -> None:
    gold = [[(0, 2, "PER")], [(1, 3, "LOC")]]
    predicted = [[{"start": 0, "end": 2, "type": "PER"}], [(1, 2, "LOC")]]
    span_metric.add(prediction=predicted[0], reference=gold[0])
    span_metric.add_batch(predictions=predicted[1:], references=gold[1:])
    assert span_metric.compute() == source_report(gold, predicted)


def test_wrapper_loads_from_script_path(span_metric, tmp_path: Path) -> None:
    import evaluate

    by_file = evaluate.load(os.fspath(METRIC_DIR / "srunear_span_f1.py"), cache_dir=os.fspath(tmp_path))
    result = by_file.compute(predictions=[[(0, 1, "X")]], references=[[(0, 1, "X")]])
    assert result["micro"]["f1"] == approx(100.0)
