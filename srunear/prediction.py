"""Predict spans for many sentences, batch by batch, without gradients.

Sentences are batched by length (less padding, much faster on CPU) and returned in input
order. A sentence longer than the model's subword limit is cut into pieces that fit (as
`tokenization.packing` cuts training sentences), each piece is predicted and its spans are
shifted back, so a long sentence is tagged rather than skipped. Only a single word over the
limit by itself gets no spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from modeling_srunear import SRUNERDataCollator
from modeling_srunear.pipeline_srunear import subwords_per_word
from tokenization.packing import piece_bounds

__all__ = ["predict_spans", "subword_lengths", "word_subword_counts"]

PredictedSpan = tuple[int, int, str, float]


def word_subword_counts(tokenizer, token_lists: Sequence[Sequence[str]], batch_size: int = 1000) -> list[list[int]]:
    """Encoder tokens of every word of each pre-split sentence (special tokens not included).

    Words are tokenized independently of their neighbours (`is_split_into_words`), so the
    counts of a merged or split sentence are the sums of its words' counts.
    """
    counts: list[list[int]] = []
    for start in range(0, len(token_lists), batch_size):
        chunk = [list(tokens) for tokens in token_lists[start : start + batch_size]]
        encoding = tokenizer(chunk, is_split_into_words=True, truncation=False)
        counts.extend(subwords_per_word(encoding, row, len(tokens)) for row, tokens in enumerate(chunk))
    return counts


def subword_lengths(tokenizer, token_lists: Sequence[Sequence[str]], batch_size: int = 1000) -> list[int]:
    """Number of encoder tokens (special tokens included) of each pre-split sentence."""
    special = tokenizer.num_special_tokens_to_add(pair=False)
    return [special + sum(words) for words in word_subword_counts(tokenizer, token_lists, batch_size)]


def _batches(order: list[int], batch_size: int) -> Iterable[list[int]]:
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _pieces(counts: list[list[int]], budget: int) -> list[tuple[int, int, int]]:
    """(sentence, first word, end word) of every piece to predict; a lone word over budget is left out."""
    pieces = []
    for index, words in enumerate(counts):
        bounds = [(0, len(words))] if sum(words) <= budget else piece_bounds(words, [], budget)
        pieces.extend((index, a, b) for a, b in bounds if sum(words[a:b]) <= budget)
    return pieces


def predict_spans(
    model,
    tokenizer,
    examples: Iterable[dict[str, Any]],
    batch_size: int = 32,
    progress: bool = False,
) -> list[list[PredictedSpan]]:
    """`(start, end, type, score)` spans for each example (dicts with `tokens`), in input order."""
    token_lists = [list(example["tokens"]) for example in examples]
    counts = word_subword_counts(tokenizer, token_lists)
    budget = model.config.max_subword_tokens - tokenizer.num_special_tokens_to_add(pair=False)
    pieces = _pieces(counts, budget)
    order = sorted(range(len(pieces)), key=lambda p: -sum(counts[pieces[p][0]][pieces[p][1] : pieces[p][2]]))
    collator = SRUNERDataCollator(tokenizer, model.config)
    device = next(model.parameters()).device
    predictions: list[list[PredictedSpan]] = [[] for _ in token_lists]
    was_training = model.training
    model.eval()
    batches = list(_batches(order, batch_size))
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="predict", leave=False)
    try:
        with torch.no_grad():
            for rows in batches:
                inputs = collator([{"tokens": token_lists[s][a:b]} for s, a, b in (pieces[p] for p in rows)])
                output = model(**{key: value.to(device) for key, value in inputs.items()})
                for p, spans in zip(rows, output.spans):
                    sentence, shift, _ = pieces[p]
                    predictions[sentence].extend((start + shift, end + shift, *rest) for start, end, *rest in spans)
    finally:
        model.train(was_training)
    split = {sentence for sentence, start, _ in pieces if start > 0}
    for sentence in split:  # pieces were predicted in length order: put the spans back in word order
        predictions[sentence].sort(key=lambda span: (span[0], -span[1]))
    return predictions
