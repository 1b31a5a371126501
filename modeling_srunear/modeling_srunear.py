"""SRU-NER: an encoder, a max over subwords, and a recurrent transition-based decoder.

The decoder reads the sentence with a word pointer. Its state at each step is the action
memory slot under the pointer together with an attention read of the whole memory; an MLP
turns it into one logit per action (sigmoid, multi-label). The memory has one slot per
word (seeded with the word vector), a learned start slot before the words and a learned
end slot after them; after every step a softmax mix of the embeddings of the actions
scoring at least SHIFT is added into the slot under the pointer.

Attention scores a slot by its best match over latent vectors (``action_space_dim`` per
action) of the slot plus the embedding of its position relative to the pointer. Because
memory updates are always mixes of the action embeddings, the incremental decoder keeps
per slot only the accumulated mixing weights (one number per action) instead of a copy of
the memory at every step; the naive decoder keeps the full memory and is the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers.utils import ModelOutput

try:  # transformers >= 5
    from transformers import initialization as init
except ImportError:  # pragma: no cover - older transformers
    init = nn.init

from .configuration_srunear import SRUNERConfig
from .transition_system import EOA, SHIFT, ActionVocabulary, decode_actions, encode_spans


def action_vocabulary(config: SRUNERConfig) -> ActionVocabulary:
    return ActionVocabulary(tuple(config.entity_types))


def source_label_mask(config: SRUNERConfig) -> torch.Tensor:
    """(num_sources, num_actions) bool: True for the actions of types a source does not annotate."""
    vocab = action_vocabulary(config)
    mask = torch.zeros(len(config.sources), len(vocab), dtype=torch.bool)
    for row, annotated in enumerate(config.sources.values()):
        missing = [t for t in config.entity_types if t not in annotated]
        mask[row, vocab.type_actions(missing)] = True
    return mask


def action_loss(logits: torch.Tensor, targets: torch.Tensor, self_targeted: torch.Tensor, loss_type: str) -> torch.Tensor:
    """Loss over steps (rows) and actions (columns).

    Where ``self_targeted`` is set the target is derived from the model's own probability;
    those entries keep the value of the ordinary loss but their gradient is written as
    ``p - target`` from the detached probability, so it is exactly zero when the target
    is the probability itself (projection coefficient 1), not merely close to zero.
    """
    ordinary = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    detached_logits = logits.detach()
    self_value = F.binary_cross_entropy_with_logits(detached_logits, targets, reduction="none")
    self_grad = (torch.sigmoid(detached_logits) - targets) * (logits - detached_logits)
    per_action = torch.where(self_targeted, self_value + self_grad, ordinary)
    per_step = per_action.mean(-1) if loss_type == "multilabel_soft_margin" else per_action.sum(-1)
    return per_step.mean()


@dataclass
class SRUNEROutput(ModelOutput):
    """Per-step outputs of the decoder, padded to the longest action sequence of the batch.

    ``logits``/``action_probabilities`` are (batch, steps, actions); ``step_mask`` marks the
    real steps. At inference ``actions`` holds the action sets taken and ``spans`` the
    decoded ``(start, end, type, score)`` spans of each sentence.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    action_probabilities: torch.Tensor | None = None
    step_mask: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    actions: list[list[frozenset[int]]] | None = None
    spans: list[list[tuple[int, int, str, float]]] | None = None


