"""An experiment's splits, read and fitted to the encoder: what training and evaluation both start from.

Every split is fitted to the encoder as the paper does it (`fit_split`): sentences over the
subword limit are split between mentions, and consecutive sentences of a document are merged
up to the limit with a separator word (per source, `merge_sentences`). Scores are computed on
the fitted examples, whose gold spans are exactly the corpus's, moved into place.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

import datasets

from srunear.experiment import ExperimentConfig
from srunear.prediction import word_subword_counts
from tokenization import ReadReport, SourceConfig, load_source, pack_rows

__all__ = ["SplitData", "fit_split", "fit_splits", "load_split", "mapped_types", "spread_indices", "subset_indices"]


@dataclass
class SplitData:
    """One split of one source: its examples, the reader's report, and whether it was cut short."""

    dataset: datasets.Dataset
    report: ReadReport
    truncated: bool = False
    cut_mentions: int = 0  # gold mentions `fit_split` had to cut (too long for the encoder by themselves)


def subset_indices(doc_ids: list[str], limit: int, seed: int | None) -> list[int]:
    """`limit` example indices: the first ones without a seed, else whole documents in seeded random
    order, each with its sentences together and in order (so that they can still be merged)."""
    if seed is None:
        return list(range(limit))
    groups: dict[str, list[int]] = {}
    for index, doc_id in enumerate(doc_ids):
        groups.setdefault(doc_id, []).append(index)
    units = list(groups.values())
    random.Random(seed).shuffle(units)
    return [index for unit in units for index in unit][:limit]


def spread_indices(doc_ids: list[str], limit: int, whole_documents: bool) -> list[int]:
    """At most `limit` example indices evenly spaced over the split, in order: examples at positions
    ``floor(i * n / limit)``; or, with `whole_documents`, whole documents at positions ``floor(i * D / k)``
    for the largest ``k`` whose documents hold no more than `limit` examples (a first document longer than
    `limit` by itself: its first `limit` sentences).

    Why: corpora are stored document by document, so their first examples can all be one document
    (LINNAEUS dev's first 300 sentences are one paper on potato and wheat): a poor dev set for choosing
    a model. Deterministic, so every run and every system is selected on the same examples.
    """
    if len(doc_ids) <= limit:
        return list(range(len(doc_ids)))
    if not whole_documents:
        return [i * len(doc_ids) // limit for i in range(limit)]
    units: list[list[int]] = []
    for index, doc_id in enumerate(doc_ids):
        if units and doc_ids[units[-1][0]] == doc_id:
            units[-1].append(index)
        else:
            units.append([index])

    def picked(k: int) -> list[int]:
        return [index for i in range(k) for index in units[i * len(units) // k]]

    fitting = [k for k in range(1, len(units)) if len(picked(k)) <= limit]
    return picked(fitting[-1]) if fitting else units[0][:limit]


def load_split(
    experiment: ExperimentConfig, split: str, limit: int | None = None, shuffle_seed: int | None = None,
    spread: bool = False,
) -> dict[str, SplitData]:
    """Read `split` of every source that has it; keep at most `limit` examples: the first ones, a random
    subset if seeded, or with `spread` examples evenly spaced over the split (`spread_indices`).

    A source whose sentences get merged keeps whole documents (see `subset_indices`).
    """
    loaded = {}
    for source in experiment.sources_with_split(split):
        dataset, report = load_source(source, split, base_dir=experiment.base_dir)
        truncated = limit is not None and len(dataset) > limit
        if truncated and spread:
            whole = source.merges(report.documents)
            doc_ids = dataset["doc_id"] if whole else [""] * len(dataset)
            dataset = dataset.select(spread_indices(doc_ids, limit, whole))
        elif truncated and source.merges(report.documents):
            dataset = dataset.select(subset_indices(dataset["doc_id"], limit, shuffle_seed))
        elif truncated:
            dataset = dataset.shuffle(seed=shuffle_seed) if shuffle_seed is not None else dataset
            dataset = dataset.select(range(limit))
        loaded[source.name] = SplitData(dataset, report, truncated)
    return loaded


def fit_split(data: SplitData, source: SourceConfig, tokenizer, limit: int) -> SplitData:
    """The split with every example within `limit` encoder tokens, sentences merged if `source` says so.

    What was split, cut or dropped is noted in the report (and cut mentions kept for scoring).
    """
    rows = data.dataset.to_list()
    counts = word_subword_counts(tokenizer, [row["tokens"] for row in rows])
    separator = None
    if source.merges(data.report.documents):
        separator = tokenizer.sep_token
        if separator is None:
            raise ValueError(f"source {source.name!r}: merge_sentences needs a tokenizer with a sep token; "
                             f"{type(tokenizer).__name__} has none (set merge_sentences: false)")
    separator_count = sum(word_subword_counts(tokenizer, [[separator]])[0]) if separator else 0
    special = tokenizer.num_special_tokens_to_add(pair=False)
    packed, fitted = pack_rows(rows, counts, limit, special, separator, separator_count)
    report = data.report
    for sample in fitted.samples:
        report.note("split", sample)
    report.note("split", count=fitted.split_sentences - len(fitted.samples))
    report.note("cut_mention", count=fitted.cut_mentions)
    report.note("unsplittable", count=fitted.unsplittable_words)
    if not data.truncated:
        report.examples = len(packed)
    if packed == rows:
        return SplitData(data.dataset, report, data.truncated, fitted.cut_mentions)
    dataset = datasets.Dataset.from_list(packed, features=data.dataset.features)
    return SplitData(dataset, report, data.truncated, fitted.cut_mentions)


def fit_splits(experiment: ExperimentConfig, splits: dict[str, SplitData], tokenizer, limit: int) -> dict[str, SplitData]:
    """`fit_split` for every source of an experiment."""
    sources = {source.name: source for source in experiment.sources}
    return {name: fit_split(data, sources[name], tokenizer, limit) for name, data in splits.items()}


def mapped_types(splits: Mapping[str, SplitData]) -> set[str]:
    """Entity types present in the examples after the tag map (from the reader's counts)."""
    return {entity_type for data in splits.values() for entity_type in data.report.type_counts}
