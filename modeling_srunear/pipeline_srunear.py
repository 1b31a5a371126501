"""``pipeline("srunear-ner")``: text in, nested entities with character offsets out.

Texts are split into sentences and words (keeping character offsets); a sentence longer
than the encoder limit is cut into windows of whole words that fit. Each sentence or
window is one chunk of a ``ChunkPipeline``, so ``batch_size`` batches chunks, within one
text and across texts, and spans are mapped back to offsets in the original text:
``text[start:end] == word``. Without a ``batch_size`` the pipeline batches
``DEFAULT_BATCH_SIZE`` chunks, so a long document runs as fast as its sentences would
as a list; batching never changes the entities found. Given a list (or one long text),
the pipeline orders all chunks by length before batching them, so that a batch carries
little padding, and returns the results in input order.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Iterable, Sequence

import torch
from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.base import ChunkPipeline, pad_collate_fn

from .text_segmentation import find_surrogate, split_sentences, split_words

TASK = "srunear-ner"
DEFAULT_BATCH_SIZE = 32  # sentences per forward pass when the caller gives no batch_size


class SRUNERPipeline(ChunkPipeline):
    """Nested NER with an SRU-NER model.

    Call with a string, a list of strings, or (with ``is_split_into_words=True``) a list
    of words or a list of such lists; an empty list gives ``[]``. A plain string with
    ``is_split_into_words=True`` is an error rather than a list of characters, and so is
    any item of another type (the message names its position). A text holding a lone
    surrogate (left by a bad decode) is rejected with the character's position, not
    repaired: it cannot be encoded, and a silent replacement would hide the bad decode.

    Options: ``threshold`` (minimum span score, from 0 to 1), ``entity_types`` (keep only
    these types; a single string is one type), ``return_sources`` (add ``sources``: for a
    model with per-source heads, the training sources whose heads found the entity, each
    with its score; the entity's own score is the highest of them), ``progress`` (called
    with the number of characters of the input each finished chunk accounts for, so a
    caller can show how far a long document has got).
    """

    def _sanitize_parameters(self, threshold=None, entity_types=None, is_split_into_words=None, progress=None,
                             return_sources=None, **kwargs):
        preprocess, forward, postprocess = {}, {}, {}
        if return_sources is not None:
            postprocess["return_sources"] = bool(return_sources)
        if is_split_into_words is not None:
            preprocess["is_split_into_words"] = is_split_into_words
        if threshold is not None:
            postprocess["threshold"] = check_threshold(threshold)
        if entity_types is not None:
            postprocess["entity_types"] = check_entity_types(entity_types, self.model.config.entity_types)
        if progress is not None:
            forward["progress"] = progress
        return preprocess, forward, postprocess

    def __call__(self, inputs, **kwargs):
        if kwargs.get("batch_size") is None and getattr(self, "_batch_size", None) is None:
            kwargs["batch_size"] = DEFAULT_BATCH_SIZE
        split = bool(kwargs.get("is_split_into_words"))
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(inputs, list):
            if not inputs:
                return []
            if split and all(isinstance(word, str) for word in inputs):
                return super().__call__([inputs], **kwargs)[0]  # one list of words is one input
            _check_batch(inputs, split)
        elif split and isinstance(inputs, str):
            raise TypeError(
                "is_split_into_words=True expects a list of words (or a list of such lists), got a string; "
                "call without is_split_into_words to have the text split into words"
            )
        return super().__call__(inputs, **kwargs)

    def get_iterator(self, inputs, num_workers, batch_size, preprocess_params, forward_params, postprocess_params):
        if isinstance(inputs, list) and batch_size is not None and batch_size > 1:
            return self._by_length(inputs, batch_size, preprocess_params, forward_params, postprocess_params)
        # datasets and generators stream in input order, as in every pipeline
        return super().get_iterator(inputs, num_workers, batch_size, preprocess_params, forward_params, postprocess_params)

    def _by_length(self, inputs: list, batch_size: int, preprocess_params, forward_params, postprocess_params):
        """Every chunk of every input, batched in order of length, results regrouped in input order.

        Batches of similar lengths carry little padding: the encoder's cost follows the
        longest chunk of a batch, and the decoder's the most steps.
        """
        chunks = [(index, chunk) for index, item in enumerate(inputs) for chunk in self.preprocess(item, **preprocess_params)]
        order = sorted(range(len(chunks)), key=lambda k: chunks[k][1]["input_ids"].shape[-1])
        collate = pad_collate_fn(self.tokenizer, None)
        results: list[dict[str, Any] | None] = [None] * len(chunks)
        for start in range(0, len(order), batch_size):
            picked = order[start : start + batch_size]
            output = self.forward(collate([chunks[k][1] for k in picked]), **forward_params)
            for position, k in enumerate(picked):
                results[k] = {key: value[position] for key, value in output.items()}
        by_input: list[list[dict[str, Any]]] = [[] for _ in inputs]
        for (index, _), result in zip(chunks, results):
            by_input[index].append(result)
        for outputs in by_input:
            yield self.postprocess(outputs, **postprocess_params)

    def preprocess(self, inputs, is_split_into_words: bool = False):
        if is_split_into_words:
            if isinstance(inputs, str):
                raise TypeError(f"is_split_into_words=True expects lists of words, got the string {inputs[:40]!r}")
            text, words = _join_words(inputs)
            check_encodable(text)
        else:
            if not isinstance(inputs, str):
                raise TypeError(f"expected a string (or words with is_split_into_words=True), got {type(inputs).__name__}")
            check_encodable(inputs)
            text, words = inputs, split_words(inputs)
        chunks = list(self.encoded_chunks(text, words))
        done = 0
        for index, (chunk, encoding) in enumerate(chunks):
            is_last = index == len(chunks) - 1
            end = len(text) if is_last else chunk[-1][2]
            inputs = self.encode_chunk(text, chunk, is_last=is_last, encoding=encoding)
            inputs["characters"] = end - done  # this chunk's share of the text, for progress
            done = end
            yield inputs

    def encoded_chunks(self, text: str, words: list[tuple[str, int, int]]) -> Iterable[tuple[list, Any]]:
        """Sentences of words, each cut into windows that fit the encoder (at least one chunk), with the
        tokenizer's encoding of each chunk where it already has one."""
        limit = self.model.config.max_subword_tokens - self.tokenizer.num_special_tokens_to_add()
        sentences = split_sentences(text)
        position, produced = 0, False
        for _, sentence_end in sentences:
            sentence = []
            while position < len(words) and words[position][1] < sentence_end:
                sentence.append(words[position])
                position += 1
            for window in self.fit_windows(sentence, limit):
                produced = True
                yield window
        if position < len(words):
            for window in self.fit_windows(words[position:], limit):
                produced = True
                yield window
        if not produced:
            yield [], None

    def fit_windows(self, words: list[tuple[str, int, int]], limit: int) -> Iterable[tuple[list, Any]]:
        """Windows of whole words within ``limit`` subwords, each with its encoding if it is the whole sentence."""
        if not words:
            return
        # one encoding of the whole sentence; subwords per word from its word ids
        encoding = self.tokenizer([[w for w, _, _ in words]], is_split_into_words=True, truncation=False)
        counts = subwords_per_word(encoding, 0, len(words))
        if sum(counts) <= limit:
            yield words, encoding
            return
        window, used = [], 0
        for word, count in zip(words, counts):
            size = max(count, 1)
            if window and used + size > limit:
                yield window, None
                window, used = [], 0
            window.append(word)
            used += size
        yield window, None

    def encode_chunk(self, text: str, words: list[tuple[str, int, int]], is_last: bool, encoding=None) -> dict[str, Any]:
        if encoding is None:
            encoding = self.tokenizer([[w for w, _, _ in words]], is_split_into_words=True, truncation=False)
        encoding = encoding.convert_to_tensors("pt")
        word_ids = encoding.word_ids(0)
        inputs = {key: encoding[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoding}
        # word index + 1, so that the pipeline's zero padding means "no word"
        inputs["word_index"] = torch.tensor([[0 if w is None else w + 1 for w in word_ids]])
        inputs["num_words"] = torch.tensor([len(words)])
        inputs["offsets"] = [(start, end) for _, start, end in words]
        inputs["text"] = text
        inputs["is_last"] = is_last
        return inputs

    def _forward(self, model_inputs: dict[str, Any], progress: Callable[[int], Any] | None = None) -> dict[str, Any]:
        offsets, text, is_last = model_inputs.pop("offsets"), model_inputs.pop("text"), model_inputs.pop("is_last")
        characters = model_inputs.pop("characters")
        model_inputs["word_ids"] = model_inputs.pop("word_index") - 1
        output = self.model(**model_inputs)
        batched = isinstance(is_last, list)
        spans = output.head_spans if batched else output.head_spans[0]
        if progress is not None:
            progress(sum(characters) if batched else characters)
        return {"spans": spans, "offsets": offsets, "text": text, "is_last": is_last}

    def postprocess(self, all_outputs: list[dict[str, Any]], threshold: float = 0.0, entity_types: set[str] | None = None,
                    return_sources: bool = False):
        # spans of the heads of one type are merged (highest score); windows may repeat a span
        heads = dict(zip(self.model.config.head_names, self.model.config.head_table))
        found: dict[tuple[int, int, str], dict[str | None, float]] = {}
        for chunk in all_outputs:
            offsets = chunk["offsets"]
            for start, end, head, score in chunk["spans"]:
                source, entity_type = heads[head]
                if score < threshold or (entity_types is not None and entity_type not in entity_types):
                    continue
                by_source = found.setdefault((offsets[start][0], offsets[end - 1][1], entity_type), {})
                by_source[source] = max(float(score), by_source.get(source, 0.0))
        text = all_outputs[0]["text"]
        entities = []
        for (start, end, entity_type), by_source in found.items():
            entity = {"entity_group": entity_type, "score": max(by_source.values()), "word": text[start:end],
                      "start": start, "end": end}
            if return_sources:
                entity["sources"] = {source: score for source, score in sorted(by_source.items()) if source is not None}
            entities.append(entity)
        entities.sort(key=lambda e: (e["start"], -e["end"], e["entity_group"]))
        return entities


def subwords_per_word(encoding, row: int, num_words: int) -> list[int]:
    """Encoder tokens of each word of sentence ``row`` of a word-split encoding (special tokens not counted)."""
    counts = [0] * num_words
    for word in encoding.word_ids(row):
        if word is not None:
            counts[word] += 1
    return counts


def check_threshold(threshold: Any) -> float:
    """A minimum span score: a number from 0 to 1 (NaN would silently keep every span)."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be a number from 0 to 1 (the minimum span score), got {threshold!r}")
    return float(threshold)


def check_entity_types(entity_types: Any, known: Sequence[str]) -> set[str]:
    """Types to keep: a string is one type (not its letters); each must be one the model predicts."""
    if isinstance(entity_types, str):
        entity_types = [entity_types]
    if not isinstance(entity_types, Iterable):
        raise TypeError(f"entity_types must be a type name or a list of them, got {entity_types!r}")
    entity_types = list(entity_types)
    if not entity_types or not all(isinstance(t, str) for t in entity_types):
        raise ValueError(f"entity_types must be a type name or a non-empty list of them, got {entity_types!r}")
    unknown = sorted(set(entity_types) - set(known))
    if unknown:
        raise ValueError(f"unknown entity types {unknown}; the model predicts {list(known)}")
    return set(entity_types)


def check_encodable(text: str) -> None:
    """Refuse a lone surrogate: the tokenizer cannot encode it, and replacing it would hide a bad decode."""
    position = find_surrogate(text)
    if position is not None:
        raise ValueError(
            f"the text holds a lone surrogate U+{ord(text[position]):04X} at character {position} (left by a bad "
            "decode); decode the input correctly, or with errors='replace' which keeps every offset"
        )


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _check_batch(inputs: list, split: bool) -> None:
    """Name the first item of a batch that is not a text (or, with ``split``, not a list of words)."""
    if split and any(isinstance(item, str) for item in inputs):  # one list of words with a stray item
        position, item = next((i, w) for i, w in enumerate(inputs) if not isinstance(w, str))
        raise TypeError(f"word {position} is {_describe(item)}; with is_split_into_words=True every word must be a string")
    expected = (list, tuple) if split else str
    for position, item in enumerate(inputs):
        if not isinstance(item, expected):
            wanted = "a list of words" if split else "a string"
            raise TypeError(f"item {position} of the input list is {_describe(item)}; expected {wanted}")
        for index, word in enumerate(item if split else ()):
            if not isinstance(word, str):
                raise TypeError(f"item {position}, word {index} is {_describe(word)}; every word must be a string")


def _join_words(words: Sequence[str]) -> tuple[str, list[tuple[str, int, int]]]:
    """Pre-split words become a text joined by single spaces, with each word's offsets."""
    text, placed = "", []
    for word in words:
        if not isinstance(word, str):
            raise TypeError(f"with is_split_into_words=True every word must be a string, got {word!r}")
        if text:
            text += " "
        placed.append((word, len(text), len(text) + len(word)))
        text += word
    return text, [w for w in placed if w[0].strip()]


def register_pipeline() -> None:
    PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=SRUNERPipeline, pt_model=AutoModel, type="text")


def save_pipeline(model, tokenizer, folder) -> None:
    """Save model, tokenizer and this pipeline's code so ``pipeline(TASK, model=folder)`` works anywhere."""
    SRUNERPipeline(model=model, tokenizer=tokenizer, task=TASK).save_pretrained(folder)
