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
from torch.autograd.function import once_differentiable
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


def dropout_scale(shape: tuple[int, ...], p: float, reference: torch.Tensor) -> torch.Tensor | None:
    """Inverted-dropout multiplier (0 or 1/(1-p)), or None when there is no dropout.

    Both decoders draw their per-step masks through this function in the same order, so
    with one seed they drop the same units and can be compared with dropout on.
    """
    if p == 0:
        return None
    keep = torch.rand(shape, dtype=reference.dtype, device=reference.device).ge_(p)
    return keep.div_(1.0 - p)


def shift_mix(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the actions scoring at least SHIFT: what a step writes into the memory."""
    return logits.masked_fill(logits < logits[:, SHIFT : SHIFT + 1], float("-inf")).softmax(-1)


class NaiveMemory:
    """Reference memory: the full (batch, slots, width) memory, rebuilt at every step."""

    def __init__(self, decoder: "SRUNERDecoder", slots: torch.Tensor, slot_kind: torch.Tensor, latent, positions):
        self.decoder, self.memory, self.slot_kind = decoder, slots, slot_kind
        self.latent, self.positions = latent, positions

    def step(self, pointer_slot: torch.Tensor) -> torch.Tensor:
        """Read the memory at the pointer, return the step's action logits, write the step's mix."""
        decoder = self.decoder
        position_ids = decoder.relative_positions(pointer_slot, self.slot_kind)
        keys = self.memory + self.positions[position_ids]
        scores = (keys @ self.latent.T).amax(-1)
        scale = dropout_scale(scores.shape, decoder.attention_dropout_p, scores)
        if scale is not None:
            scores = scores * scale
        attention = scores.masked_fill(self.slot_kind == PAD_SLOT, float("-inf")).softmax(-1)
        read = (attention[:, None, :] @ self.memory).squeeze(1)
        under = self.memory[torch.arange(len(pointer_slot)), pointer_slot]
        state = torch.cat([under, read], -1)
        scale = dropout_scale(state.shape, decoder.mlp_dropout_p, state)
        if scale is not None:
            state = state * scale
        _, first, _, last = decoder.mlp
        logits = last(torch.tanh(first(state)))
        update = shift_mix(logits) @ decoder.action_embeddings.weight
        onehot = F.one_hot(pointer_slot, self.memory.shape[1]).to(update.dtype)
        self.memory = self.memory + onehot[:, :, None] * update[:, None, :]
        return logits

    def keep(self, rows: torch.Tensor) -> None:
        """Drop the sentences that finished; ``rows`` holds the positions of the others."""
        self.memory, self.slot_kind = self.memory[rows], self.slot_kind[rows]


class IncrementalMemory:
    """Fast memory: slot = seed vector + (accumulated action weights) @ action embeddings.

    Every memory update is a mix of the action embeddings, so a slot is its seed vector
    plus ``weights[slot] @ embeddings`` and its latent scores are the seed's scores plus
    ``weights[slot] @ action_scores``. The seed part is scored once per sentence, the
    positional part once per relative offset, and a write adds one slot's new scores.

    In training, each step (read, MLP, write) is one autograd node (:class:`_DecoderStep`)
    with a hand-written backward. Backpropagation keeps per step the (batch, 2, slots) read
    weights, the argmax latent of every slot and the MLP activations; the action weights
    before a write are restored during backward by subtracting that write, so no copy of
    the memory is kept per step. Gradients of the seed, positions, latents, embeddings and
    MLP are summed over all steps at the end (:class:`_DecoderBegin`) with a few large
    matmuls. Such a graph can be backpropagated once (no ``retain_graph`` reuse, no double
    backward); the naive decoder has no such limit.
    """

    def __init__(self, decoder: "SRUNERDecoder", slots: torch.Tensor, slot_kind: torch.Tensor, latent, positions):
        self.decoder = decoder
        batch, num_slots, _ = slots.shape
        self.half = decoder.half_context
        self.row_range = torch.arange(batch, device=slots.device)
        self.rows = self.row_range
        self.padding = slot_kind == PAD_SLOT
        # by pointer slot, the id of every slot's relative offset: -H-1..H+1 shifted to 0..2H+2, and
        # 2H+3 (a zero row) for the start slot, whose first-slot position is in its seed scores
        self.slot_ids = torch.arange(num_slots, device=slots.device)
        offsets = self.slot_ids[None, :] - self.slot_ids[:, None]
        self.offset_ids = offsets.clamp(-self.half - 1, self.half + 1) + self.half + 1
        self.offset_ids[:, 0] = 2 * self.half + 3
        self.one_hot = torch.eye(num_slots, dtype=slots.dtype, device=slots.device)
        first, last = decoder.mlp[1], decoder.mlp[3]
        parameters = (slots, latent, positions, decoder.action_embeddings.weight,
                      first.weight, first.bias, last.weight, last.bias)
        self.tracking = torch.is_grad_enabled() and any(p.requires_grad for p in parameters)
        if self.tracking:
            self.token = _DecoderBegin.apply(self, *parameters)
        else:
            self.prepare(*parameters)

    def prepare(self, slots, latent, positions, embeddings, first_weight, first_bias, last_weight, last_bias) -> None:
        """The per-sentence constants: seed scores, scores by offset and by action."""
        decoder, half = self.decoder, self.half
        self.seed, self.embeddings = slots, embeddings
        self.mlp_weights = (first_weight, first_bias, last_weight, last_bias)
        position_scores = positions @ latent.T  # (positions, latents)
        # scores by offset id; both ends are the out-of-window embedding, then the zero row
        out_of_window = position_scores[decoder.out_of_window, None]
        self.offset_scores = torch.cat([out_of_window, position_scores[: 2 * half + 1], out_of_window,
                                        torch.zeros_like(out_of_window)])
        # latent scores of every slot: seed + written actions; the start slot's never changes
        # and includes its position; padding never wins
        self.slot_scores = slots @ latent.T  # (batch, slots, latents)
        self.slot_scores[:, 0] += position_scores[decoder.first_slot]
        self.slot_scores.masked_fill_(self.padding[..., None], float("-inf"))
        self.action_scores = embeddings @ latent.T  # (actions, latents)
        self.action_scores_t = self.action_scores.T.contiguous()
        self.weights = slots.new_zeros(slots.shape[0], slots.shape[1], embeddings.shape[0])

    def step(self, pointer_slot: torch.Tensor) -> torch.Tensor:
        """Read the memory at the pointer, return the step's action logits, write the step's mix."""
        if self.tracking:
            logits, self.token = _DecoderStep.apply(self.token, self, pointer_slot)
            return logits
        return self.step_forward(pointer_slot)[0]

    def step_forward(self, pointer_slot: torch.Tensor):
        """Logits of one step and what its backward needs (plain tensors, no autograd)."""
        decoder = self.decoder
        active = len(pointer_slot)
        rows = self.row_range[:active]
        offsets = self.offset_ids[pointer_slot]
        scores, best_index = (self.slot_scores + self.offset_scores[offsets]).max(-1)
        attention_scale = dropout_scale(scores.shape, decoder.attention_dropout_p, scores)
        if attention_scale is not None:  # -inf * 0 is nan: mask the padding again
            scores = (scores * attention_scale).masked_fill_(self.padding, float("-inf"))
        # two read heads: the slot under the pointer (one-hot) and the attention
        attention = scores.softmax(-1)
        heads = torch.stack([self.one_hot[pointer_slot], attention], 1)
        weight_heads = heads @ self.weights  # (active, 2, actions)
        state = torch.baddbmm(heads @ self.seed, weight_heads, self.embeddings.expand(active, -1, -1)).view(active, -1)
        mlp_scale = dropout_scale(state.shape, decoder.mlp_dropout_p, state)
        if mlp_scale is not None:
            state = state * mlp_scale
        first_weight, first_bias, last_weight, last_bias = self.mlp_weights
        hidden = torch.tanh(torch.addmm(first_bias, state, first_weight.T))
        logits = torch.addmm(last_bias, hidden, last_weight.T)
        mix = shift_mix(logits)
        self.weights.index_put_((rows, pointer_slot), mix, accumulate=True)
        self.slot_scores.index_put_((rows, pointer_slot), mix @ self.action_scores, accumulate=True)
        return logits, (heads, weight_heads, best_index, offsets, attention_scale, state, mlp_scale, hidden, mix)

    def keep(self, keep: torch.Tensor) -> None:
        """Drop the sentences that finished; ``keep`` holds the positions of the others."""
        if self.tracking:  # the final weights of finished sentences start the backward pass
            done = torch.ones(len(self.rows), dtype=torch.bool, device=keep.device)
            done[keep] = False
            self.grads.weights[self.rows[done]] = self.weights[done]
        self.rows, self.seed, self.padding = self.rows[keep], self.seed[keep], self.padding[keep]
        self.slot_scores, self.weights = self.slot_scores[keep], self.weights[keep]


class _BackwardState:
    """Buffers the steps' backward passes fill in and :class:`_DecoderBegin` reads.

    ``weights`` starts as the final action weights of every sentence and is rolled back
    write by write; ``weights_grad`` is dL/d(action weights) summed over the steps after
    the one being backpropagated, which is what a write's mix receives.
    """

    def __init__(self, memory: IncrementalMemory, slots: torch.Tensor, latent: torch.Tensor):
        batch, num_slots, _ = slots.shape
        num_latents, num_actions = latent.shape[0], memory.action_scores.shape[0]
        self.weights = slots.new_zeros(batch, num_slots, num_actions)
        self.weights_grad = torch.zeros_like(self.weights)
        self.slot_scores_grad = slots.new_zeros(batch, num_slots, num_latents)
        self.offset_grad = torch.zeros_like(memory.offset_scores)
        self.action_scores_t_grad = torch.zeros_like(memory.action_scores_t)
        self.reads: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # rows, heads, grad of state
        self.embedding_reads: list[tuple[torch.Tensor, torch.Tensor]] = []  # weight heads, grad of state
        self.first_layer: list[tuple[torch.Tensor, torch.Tensor]] = []  # input, grad of pre-activation
        self.last_layer: list[tuple[torch.Tensor, torch.Tensor]] = []  # hidden, grad of logits


class _DecoderBegin(torch.autograd.Function):
    """Prepares the incremental memory; its backward runs after every step's and sums their gradients.

    The steps record what each parameter's gradient needs into ``memory.grads``
    (:class:`_BackwardState`); this turns the records into gradients with a few matmuls
    instead of one small outer product per step and parameter.
    """

    @staticmethod
    def forward(ctx, memory, slots, latent, positions, embeddings, first_weight, first_bias, last_weight, last_bias):
        memory.prepare(slots, latent, positions, embeddings, first_weight, first_bias, last_weight, last_bias)
        memory.grads = _BackwardState(memory, slots, latent)
        memory.first_weight_t = first_weight.T.contiguous()  # (x @ W.T) is faster than (x @ W) for the backward
        ctx.memory = memory
        ctx.save_for_backward(slots, latent, positions, embeddings)
        return slots.new_zeros(())  # the token every step and write depends on

    @staticmethod
    @once_differentiable
    def backward(ctx, _):
        memory, grads = ctx.memory, ctx.memory.grads
        slots, latent, positions, embeddings = ctx.saved_tensors
        decoder, half = memory.decoder, memory.half
        batch, num_slots, width = slots.shape
        num_latents = latent.shape[0]
        grad_slots = torch.zeros_like(slots)
        if grads.reads:  # both read heads of all steps in one batched matmul
            steps = len(grads.reads)
            heads = slots.new_zeros(batch, steps, 2, num_slots)
            head_grads = slots.new_zeros(batch, steps, 2, width)
            for t, (rows, step_heads, step_grads) in enumerate(grads.reads):
                heads[rows, t] = step_heads
                head_grads[rows, t] = step_grads
            grad_slots += heads.view(batch, -1, num_slots).transpose(1, 2) @ head_grads.view(batch, -1, width)
        # latent scores of the slots; the start slot's include its position
        slot_scores_grad = grads.slot_scores_grad
        grad_slots += slot_scores_grad @ latent
        grad_latent = slot_scores_grad.view(-1, num_latents).T @ slots.reshape(-1, width)
        position_scores_grad = positions.new_zeros(positions.shape[0], num_latents)
        position_scores_grad[decoder.first_slot] = slot_scores_grad[:, 0].sum(0)
        offset_grad = grads.offset_grad[:-1]  # the start slot's zero row has no parameter
        position_scores_grad[: 2 * half + 1] += offset_grad[1:-1]
        position_scores_grad[decoder.out_of_window] += offset_grad[0] + offset_grad[-1]
        grad_positions = position_scores_grad @ latent
        grad_latent += position_scores_grad.T @ positions
        action_scores_grad = grads.action_scores_t_grad.T
        grad_embeddings = action_scores_grad @ latent
        grad_latent += action_scores_grad.T @ embeddings
        if grads.embedding_reads:
            weight_heads = torch.cat([w for w, _ in grads.embedding_reads]).view(-1, embeddings.shape[0])
            head_grads = torch.cat([g for _, g in grads.embedding_reads]).view(-1, width)
            grad_embeddings += weight_heads.T @ head_grads
        layer_grads = []
        for records in (grads.first_layer, grads.last_layer):
            if not records:
                layer_grads += [None, None]
                continue
            inputs = torch.cat([x for x, _ in records])
            outputs = torch.cat([g for _, g in records])
            layer_grads += [outputs.T @ inputs, outputs.sum(0)]
        memory.grads = None
        return (None, grad_slots, grad_latent, grad_positions, grad_embeddings, *layer_grads)


class _DecoderStep(torch.autograd.Function):
    """One decoder step: memory read at the pointer, MLP and memory write, as one autograd node.

    Every step takes and returns a token (an empty scalar), so that autograd runs the
    backward of a step only after those of all later steps.
    """

    @staticmethod
    def forward(ctx, token, memory, pointer_slot):
        ctx.memory = memory
        seed, rows = memory.seed, memory.rows
        logits, saved = memory.step_forward(pointer_slot)
        ctx.save_for_backward(pointer_slot, rows, seed, *saved)
        return logits, token.new_zeros(())

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_logits, grad_token):
        memory, grads = ctx.memory, ctx.memory.grads
        if grads is None:
            raise RuntimeError(
                "this SRU-NER decoder graph was already backpropagated; the incremental decoder's graph can be "
                "used once (set config.decoder_implementation='naive' to reuse a graph)"
            )
        pointer_slot, rows, seed, heads, weight_heads, best_index, offsets, attention_scale, state, mlp_scale, hidden, mix = (
            ctx.saved_tensors)
        last_weight = memory.mlp_weights[2]
        active = heads.shape[0]
        all_rows = active == grads.weights.shape[0]
        # the write: undo it, so that the weights are those this step read; every later step read it
        grads.weights.index_put_((rows, pointer_slot), -mix, accumulate=True)
        grad_mix = grads.weights_grad[rows, pointer_slot]
        grad_logits = grad_logits + torch._softmax_backward_data(grad_mix, mix, -1, mix.dtype)
        # MLP; its weight gradients are summed once for all steps
        grads.last_layer.append((hidden, grad_logits))
        grad_pre = torch.ops.aten.tanh_backward(grad_logits @ last_weight, hidden)
        grads.first_layer.append((state, grad_pre))
        grad_state = grad_pre @ memory.first_weight_t.T
        if mlp_scale is not None:
            grad_state.mul_(mlp_scale)
        grad_heads = grad_state.view(active, 2, -1)  # (active, 2, width)
        grads.reads.append((rows, heads, grad_heads))
        grads.embedding_reads.append((weight_heads, grad_heads))
        grad_weight_heads = grad_heads @ memory.embeddings.T  # (active, 2, actions)
        weights = grads.weights if all_rows else grads.weights[rows]  # as they were before this step's write
        # attention head -> scores (softmax backward, padding has attention 0)
        attention = heads[:, 1]
        grad_attention = (seed @ grad_heads[:, 1, :, None]).squeeze(-1)
        grad_attention += (weights @ grad_weight_heads[:, 1, :, None]).squeeze(-1)
        grad_scores = torch._softmax_backward_data(grad_attention, attention, -1, attention.dtype)
        if attention_scale is not None:
            grad_scores.mul_(attention_scale)
        # best latent of each slot: seed scores, offset scores, written action scores
        grads.slot_scores_grad.index_put_((rows[:, None], memory.slot_ids, best_index), grad_scores, accumulate=True)
        grads.offset_grad.index_put_((offsets, best_index), grad_scores, accumulate=True)
        written = weights * grad_scores[..., None]
        grads.action_scores_t_grad.index_add_(0, best_index.view(-1), written.reshape(-1, written.shape[-1]))
        # gradient of the action weights of every slot: both heads and the scores
        grad_weights = heads.transpose(1, 2) @ grad_weight_heads
        grad_weights += grad_scores[..., None] * memory.action_scores_t[best_index]
        if all_rows:
            grads.weights_grad += grad_weights
        else:
            grads.weights_grad.index_add_(0, rows, grad_weights)
        return grad_token, None, None


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

    @property
    def attention_dropout_p(self) -> float:
        return self.config.attention_dropout if self.training else 0.0

    @property
    def mlp_dropout_p(self) -> float:
        """The MLP input dropout (``mlp[0]`` holds its rate; masks come from :func:`dropout_scale`)."""
        return self.mlp[0].p if self.training else 0.0

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
        """Run the parser; teacher-forced with label masks when gold actions are given.

        The decoder always runs in float32: under mixed precision its many small steps
        gain nothing from half precision and its sigmoid decisions would lose accuracy.
        """
        with torch.autocast(device_type=word_vectors.device.type, enabled=False):
            return self._decode(word_vectors.float(), num_words, gold_actions, gold_lengths, source_ids)

    def _decode(self, word_vectors, num_words, gold_actions, gold_lengths, source_ids) -> dict[str, Any]:
        config, device = self.config, word_vectors.device
        batch = word_vectors.shape[0]
        training = gold_actions is not None
        latent = self.latent_dropout(self.latent_vectors) * self.scale  # max commutes with the scale
        positions = self.positional_dropout(self.position_embeddings.weight)
        slots, slot_kind = self.initial_memory(word_vectors, num_words)
        memory_class = NaiveMemory if config.decoder_implementation == "naive" else IncrementalMemory
        memory = memory_class(self, slots, slot_kind, latent, positions)

        rows = torch.arange(batch, device=device)  # batch row of each active sentence
        slot = torch.ones(batch, dtype=torch.long, device=device)  # memory slot under the word pointer
        words = num_words.clone()
        num_types = self.vocab.num_types
        if training:
            max_steps = torch.floor(gold_lengths.float() * config.train_step_factor).long()
            gold_index = torch.zeros(batch, dtype=torch.long, device=device)
            masked_by_row = self.source_mask[source_ids] if source_ids is not None else torch.zeros(
                batch, len(self.vocab), dtype=torch.bool, device=device
            )
            masked = masked_by_row
            # SHIFT can only be postponed where a source leaves some type unannotated
            postponing = bool(masked_by_row.any())
            # per gold step: 1 for SHIFT, 2 for EOA, 0 for a structural step
            gold_kind = (gold_actions[..., SHIFT] > 0.5).long() + 2 * (gold_actions[..., EOA] > 0.5).long()
            slack = max_steps - gold_lengths  # steps that may still be spent postponing
        else:
            max_steps = torch.maximum(torch.ceil(num_words.float() * config.inference_step_factor).long(), num_words + 1)
            # the parser must stop opening and closing spans once the steps left only suffice to shift to the end
            deadline = max_steps - words  # + pointer, which starts at 0
            at_end = words == 0
            # per type: open spans, then spans opened at the current pointer (small integers, exact in float)
            span_counts = word_vectors.new_zeros(batch, 2 * num_types)
            eye = torch.eye(num_types, device=device)
            span_changes = torch.cat([torch.cat([eye, eye], 1), torch.cat([-eye, torch.zeros_like(eye)], 1)])  # (opens, closes) -> counts
            allowed = torch.zeros(batch, len(self.vocab), dtype=torch.bool, device=device)
            allowed[:, 2 : 2 + num_types] = ~at_end[:, None]
        step_outputs: list[tuple[torch.Tensor, ...]] = []
        t = 0
        while len(rows) > 0:
            logits = memory.step(slot)
            if training:
                kind = gold_kind[rows, gold_index]
                moves, finished = kind == 1, kind == 2
                postpone = None
                if postponing:
                    probabilities = torch.sigmoid(logits.detach())
                    prefers_masked = (masked & (probabilities > probabilities[:, SHIFT : SHIFT + 1])).any(-1)
                    room = gold_index + slack > t
                    postpone = moves & prefers_masked & room
                    moves &= ~postpone
                step_outputs.append((rows, logits, gold_index, postpone))  # targets follow after the loop
                gold_index = gold_index + 1 if postpone is None else gold_index + (~postpone).long()
            else:
                # actions over the threshold that are allowed: TRANSITION before the end, REDUCE of
                # a type with an open span whose latest one does not start here (it would be empty)
                chosen = (torch.sigmoid(logits) >= config.threshold) & allowed
                structural = chosen.any(-1) & (deadline > t)
                chosen &= structural[:, None]
                finished = ~structural & at_end
                moves = ~structural ^ finished
                chosen[:, EOA], chosen[:, SHIFT] = finished, moves
                step_outputs.append((rows, logits, chosen))
                span_counts += chosen[:, 2:].to(span_counts.dtype) @ span_changes
                span_counts[:, num_types:].masked_fill_(moves[:, None], 0.0)
                deadline = deadline + moves
                at_end = slot + moves > words
                allowed[:, 2 : 2 + num_types] = ~at_end[:, None]
                allowed[:, 2 + num_types :] = (span_counts[:, :num_types] > 0) & (span_counts[:, num_types:] == 0)
            slot = slot + moves
            t += 1
            if finished.any():
                keep = (~finished).nonzero().squeeze(1)
                memory.keep(keep)
                rows, slot, words = rows[keep], slot[keep], words[keep]
                if training:
                    gold_index, masked, slack = gold_index[keep], masked[keep], slack[keep]
                else:
                    deadline, at_end, span_counts, allowed = deadline[keep], at_end[keep], span_counts[keep], allowed[keep]
        if isinstance(memory, IncrementalMemory):
            memory.token = None  # break the memory -> graph -> memory cycle; the graph keeps what backward needs
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
        postpone = torch.cat([out[3] if out[3] is not None else torch.zeros_like(out[0], dtype=torch.bool)
                              for out in step_outputs])
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
        # steps are a prefix of each row; Python lists once, not small tensor ops per step
        for length, chosen, scores, words_in_row in zip(
            out["step_mask"].sum(-1).tolist(), out["chosen"].tolist(), probabilities.tolist(), num_words.tolist()
        ):
            taken = [frozenset(i for i, on in enumerate(step) if on) for step in chosen[:length]]
            actions.append(taken)
            spans.append(decode_actions(taken, words_in_row, self.vocab, scores[:length]).spans)
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
