"""The SRU-NER transition system as small pure functions.

A sentence of ``n`` words is read left to right by a word pointer. Each time step holds
either one of the stand-alone actions ``SHIFT`` (move to the next word) and ``EOA`` (end,
only once the pointer has passed the last word), or a *set* of structural actions:
``TRANSITION(t)`` opens a span of type ``t`` at the pointer and ``REDUCE(t)`` closes the
latest open span of type ``t`` just before the pointer. Within a step REDUCEs are applied
before TRANSITIONs, so one step can close one span and open the next of the same type.

Spans are ``(start, end_exclusive, type)`` over word indices. Any set of spans in which
spans of one type are nested or disjoint round-trips exactly through
:func:`encode_spans` and :func:`decode_actions`; spans of different types may overlap
freely. Two same-type spans sharing a start (or an end) need two steps at that pointer,
which the encoding emits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

EOA = 0
SHIFT = 1

SpanTuple = tuple[int, int, str]


class UnrepresentableSpansError(ValueError):
    """Raised when a span set cannot be written as actions (same-type spans that cross)."""

    def __init__(self, crossing: list[tuple[SpanTuple, SpanTuple]]):
        self.crossing = crossing
        shown = ", ".join(f"{a} x {b}" for a, b in crossing[:3])
        super().__init__(f"{len(crossing)} pair(s) of same-type spans cross and cannot be encoded: {shown}")


@dataclass(frozen=True)
class ActionVocabulary:
    """Maps actions to indices: EOA, SHIFT, then TRANSITION(t) for every type, then REDUCE(t)."""

    entity_types: tuple[str, ...]

    def __post_init__(self):
        if len(set(self.entity_types)) != len(self.entity_types):
            raise ValueError(f"entity types must be unique, got {list(self.entity_types)}")

    def __len__(self) -> int:
        return 2 + 2 * len(self.entity_types)

    @property
    def num_types(self) -> int:
        return len(self.entity_types)

    def type_index(self, entity_type: str) -> int:
        try:
            return self.entity_types.index(entity_type)
        except ValueError:
            raise ValueError(
                f"unknown entity type {entity_type!r}; the model knows {list(self.entity_types)}"
            ) from None

    def transition(self, entity_type: str) -> int:
        return 2 + self.type_index(entity_type)

    def reduce(self, entity_type: str) -> int:
        return 2 + self.num_types + self.type_index(entity_type)

    def is_transition(self, action: int) -> bool:
        return 2 <= action < 2 + self.num_types

    def is_reduce(self, action: int) -> bool:
        return 2 + self.num_types <= action < len(self)

    def type_of(self, action: int) -> str:
        if not 2 <= action < len(self):
            raise ValueError(f"action {action} ({self.name(action)}) has no entity type")
        return self.entity_types[(action - 2) % self.num_types]

    def name(self, action: int) -> str:
        if action == EOA:
            return "EOA"
        if action == SHIFT:
            return "SHIFT"
        kind = "TRANSITION" if self.is_transition(action) else "REDUCE"
        return f"{kind}({self.type_of(action)})"

    def names(self) -> list[str]:
        return [self.name(a) for a in range(len(self))]

    def type_actions(self, entity_types: Iterable[str]) -> list[int]:
        """TRANSITION and REDUCE indices of the given types (e.g. those a source does not annotate)."""
        actions = []
        for entity_type in entity_types:
            actions += [self.transition(entity_type), self.reduce(entity_type)]
        return sorted(actions)


def find_crossing_spans(spans: Iterable[SpanTuple]) -> list[tuple[SpanTuple, SpanTuple]]:
    """Pairs of same-type spans that overlap without one containing the other."""
    by_type: dict[str, list[SpanTuple]] = defaultdict(list)
    for span in set(spans):
        by_type[span[2]].append(span)
    crossing = []
    for group in by_type.values():
        group.sort()
        for i, (s1, e1, t) in enumerate(group):
            for s2, e2, _ in group[i + 1 :]:
                if s2 >= e1:
                    break
                if s2 > s1 and e2 > e1:  # s1 < s2 < e1 < e2
                    crossing.append(((s1, e1, t), (s2, e2, t)))
    return crossing


def validate_spans(spans: Iterable[SpanTuple], num_words: int) -> list[SpanTuple]:
    """Check bounds and types of spans; returns them sorted and without duplicates."""
    checked = []
    for span in spans:
        if len(span) != 3:
            raise ValueError(f"a span is (start, end_exclusive, type), got {span!r}")
        start, end, entity_type = span
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= num_words):
            raise ValueError(f"span {span!r} is not a non-empty word range of a {num_words}-word sentence")
        checked.append((start, end, entity_type))
    return sorted(set(checked))


def encode_spans(spans: Iterable[SpanTuple], num_words: int, vocab: ActionVocabulary) -> list[frozenset[int]]:
    """Spans -> the canonical action sequence, one frozenset of action indices per step.

    Raises :class:`UnrepresentableSpansError` for same-type crossing spans and
    ``ValueError`` for out-of-range spans or unknown types.
    """
    spans = validate_spans(spans, num_words)
    for _, _, entity_type in spans:
        vocab.type_index(entity_type)
    crossing = find_crossing_spans(spans)
    if crossing:
        raise UnrepresentableSpansError(crossing)

    closes_at: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    opens_at: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for start, end, entity_type in spans:
        opens_at[start][entity_type] += 1
        closes_at[end][entity_type] += 1

    steps: list[frozenset[int]] = []
    for pointer in range(num_words + 1):
        step_sets: list[set[int]] = []
        for entity_type in set(closes_at[pointer]) | set(opens_at[pointer]):
            n_close, n_open = closes_at[pointer][entity_type], opens_at[pointer][entity_type]
            # All closes of a type come no later than its first open: the first open shares
            # the last close's step, because REDUCEs apply before TRANSITIONs in a step.
            first_open = max(n_close - 1, 0)
            for k in range(n_close):
                _add(step_sets, k, vocab.reduce(entity_type))
            for k in range(n_open):
                _add(step_sets, first_open + k, vocab.transition(entity_type))
        steps += [frozenset(s) for s in step_sets]
        steps.append(frozenset({SHIFT if pointer < num_words else EOA}))
    return steps


def _add(step_sets: list[set[int]], index: int, action: int) -> None:
    while len(step_sets) <= index:
        step_sets.append(set())
    step_sets[index].add(action)


def decode_actions(
    steps: Sequence[Iterable[int]],
    num_words: int,
    vocab: ActionVocabulary,
    scores: Sequence[Sequence[float]] | None = None,
) -> list[tuple[int, int, str, float]]:
    """Action sequence -> spans ``(start, end, type, score)``, sorted.

    The score of a span is the mean probability of its TRANSITION and REDUCE when
    ``scores`` (per-step action probabilities) is given, else 1.0. A REDUCE with no open
    span of its type is ignored, one that would close an empty span discards it, and a
    TRANSITION never closed is dropped (the decoder's action masks allow none of these).
    """
    pointer = 0
    open_spans: dict[int, list[tuple[int, float]]] = defaultdict(list)
    spans: list[tuple[int, int, str, float]] = []
    for t, step in enumerate(steps):
        actions = sorted(set(step))
        if EOA in actions or (SHIFT in actions and pointer >= num_words):
            break
        if SHIFT in actions:
            pointer += 1
            continue
        for action in actions:
            if vocab.is_reduce(action):
                type_id = (action - 2) % vocab.num_types
                if not open_spans[type_id]:
                    continue
                start, open_score = open_spans[type_id].pop()
                if start == pointer:  # opened at this very pointer: an empty span, not an entity
                    continue
                score = open_score if scores is None else (open_score + float(scores[t][action])) / 2
                spans.append((start, pointer, vocab.entity_types[type_id], score))
        for action in actions:
            if vocab.is_transition(action) and pointer < num_words:
                type_id = action - 2
                open_spans[type_id].append((pointer, 1.0 if scores is None else float(scores[t][action])))
    spans.sort(key=lambda s: (s[0], -s[1], s[2]))
    return spans