class NaiveMemory:
    """Reference memory: the full (batch, slots, width) memory, rebuilt at every step."""

    def __init__(self, decoder: "SRUNERDecoder", slots: torch.Tensor, slot_kind: torch.Tensor, latent, positions):
        self.decoder, self.memory, self.slot_kind = decoder, slots, slot_kind
        self.latent, self.positions = latent, positions

    def read(self, pointer_slot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        position_ids = self.decoder.relative_positions(pointer_slot, self.slot_kind)
        keys = self.memory + self.positions[position_ids]
        scores = (keys @ self.latent.T).amax(-1)
        attention = self.decoder.attention_weights(scores, self.slot_kind == PAD_SLOT)
        read = (attention[:, None, :] @ self.memory).squeeze(1)
        under = self.memory[torch.arange(len(pointer_slot)), pointer_slot]
        return under, read

    def write(self, pointer_slot: torch.Tensor, weights: torch.Tensor) -> None:
        update = weights @ self.decoder.action_embeddings.weight
        onehot = F.one_hot(pointer_slot, self.memory.shape[1]).to(update.dtype)
        self.memory = self.memory + onehot[:, :, None] * update[:, None, :]

    def keep(self, rows: torch.Tensor) -> None:
        self.memory, self.slot_kind = self.memory[rows], self.slot_kind[rows]


class IncrementalMemory:
    """Fast memory: slot = seed vector + (accumulated action weights) @ action embeddings.

    The seed part of every slot's latent scores is computed once, the positional part once
    per relative offset, and a step only adds the new weights of the slot under the
    pointer. Backpropagation keeps per step only (batch, slots) attention weights and the
    argmax indices instead of a copy of the (batch, slots, width) memory.
    """

    def __init__(self, decoder: "SRUNERDecoder", slots: torch.Tensor, slot_kind: torch.Tensor, latent, positions):
        self.decoder = decoder
        self.records: list | None = [] if torch.is_grad_enabled() and slots.requires_grad else None
        self.seed = _CollectSeedGradients.apply(slots, self.records) if self.records is not None else slots
        self.rows = torch.arange(slots.shape[0], device=slots.device)
        self.active_seed = self.seed
        embeddings = decoder.action_embeddings.weight
        half = decoder.half_context
        position_scores = positions @ latent.T  # (positions, latents)
        # scores by clamped offset -H-1..H+1; both ends are the out-of-window embedding
        by_offset = torch.cat([position_scores[decoder.out_of_window, None], position_scores[: 2 * half + 1],
                               position_scores[decoder.out_of_window, None]])
        self.offset_scores, self.half = by_offset, half
        seed_scores = self.seed @ latent.T  # (batch, slots, latents)
        # the start slot never moves relative to its own embedding and never gets updates
        self.start_scores = (seed_scores[:, 0] + position_scores[decoder.first_slot]).max(-1).values
        self.word_scores = seed_scores[:, 1:]  # slots after the start: seed + written actions
        self.padding = slot_kind == PAD_SLOT
        self.slot_index = torch.arange(1, slots.shape[1], device=slots.device)
        self.action_scores = embeddings @ latent.T  # (actions, latents)
        self.weights = slots.new_zeros(slots.shape[0], slots.shape[1], embeddings.shape[0])

    def read(self, pointer_slot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        offsets = (self.slot_index[None, :] - pointer_slot[:, None]).clamp(-self.half - 1, self.half + 1) + self.half + 1
        word_scores = (self.word_scores + self.offset_scores[offsets]).max(-1).values
        scores = torch.cat([self.start_scores[:, None], word_scores], 1)
        attention = self.decoder.attention_weights(scores, self.padding)
        embeddings = self.decoder.action_embeddings.weight
        rows = torch.arange(len(pointer_slot), device=pointer_slot.device)
        if self.records is None:
            seed_read = (attention[:, None, :] @ self.active_seed).squeeze(1)
            seed_under = self.active_seed[rows, pointer_slot]
        else:
            seed_read, seed_under = _ReadSeed.apply(attention, pointer_slot, self.active_seed, self.rows, self.records)
        read = seed_read + (attention[:, None, :] @ self.weights).squeeze(1) @ embeddings
        under = seed_under + self.weights[rows, pointer_slot] @ embeddings
        return under, read

    def write(self, pointer_slot: torch.Tensor, weights: torch.Tensor) -> None:
        rows = torch.arange(len(pointer_slot), device=pointer_slot.device)
        self.weights = self.weights.index_put((rows, pointer_slot), weights, accumulate=True)
        self.word_scores = self.word_scores.index_put((rows, pointer_slot - 1), weights @ self.action_scores, accumulate=True)

    def keep(self, rows: torch.Tensor) -> None:
        self.active_seed = self.active_seed[rows]
        self.rows, self.padding, self.start_scores = self.rows[rows], self.padding[rows], self.start_scores[rows]
        self.word_scores, self.weights = self.word_scores[rows], self.weights[rows]


class _ReadSeed(torch.autograd.Function):
    """The seed part of a memory read: ``attention @ seed`` and the seed slot under the pointer.

    Its backward returns the attention gradient (needed step by step for the recurrence)
    and records what the seed's gradient needs; :class:`_CollectSeedGradients` turns the
    records of all steps into that gradient with one batched matmul, instead of a
    (batch, slots, width) outer product and sum per step. ``rows`` are the batch rows of
    the sentences still decoding in ``active_seed``, which is copied only when one finishes.
    """

    @staticmethod
    def forward(ctx, attention, pointer_slot, active_seed, rows, records):
        ctx.save_for_backward(attention, pointer_slot, active_seed, rows)
        ctx.records = records
        under = active_seed[torch.arange(len(rows), device=rows.device), pointer_slot]
        return (attention[:, None, :] @ active_seed).squeeze(1), under

    @staticmethod
    def backward(ctx, grad_read, grad_under):
        attention, pointer_slot, active_seed, rows = ctx.saved_tensors
        ctx.records.append((rows, attention, grad_read, pointer_slot, grad_under))
        grad_attention = (active_seed @ grad_read[:, :, None]).squeeze(2)
        return grad_attention, None, None, None, None


class _CollectSeedGradients(torch.autograd.Function):
    """Identity on the memory seed; its backward adds the deferred gradients of all reads."""

    @staticmethod
    def forward(ctx, seed, records):
        ctx.records = records
        return seed.view_as(seed)

    @staticmethod
    def backward(ctx, grad_seed):
        grad_seed = grad_seed.clone()
        if not ctx.records:
            return grad_seed, None
        batch, slots, _ = grad_seed.shape
        steps = len(ctx.records)
        attention = grad_seed.new_zeros(batch, steps, slots)
        grad_reads = grad_seed.new_zeros(batch, steps, grad_seed.shape[-1])
        for t, (rows, weights, grad_read, pointer_slot, grad_under) in enumerate(ctx.records):
            attention[rows, t] = weights
            grad_reads[rows, t] = grad_read
            grad_seed.index_put_((rows, pointer_slot), grad_under, accumulate=True)
        grad_seed += attention.transpose(1, 2) @ grad_reads
        return grad_seed, None


class _StepLinear(torch.autograd.Function):
    """``F.linear`` whose weight gradient is not accumulated step by step.

    Backward hands back the input gradient and records ``(input, output gradient)``;
    :class:`_CollectStepGradients` turns all records into the weight and bias gradients
    with one matmul, instead of one (width x width) product and sum per decoder step.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, records):
        ctx.save_for_backward(x, weight)
        ctx.records = records
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        ctx.records.append((x, grad_output))
        return grad_output @ weight, None, None, None


class _CollectStepGradients(torch.autograd.Function):
    """Identity on the decoder's input; its backward runs after every step's backward
    (every step reads that input), so it can return the step layers' summed gradients."""

    @staticmethod
    def forward(ctx, anchor, records, *parameters):
        ctx.records = records
        ctx.shapes = [p.shape for p in parameters]
        return anchor.view_as(anchor)

    @staticmethod
    def backward(ctx, grad_anchor):
        grads = []
        for layer_records in ctx.records:
            if not layer_records:
                grads += [None, None]
                continue
            inputs = torch.cat([x for x, _ in layer_records])
            outputs = torch.cat([g for _, g in layer_records])
            grads += [outputs.T @ inputs, outputs.sum(0)]
        return (grad_anchor, None, *grads)


# slot kinds: what a memory slot holds
WORD_SLOT, START_SLOT, PAD_SLOT = 0, 1, 2


class SRUNERDecoder(nn.Module):
    """The recurrent transition decoder over word vectors."""

    def __init__(self, config: SRUNERConfig, hidden_size: int):
        super().__init__()
        self.config = config
        self.vocab = action_vocabulary(config)
        num_actions = len(self.vocab)
        self.half_context = config.half_context
        # relative offsets -H..H, then out-of-window, first slot, padding
        self.out_of_window = 2 * config.half_context + 1
        self.first_slot, self.padding = self.out_of_window + 1, self.out_of_window + 2
        self.start_vector = nn.Parameter(torch.zeros(hidden_size))
        self.end_vector = nn.Parameter(torch.zeros(hidden_size))
        self.latent_vectors = nn.Parameter(torch.zeros(num_actions * config.action_space_dim, hidden_size))
        self.position_embeddings = nn.Embedding(2 * config.half_context + 4, hidden_size)
        self.action_embeddings = nn.Embedding(num_actions, hidden_size)
        self.positional_dropout = nn.Dropout(config.positional_dropout)
        self.latent_dropout = nn.Dropout(config.latent_dropout)
        self.attention_dropout = nn.Dropout(config.attention_dropout)
        self.mlp = nn.Sequential(
            nn.Dropout(config.mlp_dropout),
            nn.Linear(2 * hidden_size, 2 * hidden_size),
            nn.Tanh(),
            nn.Linear(2 * hidden_size, num_actions),
        )
        self.scale = 1.0 / math.sqrt(hidden_size)
        self.register_buffer("source_mask", source_label_mask(config), persistent=False)

    def relative_positions(self, pointer_slot: torch.Tensor, slot_kind: torch.Tensor) -> torch.Tensor:
        offsets = torch.arange(slot_kind.shape[1], device=slot_kind.device)[None, :] - pointer_slot[:, None]
        ids = torch.where(offsets.abs() <= self.half_context, offsets + self.half_context, self.out_of_window)
        ids = torch.where(slot_kind == START_SLOT, self.first_slot, ids)
        return torch.where(slot_kind == PAD_SLOT, self.padding, ids)

    def attention_weights(self, scores: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """Softmax over slots of already scaled scores (the latent vectors carry the scale)."""
        if self.attention_dropout.p > 0:
            scores = self.attention_dropout(scores)
        scores = scores.masked_fill(padding, float("-inf"))
        return scores.softmax(-1)

    def step_logits(self, state: torch.Tensor, records) -> torch.Tensor:
        """The MLP; with ``records`` its weight gradients are summed once for all steps."""
        if records is None:
            return self.mlp(state)
        dropout, first, _, last = self.mlp
        hidden = torch.tanh(_StepLinear.apply(dropout(state), first.weight, first.bias, records[0]))
        return _StepLinear.apply(hidden, last.weight, last.bias, records[1])

    def initial_memory(self, word_vectors: torch.Tensor, num_words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Slots: start, the words, end, then padding. Returns (slots, slot kinds)."""
        batch, max_words, width = word_vectors.shape
        slot_ids = torch.arange(max_words + 2, device=word_vectors.device)[None, :]
        end_slot = (num_words + 1)[:, None]
        slots = torch.cat([self.start_vector.expand(batch, 1, width), word_vectors, word_vectors.new_zeros(batch, 1, width)], 1)
        word_slot = (slot_ids >= 1) & (slot_ids < end_slot)
        slots = torch.where(word_slot[..., None], slots, 0.0)
        slots = torch.where((slot_ids == end_slot)[..., None], self.end_vector, slots)
        slots = torch.where((slot_ids == 0)[..., None], self.start_vector, slots)
        kind = torch.full_like(slot_ids.expand(batch, -1), PAD_SLOT)
        kind = torch.where(word_slot | (slot_ids == end_slot), WORD_SLOT, kind)
        kind = torch.where(slot_ids == 0, START_SLOT, kind)
        return slots, kind

    def forward(
        self,
        word_vectors: torch.Tensor,
        num_words: torch.Tensor,
        gold_actions: torch.Tensor | None = None,
        gold_lengths: torch.Tensor | None = None,
        source_ids: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        """Run the parser; teacher-forced with label masks when gold actions are given."""
        config, device = self.config, word_vectors.device
        batch = word_vectors.shape[0]
        training = gold_actions is not None
        latent = self.latent_dropout(self.latent_vectors) * self.scale  # max commutes with the scale
        positions = self.positional_dropout(self.position_embeddings.weight)
        records = None
        if config.decoder_implementation == "incremental" and torch.is_grad_enabled():
            records = ([], [])
            first, last = self.mlp[1], self.mlp[3]
            word_vectors = _CollectStepGradients.apply(word_vectors, records, first.weight, first.bias, last.weight, last.bias)
        slots, slot_kind = self.initial_memory(word_vectors, num_words)
        memory_class = NaiveMemory if config.decoder_implementation == "naive" else IncrementalMemory
        memory = memory_class(self, slots, slot_kind, latent, positions)

        rows = torch.arange(batch, device=device)  # batch row of each active sentence
        pointer = torch.zeros(batch, dtype=torch.long, device=device)
        words = num_words.clone()
        if training:
            max_steps = torch.floor(gold_lengths.float() * config.train_step_factor).long()
            gold_index = torch.zeros(batch, dtype=torch.long, device=device)
            masked_by_row = self.source_mask[source_ids] if source_ids is not None else torch.zeros(
                batch, len(self.vocab), dtype=torch.bool, device=device
            )
            masked = masked_by_row
            # per gold step: 1 for SHIFT, 2 for EOA, 0 for a structural step
            gold_kind = (gold_actions[..., SHIFT] > 0.5).long() + 2 * (gold_actions[..., EOA] > 0.5).long()
            lengths = gold_lengths.clone()
        else:
            max_steps = torch.maximum(torch.ceil(num_words.float() * config.inference_step_factor).long(), num_words + 1)
            open_counts = torch.zeros(batch, self.vocab.num_types, dtype=torch.long, device=device)
            opened_here = torch.zeros_like(open_counts)  # spans opened at the current pointer
        num_types = self.vocab.num_types
        step_outputs: list[tuple[torch.Tensor, ...]] = []
        t = 0
        while len(rows) > 0:
            under, read = memory.read(pointer + 1)
            logits = self.step_logits(torch.cat([under, read], -1), records)
            probabilities = torch.sigmoid(logits)
            detached = probabilities.detach()
            if training:
                kind = gold_kind[rows, gold_index]
                is_shift = kind == 1
                prefers_masked = (masked & (detached > detached[:, SHIFT : SHIFT + 1])).any(-1)
                room = (t + 1) + (lengths - gold_index) <= max_steps
                postpone = is_shift & prefers_masked & room
                step_outputs.append((rows, logits, gold_index, postpone))  # targets follow after the loop
                advance = ~postpone
                moves = advance & is_shift
                finished = advance & (kind == 2)
                gold_index = gold_index + advance.long()
            else:
                at_end = pointer >= words
                steps_left = max_steps - t
                forced_stop = steps_left <= (words - pointer)
                chosen = detached >= config.threshold
                chosen[:, :2] = False
                chosen[:, 2 : 2 + num_types] &= ~at_end[:, None]
                # a REDUCE needs an open span of its type, and the latest one must not start here (empty)
                chosen[:, 2 + num_types :] &= (open_counts > 0) & (opened_here == 0)
                structural = chosen.any(-1) & ~forced_stop
                chosen &= structural[:, None]
                chosen[:, SHIFT] = ~structural & ~at_end
                chosen[:, EOA] = ~structural & at_end
                opens = chosen[:, 2 : 2 + num_types].long()
                open_counts = open_counts + opens - chosen[:, 2 + num_types :].long()
                opened_here = torch.where(chosen[:, SHIFT : SHIFT + 1], 0, opened_here + opens)
                step_outputs.append((rows, logits, chosen))
                moves = chosen[:, SHIFT]
                finished = chosen[:, EOA]
            mix = logits.masked_fill(logits < logits[:, SHIFT : SHIFT + 1], float("-inf")).softmax(-1)
            memory.write(pointer + 1, mix)
            pointer = pointer + moves.long()
            t += 1
            if finished.any():
                keep = (~finished).nonzero().squeeze(1)
                memory.keep(keep)
                rows, pointer, words, max_steps = rows[keep], pointer[keep], words[keep], max_steps[keep]
                if training:
                    gold_index, masked, lengths = gold_index[keep], masked[keep], lengths[keep]
                else:
                    open_counts, opened_here = open_counts[keep], opened_here[keep]
        if training:
            return self._collect_training(step_outputs, batch, gold_actions, masked_by_row)
        return self._collect(step_outputs, batch)

    def _collect(self, step_outputs, batch: int) -> dict[str, Any]:
        """Scatter the per-step logits and chosen actions into padded (batch, steps, actions) tensors."""
        rows, steps = self._step_positions(step_outputs)
        shape = (batch, len(step_outputs), len(self.vocab))
        logits = torch.cat([out[1] for out in step_outputs])
        chosen = torch.cat([out[2] for out in step_outputs])
        return {"logits": logits.new_zeros(shape).index_put((rows, steps), logits),
                "chosen": chosen.new_zeros(shape).index_put((rows, steps), chosen),
                "step_mask": self._step_mask(rows, steps, shape)}

    def _collect_training(self, step_outputs, batch: int, gold_actions: torch.Tensor, masked_by_row: torch.Tensor):
        """Padded logits and the targets of every step, computed once for all steps.

        Actions a source does not annotate target the model's own (detached) probability
        times the projection coefficient; a postponed SHIFT targets its own probability.
        """
        rows, steps = self._step_positions(step_outputs)
        logits = torch.cat([out[1] for out in step_outputs])
        gold_index = torch.cat([out[2] for out in step_outputs])
        postpone = torch.cat([out[3] for out in step_outputs])
        probabilities = torch.sigmoid(logits.detach())
        masked = masked_by_row[rows]
        own = (probabilities * self.config.projection_coefficient).clamp(max=1.0)
        targets = torch.where(masked, own, gold_actions[rows, gold_index])
        targets[:, SHIFT] = torch.where(postpone, probabilities[:, SHIFT], targets[:, SHIFT])
        self_targeted = masked.clone()
        self_targeted[:, SHIFT] |= postpone
        shape = (batch, len(step_outputs), len(self.vocab))
        return {"logits": logits.new_zeros(shape).index_put((rows, steps), logits),
                "targets": targets.new_zeros(shape).index_put((rows, steps), targets),
                "self_targeted": self_targeted.new_zeros(shape).index_put((rows, steps), self_targeted),
                "step_mask": self._step_mask(rows, steps, shape)}

    @staticmethod
    def _step_positions(step_outputs) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.cat([out[0] for out in step_outputs])
        steps = torch.cat([torch.full_like(out[0], t) for t, out in enumerate(step_outputs)])
        return rows, steps

    @staticmethod
    def _step_mask(rows: torch.Tensor, steps: torch.Tensor, shape) -> torch.Tensor:
        mask = torch.zeros(shape[:2], dtype=torch.bool, device=rows.device)
        return mask.index_put((rows, steps), torch.ones_like(rows, dtype=torch.bool))


class SRUNERPreTrainedModel(PreTrainedModel):
    config_class = SRUNERConfig
    config: SRUNERConfig
    base_model_prefix = "srunear"
    main_input_name = "input_ids"

    def _init_weights(self, module):
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, SRUNERDecoder):
            init.normal_(module.start_vector, mean=0.0, std=std)
            init.normal_(module.end_vector, mean=0.0, std=std)
            init.normal_(module.latent_vectors, mean=0.0, std=std)
        elif isinstance(module, SRUNERModel):
            init.constant_(module.token_multiplier, self.config.token_multiplier)


class SRUNERModel(SRUNERPreTrainedModel):
    """Encoder + SRU-NER decoder. ``forward`` trains with gold actions or decodes spans."""

    def __init__(self, config: SRUNERConfig):
        super().__init__(config)
        self.encoder = _encoder_without_pooler(config)
        hidden_size = self.encoder.config.hidden_size
        self.token_multiplier = nn.Parameter(
            torch.tensor(float(config.token_multiplier)), requires_grad=config.train_token_multiplier
        )
        self.decoder = SRUNERDecoder(config, hidden_size)
        self.vocab = action_vocabulary(config)
        self.post_init()

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, entity_types: Sequence[str], sources: dict[str, list[str]] | None = None, **decoder_kwargs) -> "SRUNERModel":
        """A new SRU-NER model on a pretrained encoder (Hub id or local folder); the decoder starts random."""
        encoder = AutoModel.from_pretrained(encoder_name_or_path)
        config = SRUNERConfig(
            encoder_config=encoder.config.to_dict(),
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

    def word_vectors(self, input_ids, attention_mask, word_ids, num_words, token_type_ids=None) -> torch.Tensor:
        """Max over each word's subword vectors (scatter_reduce), scaled by the token multiplier."""
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        batch, _, width = hidden.shape
        max_words = int(num_words.max()) if len(num_words) else 0
        index = torch.where(word_ids >= 0, word_ids, max_words)[..., None].expand(-1, -1, width)
        words = hidden.new_zeros(batch, max_words + 1, width).scatter_reduce(1, index, hidden, "amax", include_self=False)
        return words[:, :max_words] * self.token_multiplier

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
        words = self.word_vectors(input_ids, attention_mask, word_ids, num_words, token_type_ids)
        if labels is not None:
            gold_lengths = (labels[..., 0] != -100).sum(-1)
            out = self.decoder(words, num_words, labels.clamp(min=0).to(words.dtype), gold_lengths, source_ids)
            mask = out["step_mask"]
            loss = action_loss(out["logits"][mask], out["targets"][mask], out["self_targeted"][mask], self.config.loss_type)
            return SRUNEROutput(loss=loss, logits=out["logits"], step_mask=mask, targets=out["targets"],
                                action_probabilities=torch.sigmoid(out["logits"]))
        out = self.decoder(words, num_words)
        probabilities = torch.sigmoid(out["logits"])
        actions, spans = [], []
        for row in range(len(num_words)):
            steps = out["step_mask"][row].nonzero().squeeze(1)
            chosen = out["chosen"][row, steps]
            taken = [frozenset(step.nonzero().squeeze(1).tolist()) for step in chosen]
            actions.append(taken)
            decoded = decode_actions(taken, int(num_words[row]), self.vocab, probabilities[row, steps].tolist())
            spans.append(decoded.spans)
        return SRUNEROutput(logits=out["logits"], action_probabilities=probabilities, step_mask=out["step_mask"],
                            actions=actions, spans=spans)


def _encoder_without_pooler(config: SRUNERConfig) -> PreTrainedModel:
    """The encoder, without a pooling layer where it has one: unused weights break DDP."""
    encoder_config = config.build_encoder_config()
    try:
        return AutoModel.from_config(encoder_config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(encoder_config)


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
        encoding = self.tokenizer(token_lists, is_split_into_words=True, padding=True, truncation=False, return_tensors="pt")
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

    def gold_actions(self, examples: Sequence[dict], vocab: ActionVocabulary) -> torch.Tensor:
        sequences = []
        for i, example in enumerate(examples):
            spans = [_span_tuple(span) for span in example["spans"]]
            try:
                sequences.append(encode_spans(spans, len(example["tokens"]), vocab))
            except ValueError as error:
                raise ValueError(f"example {i} (source {example.get('source')!r}): {error}") from error
        labels = torch.full((len(sequences), max(map(len, sequences)), len(vocab)), -100.0)
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
