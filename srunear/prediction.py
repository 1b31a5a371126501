"""Predict spans for many sentences, batch by batch, without gradients.

Sentences are batched by length (less padding, much faster on CPU) and returned in input
order. A sentence longer than the model's subword limit cannot be encoded; it gets no
spans (so its gold spans count as misses) instead of stopping a whole evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from modeling_srunear import SRUNERDataCollator

__all__ = ["predict_spans", "subword_lengths"]

PredictedSpan = tuple[int, int, str, float]


def subword_lengths(tokenizer, token_lists: Sequence[Sequence[str]], batch_size: int = 1000) -> list[int]:
    """Number of encoder tokens (special tokens included) of each pre-split sentence."""
    lengths: list[int] = []
    for start in range(0, len(token_lists), batch_size):
        chunk = [list(tokens) for tokens in token_lists[start : start + batch_size]]
        lengths.extend(len(ids) for ids in tokenizer(chunk, is_split_into_words=True, truncation=False)["input_ids"])
    return lengths


def _batches(order: list[int], batch_size: int) -> Iterable[list[int]]:
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def predict_spans(
    model,
    tokenizer,
    examples: Iterable[dict[str, Any]],
    batch_size: int = 32,
    progress: bool = False,
) -> list[list[PredictedSpan]]:
    """`(start, end, type, score)` spans for each example (dicts with `tokens`), in input order."""
    token_lists = [list(example["tokens"]) for example in examples]
    lengths = subword_lengths(tokenizer, token_lists)
    limit = model.config.max_subword_tokens
    order = sorted((i for i, n in enumerate(lengths) if n <= limit), key=lambda i: -lengths[i])
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
                inputs = collator([{"tokens": token_lists[i]} for i in rows])
                output = model(**{key: value.to(device) for key, value in inputs.items()})
                for i, spans in zip(rows, output.spans):
                    predictions[i] = [tuple(span) for span in spans]
    finally:
        model.train(was_training)
    return predictions
