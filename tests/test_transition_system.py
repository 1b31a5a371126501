"""The transition system round-trips every representable span set and reports the others."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling_srunear.transition_system import (
    EOA,
    SHIFT,
    ActionVocabulary,
    UnrepresentableSpansError,
    decode_actions,
    encode_spans,
    find_crossing_spans,
)

VOCAB = ActionVocabulary(("Gene", "Disease", "Chemical"))


def round_trip(spans, num_words):
    steps = encode_spans(spans, num_words, VOCAB)
    # one TRANSITION and one REDUCE per span: nothing opened that is not closed, nothing closed twice
    actions = [a for step in steps for a in step]
    assert sum(map(VOCAB.is_transition, actions)) == sum(map(VOCAB.is_reduce, actions)) == len(set(spans))
    return steps, sorted((s, e, t) for s, e, t, _ in decode_actions(steps, num_words, VOCAB))


@st.composite
def representable_span_sets(draw):
    num_words = draw(st.integers(min_value=0, max_value=12))
    if num_words == 0:
        return [], 0
    raw = draw(
        st.lists(
            st.tuples(
                st.integers(0, num_words - 1), st.integers(1, num_words), st.sampled_from(VOCAB.entity_types)
            ).filter(lambda s: s[0] < s[1]),
            max_size=10,
        )
    )
    kept: list = []
    for span in raw:  # keep a span only if it crosses none of the kept ones of its type
        if not find_crossing_spans(kept + [span]):
            kept.append(span)
    return kept, num_words


@settings(max_examples=400, deadline=None)
@given(representable_span_sets())
def test_every_nested_or_disjoint_set_round_trips(case):
    spans, num_words = case
    steps, decoded = round_trip(spans, num_words)
    assert decoded == sorted(set(spans))
    assert sum(step == {SHIFT} for step in steps) == num_words
    assert steps[-1] == {EOA} and sum(EOA in step for step in steps) == 1
    for step in steps:  # SHIFT and EOA stand alone
        assert len(step) == 1 or not (step & {SHIFT, EOA})


@pytest.mark.parametrize(
    "spans, num_words",
    [
        ([(0, 2, "Gene"), (0, 2, "Disease")], 3),  # identical spans, two types
        ([(0, 5, "Gene")], 5),  # the whole sentence
        ([(3, 5, "Gene"), (4, 5, "Gene"), (4, 5, "Chemical")], 5),  # ending at the last word, same end
        ([(0, 3, "Gene"), (0, 1, "Gene"), (1, 2, "Gene"), (2, 3, "Gene")], 4),  # nested chain, same start
        ([(0, 1, "Gene"), (1, 2, "Gene")], 2),  # one step closes a span and opens the next
    ],
)
def test_edge_cases_round_trip(spans, num_words):
    assert round_trip(spans, num_words)[1] == sorted(spans)


def test_reduce_and_transition_share_a_step():
    steps = encode_spans([(0, 1, "Gene"), (1, 2, "Gene")], 2, VOCAB)
    assert steps[2] == {VOCAB.reduce("Gene"), VOCAB.transition("Gene")}


def test_crossing_same_type_spans_are_reported_not_altered():
    spans = [(0, 2, "Gene"), (1, 3, "Gene")]
    with pytest.raises(UnrepresentableSpansError) as error:
        encode_spans(spans, 4, VOCAB)
    assert error.value.crossing == [((0, 2, "Gene"), (1, 3, "Gene"))]
    # crossing spans of different types are fine
    assert round_trip([(0, 2, "Gene"), (1, 3, "Disease")], 4)[1] == [(0, 2, "Gene"), (1, 3, "Disease")]


@pytest.mark.parametrize("bad", [[(2, 2, "Gene")], [(0, 9, "Gene")], [(-1, 1, "Gene")]])
def test_out_of_range_spans_are_rejected(bad):
    with pytest.raises(ValueError, match="word range"):
        encode_spans(bad, 4, VOCAB)


def test_unknown_type_is_rejected_by_name():
    with pytest.raises(ValueError, match="unknown entity type 'Species'"):
        encode_spans([(0, 1, "Species")], 2, VOCAB)


def test_decoding_scores_and_invalid_actions():
    steps = [{VOCAB.reduce("Gene")}, {VOCAB.transition("Gene")}, {SHIFT}, {VOCAB.reduce("Gene")}, {EOA}]
    scores = [[0.0] * len(VOCAB) for _ in steps]
    scores[1][VOCAB.transition("Gene")] = 0.9
    scores[3][VOCAB.reduce("Gene")] = 0.7
    assert decode_actions(steps, 1, VOCAB, scores) == [(0, 1, "Gene", pytest.approx(0.8))]


def test_vocabulary_names():
    assert VOCAB.names()[:3] == ["EOA", "SHIFT", "TRANSITION(Gene)"]
    assert VOCAB.name(VOCAB.reduce("Chemical")) == "REDUCE(Chemical)"
    assert VOCAB.type_actions(["Disease"]) == [VOCAB.transition("Disease"), VOCAB.reduce("Disease")]


def test_a_reduce_right_after_its_transition_gives_no_empty_span():
    steps = [{VOCAB.transition("Gene")}, {VOCAB.reduce("Gene")}, {SHIFT}, {EOA}]
    assert decode_actions(steps, 1, VOCAB) == []
