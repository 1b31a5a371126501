"""SRU-NER: an encoder, a max over subwords, and a recurrent transition-based decoder.

``SRUNERModel.forward`` with labels is the teacher-forced pass (loss, logits); without
labels it decodes. :meth:`SRUNERModel.generate_spans` is the decoding alone, as
``generate()`` is apart from ``forward`` in transformers. The decoder's maths live in
``decoder_srunear.py`` (parameters, dropout, a reference step), ``policies_srunear.py`` (what
moves the pointer, and the step loops) and ``incremental_srunear.py`` (the fast implementation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_srunear import SRUNERConfig
from .decoder_srunear import SRUNERDecoder, StepNoise, action_vocabulary, one_thread, source_label_mask
from .policies_srunear import TeacherForcing, decoding_policy, run_steps
from .incremental_srunear import run_incremental
from .transition_system import EOA, SHIFT, ActionVocabulary, decode_actions, encode_spans

__all__ = [
    "SRUNERDataCollator", "SRUNERModel", "SRUNEROutput", "action_loss", "gold_action_tensor", "merge_head_spans",
    "source_label_mask",
]


def action_loss(logits: torch.Tensor, targets: torch.Tensor, self_targeted: torch.Tensor, loss_type: str) -> torch.Tensor:
    """Loss over steps (rows) and actions (columns).

    Where ``self_targeted`` is set the target is derived from the model's own probability;
    those entries keep the value of the ordinary loss but their gradient is written as
    ``p - target`` from the detached probability, so it is exactly zero when the target
    is the probability itself (projection coefficient 1), not merely close to zero.
    """
    ordinary = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    detached_logits = logits.detach()
    self_value = F.binary_cross_entropy_with_logits(detached_logits, targets.detach(), reduction="none")
    self_grad = (torch.sigmoid(detached_logits) - targets.detach()) * (logits - detached_logits)
    per_action = torch.where(self_targeted, self_value + self_grad, ordinary)
    per_step = per_action.mean(-1) if loss_type == "multilabel_soft_margin" else per_action.sum(-1)
    return per_step.mean()


@dataclass
class SRUNEROutput(ModelOutput):
    """Per-step outputs of the decoder, padded to the longest action sequence of the batch.

    ``logits``/``action_probabilities`` are (batch, steps, actions) and ``step_mask`` marks
    the real steps. When decoding, ``actions`` is (batch, steps, actions) bool, the actions
    taken; ``spans`` holds each sentence's ``(start, end, type, score)`` spans with the
    heads of one type merged, and ``head_spans`` the spans of every head
    (``(start, end, head, score)``, the head being ``source$type`` with per-source heads).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    action_probabilities: torch.Tensor | None = None
    step_mask: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    actions: torch.Tensor | None = None
    spans: list[list[tuple[int, int, str, float]]] | None = None
    head_spans: list[list[tuple[int, int, str, float]]] | None = None


def run_decoder(decoder: SRUNERDecoder, policy, slots: torch.Tensor, valid: torch.Tensor, num_words: torch.Tensor) -> torch.Tensor:
    """The logits of every step (stacked step by step over the active rows) under ``policy``.

    Both implementations draw the same dropout masks; the decoder runs in float32 even
    under mixed precision (its many small steps gain nothing from half precision and its
    sigmoid decisions would lose accuracy).
    """
    # decoding on one thread (robust to a busy CPU); training keeps torch's threads (see one_thread)
    with torch.autocast(device_type=slots.device.type, enabled=False), one_thread(not torch.is_grad_enabled()):
        slots = slots.float()
        noise = StepNoise(decoder.config, decoder.training, slots.device)
        if decoder.config.decoder_implementation == "incremental":
            return run_incremental(decoder, policy, slots, valid, num_words, noise)
        memory = decoder.initial_memory(slots)
        logits: list[torch.Tensor] = []

        def step(t, rows, pointer, centre):
            nonlocal memory
            masks = noise.masks(t, len(rows), slots.shape[1], decoder.latent_vectors)
            step_logits, memory = decoder.reference_step(memory, slots, valid, rows, pointer, centre, masks)
            logits.append(step_logits)
            return step_logits

        run_steps(step, policy, num_words)
        return torch.cat(logits)


