"""``pipeline("srunear-ner")``: text in, nested entities with character offsets out.

Texts are split into sentences and words (keeping character offsets); a sentence longer
than the encoder limit is cut into windows of whole words that fit. Each sentence or
window is one chunk of a ``ChunkPipeline``, so ``batch_size`` batches chunks across texts,
and spans are mapped back to offsets in the original text: ``text[start:end] == word``.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch
from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.base import ChunkPipeline

from .text_segmentation import split_sentences, split_words

TASK = "srunear-ner"


class SRUNERPipeline(ChunkPipeline):
    """Nested NER with an SRU-NER model.

    Call with a string, a list of strings, or (with ``is_split_into_words=True``) a list
    of words or a list of such lists. Options: ``threshold`` (minimum span score),
    ``entity_types`` (keep only these types), ``return_sources`` (add ``sources``: for a
    model with per-source heads, the training sources whose heads found the entity, each
    with its score; the entity's own score is the highest of them).
    """

    def _sanitize_parameters(self, threshold=None, entity_types=None, is_split_into_words=None, return_sources=None, **kwargs):
        preprocess, postprocess = {}, {}
        if return_sources is not None:
            postprocess["return_sources"] = bool(return_sources)
        if is_split_into_words is not None:
            preprocess["is_split_into_words"] = is_split_into_words
        if threshold is not None:
            postprocess["threshold"] = float(threshold)
        if entity_types is not None:
            unknown = sorted(set(entity_types) - set(self.model.config.entity_types))
            if unknown:
                raise ValueError(f"unknown entity types {unknown}; the model predicts {self.model.config.entity_types}")
            postprocess["entity_types"] = set(entity_types)
        return preprocess, {}, postprocess

    def __call__(self, inputs, **kwargs):
        # A list of words is one input when is_split_into_words, not a batch of texts.
        if kwargs.get("is_split_into_words") and isinstance(inputs, (list, tuple)) and all(isinstance(w, str) for w in inputs):
            return super().__call__([list(inputs)], **kwargs)[0]
        return super().__call__(inputs, **kwargs)

    def preprocess(self, inputs, is_split_into_words: bool = False):
        if is_split_into_words:
            text, words = _join_words(inputs)
        else:
            if not isinstance(inputs, str):
                raise TypeError(f"expected a string (or words with is_split_into_words=True), got {type(inputs).__name__}")
            text, words = inputs, split_words(inputs)
        chunks = list(self.encoded_chunks(text, words))
        for index, (chunk, encoding) in enumerate(chunks):
            yield self.encode_chunk(text, chunk, is_last=index == len(chunks) - 1, encoding=encoding)

    def chunk_words(self, text: str, words: list[tuple[str, int, int]]) -> Iterable[list[tuple[str, int, int]]]:
        """Sentences of words, each cut into windows that fit the encoder; at least one chunk."""
        for window, _ in self.encoded_chunks(text, words):
            yield window

    def encoded_chunks(self, text: str, words: list[tuple[str, int, int]]) -> Iterable[tuple[list, Any]]:
        """``chunk_words`` with the tokenizer's encoding of each chunk where it already has one."""
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
        counts = [0] * len(words)
        for word_id in encoding.word_ids(0):
            if word_id is not None:
                counts[word_id] += 1
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

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        offsets, text, is_last = model_inputs.pop("offsets"), model_inputs.pop("text"), model_inputs.pop("is_last")
        model_inputs["word_ids"] = model_inputs.pop("word_index") - 1
        output = self.model(**model_inputs)
        batched = isinstance(is_last, list)
        spans = output.head_spans if batched else output.head_spans[0]
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