def _scatter_steps(records, values: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked per-step rows -> padded (batch, steps, ...) and the (batch, steps) step mask."""
    if batch == 1:  # every step is the one sentence's
        return values[None], torch.ones(1, len(records), dtype=torch.bool, device=values.device)
    rows = torch.cat([record[0] for record in records])
    counts = torch.tensor([len(record[0]) for record in records], device=rows.device)
    steps = torch.repeat_interleave(torch.arange(len(records), device=rows.device), counts)
    padded = values.new_zeros((batch, len(records), *values.shape[1:])).index_put((rows, steps), values)
    mask = torch.zeros(batch, len(records), dtype=torch.bool, device=rows.device).index_put(
        (rows, steps), torch.ones_like(rows, dtype=torch.bool))
    return padded, mask


def merge_head_spans(head_spans: Sequence[tuple[int, int, str, float]], head_types: dict[str, str]) -> list[tuple[int, int, str, float]]:
    """Spans of the heads of one type merged by (start, end, type), keeping the highest score."""
    best: dict[tuple[int, int, str], float] = {}
    for start, end, head, score in head_spans:
        key = (start, end, head_types[head])
        best[key] = max(score, best.get(key, score))
    return sorted(((s, e, t, score) for (s, e, t), score in best.items()), key=lambda x: (x[0], -x[1], x[2]))


class SRUNERPreTrainedModel(PreTrainedModel):
    config_class = SRUNERConfig
    config: SRUNERConfig
    base_model_prefix = "srunear"
    main_input_name = "input_ids"

    def _init_weights(self, module):
        super()._init_weights(module)
        if not isinstance(module, SRUNERDecoder):
            return
        init.constant_(module.token_multiplier, self.config.token_multiplier)
        layers = (module.hidden_layer, module.output_layer)
        if self.config.initialization == "paper":
            # as the authors' code: zero latents and start vector, unit diagonals, N(0, 1)
            # embeddings (PyTorch's nn.Embedding) and PyTorch's default for the linear layers
            init.zeros_(module.start_vector)
            init.zeros_(module.latent_vectors)
            init.normal_(module.position_embeddings.weight, mean=0.0, std=1.0)
            init.normal_(module.action_embeddings.weight, mean=0.0, std=1.0)
            for layer in layers:
                init.kaiming_uniform_(layer.weight, a=math.sqrt(5))
                bound = 1.0 / math.sqrt(layer.weight.shape[1])
                init.uniform_(layer.bias, -bound, bound)
        else:
            std = self.config.initializer_range
            for tensor in (module.start_vector, module.latent_vectors, module.position_embeddings.weight,
                           module.action_embeddings.weight, *(layer.weight for layer in layers)):
                init.normal_(tensor, mean=0.0, std=std)
            for layer in layers:
                init.zeros_(layer.bias)
        init.ones_(module.key_diagonal)
        init.ones_(module.value_diagonal)


class SRUNERModel(SRUNERPreTrainedModel):
    """Encoder + SRU-NER decoder. ``forward`` trains with gold actions or decodes spans."""

    def __init__(self, config: SRUNERConfig):
        super().__init__(config)
        self.encoder = _encoder_without_pooler(config)
        self.decoder = SRUNERDecoder(config, self.encoder.config.hidden_size)
        self.vocab = action_vocabulary(config)
        self.head_types = {head: entity_type for head, (_, entity_type) in zip(config.head_names, config.head_table)}
        self.post_init()

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, entity_types: Sequence[str], sources: dict[str, list[str]] | None = None, **decoder_kwargs) -> "SRUNERModel":
        """A new SRU-NER model on a pretrained encoder (Hub id or local folder); the decoder starts random."""
        encoder = AutoModel.from_pretrained(encoder_name_or_path)
        config = SRUNERConfig(
            encoder_config=encoder.config,
            encoder_name_or_path=str(encoder_name_or_path),
            entity_types=list(entity_types),
            sources=sources,
            **decoder_kwargs,
        )
        model = cls(config)
        missing, unexpected = model.encoder.load_state_dict(encoder.state_dict(), strict=False)
        unexpected = [k for k in unexpected if "pooler" not in k]
        if missing or unexpected:
            raise ValueError(f"encoder weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
        return model

    def memory_slots(self, input_ids, attention_mask, word_ids, num_words, token_type_ids=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's slots ``[CLS, words..., SEP]`` (a word is the max over its subwords) and their validity.

        CLS is the encoder's first position and SEP its last non-padding one (inputs are
        padded on the right).
        """
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        batch, _, width = hidden.shape
        max_words = int(num_words.max()) if len(num_words) else 0
        index = torch.where(word_ids >= 0, word_ids, max_words)[..., None].expand(-1, -1, width)
        words = hidden.new_zeros(batch, max_words + 1, width).scatter_reduce(1, index, hidden, "amax", include_self=False)
        row = torch.arange(batch, device=hidden.device)
        sep = hidden[row, attention_mask.sum(-1) - 1]
        slots = torch.cat([hidden[:, :1], words[:, :max_words], hidden.new_zeros(batch, 1, width)], 1)
        slots = slots.index_put((row, num_words + 1), sep)
        valid = torch.arange(max_words + 2, device=hidden.device)[None, :] <= (num_words + 1)[:, None]
        return slots, valid

    def teacher_forced(self, slots, valid, num_words, labels, source_ids=None) -> SRUNEROutput:
        """The training pass: logits of every step under gold actions with label masks, and the loss."""
        batch = slots.shape[0]
        gold = labels.clamp(min=0).float()
        masked_by_row = (self.decoder.label_masks(source_ids) if source_ids is not None
                         else torch.zeros(batch, len(self.vocab), dtype=torch.bool, device=slots.device))
        policy = TeacherForcing(gold, masked_by_row)
        logits = run_decoder(self.decoder, policy, slots, valid, num_words)
        targets, self_targeted = self._targets(policy, logits, gold, masked_by_row)
        # the loss is taken on the padded logits, so that gradients can be asked of the output
        padded_logits, step_mask = _scatter_steps(policy.records, logits, batch)
        padded_targets, _ = _scatter_steps(policy.records, targets, batch)
        padded_self, _ = _scatter_steps(policy.records, self_targeted, batch)
        loss = action_loss(padded_logits[step_mask], padded_targets[step_mask], padded_self[step_mask], self.config.loss_type)
        return SRUNEROutput(loss=loss, logits=padded_logits, step_mask=step_mask, targets=padded_targets.detach(),
                            action_probabilities=torch.sigmoid(padded_logits))

    def _targets(self, policy: TeacherForcing, logits, gold, masked_by_row) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets of every step, computed once for all steps.

        Actions a source does not annotate target the model's own (detached) probability
        times the projection coefficient, except at the EOA step, where they target 0 (as
        in the authors' code); a postponed SHIFT targets its own probability.
        """
        rows = torch.cat([record[0] for record in policy.records])
        gold_index = torch.cat([record[1] for record in policy.records])
        postpone = torch.cat([record[2] if record[2] is not None else torch.zeros_like(record[0], dtype=torch.bool)
                              for record in policy.records])
        probabilities = torch.sigmoid(logits.detach())
        gold_rows = gold[rows, gold_index]
        masked = masked_by_row[rows] & (gold_rows[:, EOA:EOA + 1] < 0.5)
        own = (probabilities * self.config.projection_coefficient).clamp(max=1.0)
        targets = torch.where(masked, own, gold_rows)
        self_targeted = masked.clone()
        if self.config.postponed_shift_target == "attached":  # the authors' code: the target keeps its graph
            shift = torch.where(postpone, torch.sigmoid(logits[:, SHIFT]), targets[:, SHIFT])
            targets = torch.cat([targets[:, :SHIFT], shift[:, None], targets[:, SHIFT + 1:]], 1)
        else:
            targets[:, SHIFT] = torch.where(postpone, probabilities[:, SHIFT], targets[:, SHIFT])
            self_targeted[:, SHIFT] |= postpone
        return targets, self_targeted

    @torch.no_grad()
    def generate_spans(self, slots, valid, num_words) -> SRUNEROutput:
        """Decoding: the actions taken by the configured rule and the spans they give."""
        batch = slots.shape[0]
        policy = decoding_policy(self.config, num_words, self.vocab.num_types)
        logits = run_decoder(self.decoder, policy, slots, valid, num_words)
        padded_logits, step_mask = _scatter_steps(policy.records, logits, batch)
        chosen, _ = _scatter_steps(policy.records, policy.actions(logits), batch)
        probabilities = torch.sigmoid(padded_logits)
        head_spans, spans = [], []
        # steps are a prefix of each row; Python lists once, not small tensor ops per step
        for length, taken, scores, words_in_row in zip(
            step_mask.sum(-1).tolist(), chosen.tolist(), probabilities.tolist(), num_words.tolist()
        ):
            steps = [[i for i, on in enumerate(step) if on] for step in taken[:length]]
            found = decode_actions(steps, words_in_row, self.vocab, scores[:length])
            head_spans.append(found)
            spans.append(merge_head_spans(found, self.head_types))
        return SRUNEROutput(logits=padded_logits, action_probabilities=probabilities, step_mask=step_mask,
                            actions=chosen, spans=spans, head_spans=head_spans)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        word_ids: torch.Tensor | None = None,
        num_words: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        source_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **kwargs,
    ) -> SRUNEROutput:
        """``labels``: (batch, steps, actions) gold action matrix, padded steps filled with -100."""
        if word_ids is None or num_words is None:
            raise ValueError("word_ids and num_words are required; build inputs with SRUNERDataCollator")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        slots, valid = self.memory_slots(input_ids, attention_mask, word_ids, num_words, token_type_ids)
        if labels is not None:
            return self.teacher_forced(slots, valid, num_words, labels, source_ids)
        return self.generate_spans(slots, valid, num_words)


def _encoder_without_pooler(config: SRUNERConfig) -> PreTrainedModel:
    """The encoder, without a pooling layer where it has one: unused weights break DDP."""
    try:
        return AutoModel.from_config(config.encoder_config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(config.encoder_config)


@dataclass
class SRUNERDataCollator:
    """Turns examples ``{tokens, spans?, source?}`` into model inputs.

    Words become subwords with the encoder's fast tokenizer; spans become the gold action
    matrix; the source name selects the label mask. Errors name the offending example.
    """

    tokenizer: Any
    config: SRUNERConfig

    def __call__(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        vocab = action_vocabulary(self.config)
        token_lists = [list(example["tokens"]) for example in examples]
        encoding = self.tokenizer(token_lists, is_split_into_words=True, padding=True, truncation=False,
                                  return_tensors="pt", padding_side="right")
        limit = self.config.max_subword_tokens
        lengths = encoding["attention_mask"].sum(-1)
        for i, length in enumerate(lengths.tolist()):
            if length > limit:
                preview = " ".join(token_lists[i][:8])
                raise ValueError(
                    f"sentence {i} ({len(token_lists[i])} words: {preview!r}...) has {length} subword tokens; "
                    f"the limit is {limit} (config.max_subword_tokens); split long text into sentences first"
                )
        word_ids = torch.tensor(
            [[-1 if w is None else w for w in encoding.word_ids(i)] for i in range(len(examples))], dtype=torch.long
        )
        batch = {key: encoding[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoding}
        batch["word_ids"] = word_ids
        batch["num_words"] = torch.tensor([len(tokens) for tokens in token_lists], dtype=torch.long)
        if all("source" in example for example in examples):
            batch["source_ids"] = torch.tensor([self.source_id(example["source"]) for example in examples])
        if all("spans" in example for example in examples):
            batch["labels"] = self.gold_actions(examples, vocab)
        return batch

    def source_id(self, source: str) -> int:
        names = self.config.source_names
        if source not in names:
            raise ValueError(f"unknown source {source!r}; the model was configured with sources {names}")
        return names.index(source)

    def head_span(self, span: tuple[int, int, str], source: str | None) -> tuple[int, int, str]:
        """A gold span relabelled with the head that learns its type from its source."""
        if self.config.per_source_heads and source is None:
            raise ValueError("with per-source heads every training example needs its 'source'")
        start, end, entity_type = span
        if entity_type not in self.config.entity_types:
            raise ValueError(f"unknown entity type {entity_type!r}; the model knows {self.config.entity_types}")
        # with shared heads too: the label masks would otherwise teach "not this type" to other rows of that source
        if source is not None and entity_type not in self.config.sources.get(source, [entity_type]):
            raise ValueError(f"source {source!r} does not annotate {entity_type!r} (it annotates "
                             f"{self.config.sources[source]}); add the type to the source in the model's config")
        return (start, end, self.config.head_of(source, entity_type))

    def gold_actions(self, examples: Sequence[dict], vocab: ActionVocabulary) -> torch.Tensor:
        sequences = []
        for i, example in enumerate(examples):
            try:
                spans = [self.head_span(_span_tuple(span), example.get("source")) for span in example["spans"]]
                sequences.append(encode_spans(spans, len(example["tokens"]), vocab))
            except ValueError as error:
                raise ValueError(f"example {i} (source {example.get('source')!r}): {error}") from error
        return gold_action_tensor(sequences, len(vocab))


def gold_action_tensor(sequences: Sequence[Sequence[frozenset[int]]], num_actions: int, padding: float = -100.0) -> torch.Tensor:
    """(batch, steps, actions) multi-hot gold actions of `encode_spans` sequences.

    Steps past a sequence's end hold `padding`; -100 marks them as padding for `SRUNERModel.forward`.
    """
    labels = torch.full((len(sequences), max(map(len, sequences)), num_actions), padding)
    for i, steps in enumerate(sequences):
        labels[i, : len(steps)] = 0.0
        for t, step in enumerate(steps):
            labels[i, t, list(step)] = 1.0
    return labels


def _span_tuple(span) -> tuple[int, int, str]:
    if isinstance(span, dict):
        return (int(span["start"]), int(span["end"]), span["type"])
    start, end, entity_type = span[:3]
    return (int(start), int(end), entity_type)
