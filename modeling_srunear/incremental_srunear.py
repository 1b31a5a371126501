"""The fast SRU-NER decoder: the whole teacher-forced sequence as one autograd Function.

The reference decoder (``SRUNERDecoder.reference_step`` under :func:`run_steps`) lets
autograd record a copy of the (batch, slots, width) memory at every step: memory and time
quadratic in the sentence length, and dozens of graph nodes per step. Here the forward pass
runs the same loop on plain tensors, writing into one memory buffer in place and recording
per step only what is linear in the length (attention weights, the winning latent of each
slot, the MLP activations). The backward pass walks the steps in reverse: it undoes each
write by subtraction, so the buffer holds the memory that step read, draws the step's
dropout masks again (:class:`StepNoise`), and carries dL/d(memory) from later steps to
earlier ones. Gradients of the MLP and the action embeddings are summed over all steps at
the end with a few large matmuls.

At inference without dropout every slot keeps its latent scores and its contribution to
the MLP's first layer, updated by each write (:class:`CachedScores`), so a step costs no
(slots x width x latents) product and no (2 width)^2 matrix-vector product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .decoder_srunear import SHIFT, SRUNERDecoder, StepMasks, StepNoise
from .policies_srunear import run_one_sentence, run_steps


@dataclass
class _Parameters:
    """The decoder's tensors, detached, in the order the Function receives them."""

    slots: torch.Tensor
    start: torch.Tensor
    latent: torch.Tensor
    key_diagonal: torch.Tensor
    value_diagonal: torch.Tensor
    multiplier: torch.Tensor
    positions: torch.Tensor
    embeddings: torch.Tensor
    hidden_weight: torch.Tensor
    hidden_bias: torch.Tensor
    output_weight: torch.Tensor
    output_bias: torch.Tensor

    @classmethod
    def of(cls, decoder: SRUNERDecoder, slots: torch.Tensor) -> list[torch.Tensor]:
        return [slots, decoder.start_vector, decoder.latent_vectors, decoder.key_diagonal, decoder.value_diagonal,
                decoder.token_multiplier, decoder.position_embeddings.weight, decoder.action_embeddings.weight,
                decoder.hidden_layer.weight, decoder.hidden_layer.bias, decoder.output_layer.weight,
                decoder.output_layer.bias]


def _latents(p: _Parameters, masks: StepMasks, score_scale: float) -> torch.Tensor:
    latent = p.latent if masks.latents is None else p.latent * masks.latents
    return latent * (p.key_diagonal * score_scale)


def _softmax_backward(grad: torch.Tensor, probabilities: torch.Tensor) -> torch.Tensor:
    return probabilities * (grad - (grad * probabilities).sum(-1, keepdim=True))


class _Run:
    """One forward pass on plain tensors: the memory buffer and, when recording, what backward needs."""

    def __init__(self, decoder: SRUNERDecoder, p: _Parameters, valid: torch.Tensor, noise: StepNoise, record: bool):
        self.decoder, self.p, self.valid, self.noise, self.record = decoder, p, valid, noise, record
        self.memory = p.slots.clone()
        self.memory[:, 0] += p.start
        self.word_state = decoder.config.parser_state == "word"
        self.multiplier = float(p.multiplier)
        self.multiplier_grad = p.multiplier.requires_grad
        self.steps: list[dict[str, torch.Tensor]] = []
        self.logits: list[torch.Tensor] = []

    def rows_of(self, tensor: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return tensor if len(rows) == tensor.shape[0] else tensor[rows]

    def keys(self, active: torch.Tensor, centre: torch.Tensor, masks: StepMasks):
        """Attention keys divided by the positional dropout's keep scale, their position rows, and that scale.

        Keys are ``multiplier * slot + dropout(position)``; dividing by the scale (which the
        latent vectors then carry) saves a pass over the (rows, slots, width) keys.
        """
        ids = self.decoder.relative_position_ids(centre, active.shape[1])
        keys = torch.index_select(self.p.positions, 0, ids.reshape(-1)).view(*ids.shape, -1)
        scale = 1.0
        if masks.positions is not None:
            keys.mul_(masks.positions)
            scale = masks.positions_scale
        return keys.add_(active, alpha=self.multiplier / scale), ids, scale

    def step(self, t: int, rows: torch.Tensor, pointer: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        p, decoder = self.p, self.decoder
        active = self.rows_of(self.memory, rows)
        masks = self.noise.masks(t, len(rows), active.shape[1], p.latent)
        keys, _, scale = self.keys(active, centre, masks)
        # (latents, width) @ (width, rows*slots): the same product as keys @ latents.T, in the
        # layout a CPU GEMM handles well when there are few latents
        scores, best = ((_latents(p, masks, decoder.score_scale) * scale) @ keys.view(-1, keys.shape[-1]).T).max(0)
        scores, best = scores.view(keys.shape[:2]), best.view(keys.shape[:2])
        if masks.scores is not None:
            scores = scores * masks.scores
        attention = scores.masked_fill_(~self.rows_of(self.valid, rows), float("-inf")).softmax(-1)
        mixed = (attention[:, None, :] @ active).squeeze(1)
        under = (p.slots if self.word_state else self.memory)[rows, pointer]
        state = torch.cat([under, mixed * p.value_diagonal], -1)
        if masks.state is not None:
            state = state * masks.state
        hidden = torch.tanh(torch.addmm(p.hidden_bias, state, p.hidden_weight.T))
        logits = torch.addmm(p.output_bias, hidden, p.output_weight.T)
        probabilities = logits.softmax(-1)
        gate = logits >= logits[:, SHIFT : SHIFT + 1]
        weights = probabilities * gate
        self.memory.index_put_((rows, pointer), weights @ p.embeddings, accumulate=True)
        if self.record:
            self.steps.append({"rows": rows, "pointer": pointer, "centre": centre, "attention": attention,
                               "best": best, "mixed": mixed, "state": state, "hidden": hidden,
                               "probabilities": probabilities, "gate": gate, "weights": weights})
        self.logits.append(logits)
        return logits


class CachedScores:
    """Inference without dropout: the fewest operations, and no matrix-vector product, per step.

    Everything a step computes from the memory before its nonlinearities is linear in the
    slots, so each slot keeps it precomputed in one buffer, updated by every write:
    ``[slot @ W_read, latent scores]`` (and ``slot @ W_under`` when the parser state is the
    slot), where ``W_read``/``W_under`` are the MLP's first layer for the attention read
    (value diagonal folded in) and for the vector under the pointer. A step then mixes
    precomputed rows by its attention weights instead of multiplying a (2 width)^2 weight
    matrix. Padding slots score -inf, so attention needs no mask; position scores are
    looked up per centre from one table. Same maths as :class:`_Run`, re-associated.
    """

    def __init__(self, decoder: SRUNERDecoder, p: _Parameters, valid: torch.Tensor):
        fixed = _inference_weights(decoder, p)
        self.slot_state = decoder.config.parser_state == "slot"
        memory = p.slots.clone()
        memory[:, 0] += p.start
        scores = memory @ fixed["slot_latent"]  # (batch, slots, latents)
        scores.masked_fill_(~valid[..., None], float("-inf"))
        parts = [memory @ fixed["read_weight"], scores]
        if self.slot_state:  # the vector under the pointer carries the writes
            parts.insert(0, memory @ fixed["under_weight"])
            self.under = None
        else:
            self.under = torch.addmm(p.hidden_bias, p.slots.flatten(0, 1), fixed["under_weight"]).view(*p.slots.shape[:2], -1)
        self.buffer = torch.cat(parts, -1)
        self.writes = fixed["writes"]
        hidden = p.hidden_weight.shape[0]
        self.read = slice(hidden, 2 * hidden) if self.slot_state else slice(0, hidden)
        self.scores = slice(self.read.stop, None)
        num_slots = memory.shape[1]
        self.ids_by_centre = decoder.relative_position_ids(torch.arange(num_slots, device=memory.device), num_slots)
        self.position_scores = fixed["position_scores"]
        self.hidden_bias, self.output_bias, self.output_weight = p.hidden_bias, p.output_bias, fixed["output_weight"]
        self.logits: list[torch.Tensor] = []

    def step(self, t: int, rows: torch.Tensor, pointer: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        active = self.buffer if len(rows) == self.buffer.shape[0] else self.buffer[rows]
        scores = (active[..., self.scores] + self.position_scores[self.ids_by_centre[centre]]).amax(-1)
        pre = torch.bmm(scores.softmax(-1)[:, None, :], active[..., self.read])[:, 0]
        if self.slot_state:
            pre += self.buffer[rows, pointer, : self.read.start] + self.hidden_bias
        else:
            pre += self.under[rows, pointer]
        logits = torch.addmm(self.output_bias, pre.tanh_(), self.output_weight)
        weights = logits.softmax(-1) * (logits >= logits[:, SHIFT : SHIFT + 1])
        self.buffer.index_put_((rows, pointer), weights @ self.writes, accumulate=True)
        self.logits.append(logits)
        return logits

    def run_one(self, policy, num_words: int) -> torch.Tensor:
        """The whole loop for a batch of one sentence (:func:`run_one_sentence`); logits (steps, actions).

        Plain views and matrix-vector products instead of batched indexing, the write weights
        computed in Python. Position scores are gathered per step, as in :meth:`step`: a table
        for every centre would hold slots^2 x latents numbers (tens of MB for a long GENIA sentence).
        """
        row = self.buffer[0]
        self.one = (row, row[:, self.scores], row[:, self.read],
                    None if self.slot_state else self.under[0], self.output_weight.T, self.writes.T)
        run_one_sentence(self.step_one, policy, num_words)
        return torch.stack(self.logits)

    def step_one(self, t: int, pointer: int, centre: int) -> tuple[list[float], list[float]]:
        row, scores, read, under, output_weight, writes = self.one
        attention = (scores + self.position_scores[self.ids_by_centre[centre]]).amax(-1).softmax(-1)
        pre = attention @ read
        if under is None:
            pre += row[pointer, : self.read.start] + self.hidden_bias
        else:
            pre += under[pointer]
        logits = torch.addmv(self.output_bias, output_weight, pre.tanh_())
        self.logits.append(logits)
        values = logits.tolist()
        # the write: softmax over all actions, kept where at least SHIFT's, not renormalised
        top, shift = max(values), values[SHIFT]
        exps = [math.exp(v - top) for v in values]
        total = sum(exps)
        weights = [e / total if v >= shift else 0.0 for e, v in zip(exps, values)]
        row[pointer].addmv_(writes, torch.tensor(weights, dtype=row.dtype, device=row.device))
        return values, logits.sigmoid().tolist()


def _inference_weights(decoder: SRUNERDecoder, p: _Parameters) -> dict[str, torch.Tensor]:
    """What :class:`CachedScores` derives from the weights alone, kept until a weight changes.

    Keyed by each tensor's storage and version counter (shared with the detached views the
    decoder receives; bumped by optimiser steps and ``load_state_dict``), so a pipeline pays
    for it once, not once per sentence.
    """
    tensors = (p.start, p.latent, p.key_diagonal, p.value_diagonal, p.multiplier, p.positions, p.embeddings,
               p.hidden_weight, p.output_weight)
    key = (tuple((t.data_ptr(), t._version, t.shape) for t in tensors), torch.is_inference_mode_enabled(),
           decoder.config.parser_state, decoder.score_scale)
    cached = getattr(decoder, "_inference_weights", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    width = p.slots.shape[-1]
    latent = _latents(p, StepMasks(None, None, None, None), decoder.score_scale)
    under_weight = p.hidden_weight[:, :width].T.contiguous()
    read_weight = (p.hidden_weight[:, width:] * p.value_diagonal).T.contiguous()
    writes = [p.embeddings @ read_weight, (p.multiplier * p.embeddings) @ latent.T]
    if decoder.config.parser_state == "slot":
        writes.insert(0, p.embeddings @ under_weight)
    fixed = {"slot_latent": (p.multiplier * latent).T.contiguous(), "under_weight": under_weight,
             "read_weight": read_weight, "writes": torch.cat(writes, -1), "position_scores": p.positions @ latent.T,
             "output_weight": p.output_weight.T.contiguous()}
    decoder._inference_weights = (key, fixed)
    return fixed


class IncrementalDecoderFunction(torch.autograd.Function):
    """Teacher-forced decoder over a whole batch of sequences, with a hand-written backward.

    ``forward(decoder, policy, valid, *parameters)`` returns the logits of every step
    stacked as (total active rows over steps, actions); ``policy.records`` says which
    sentence and step each row belongs to. The graph can be backpropagated once.
    """

    @staticmethod
    def forward(ctx, decoder, policy, valid, num_words, noise, *tensors):
        p = _Parameters(*tensors)
        run = _Run(decoder, p, valid, noise, record=True)
        run_steps(run.step, policy, num_words)
        ctx.run = run
        ctx.mark_non_differentiable(valid)
        return torch.cat(run.logits)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_logits):
        run = ctx.run
        if run is None:
            raise RuntimeError(
                "this SRU-NER decoder graph was already backpropagated; the incremental decoder's graph can be "
                "used once (set config.decoder_implementation='naive' to reuse a graph)"
            )
        ctx.run = None
        grads = _backward(run, grad_logits)
        return (None, None, None, None, None, *grads)


def _backward(run: _Run, grad_logits: torch.Tensor) -> list[torch.Tensor]:
    p, decoder, noise = run.p, run.decoder, run.noise
    memory = run.memory  # rolled back write by write to the memory each step read
    grad_memory = torch.zeros_like(memory)  # dL/d(memory after the step being undone)
    grad_slots = torch.zeros_like(p.slots)
    grad_latent = torch.zeros_like(p.latent)
    grad_key_diagonal = torch.zeros_like(p.key_diagonal)
    grad_value_diagonal = torch.zeros_like(p.value_diagonal)
    grad_multiplier = torch.zeros_like(p.multiplier)
    grad_positions = torch.zeros_like(p.positions)
    writes, hidden_layer, output_layer = [], [], []
    ends = torch.tensor([len(r["rows"]) for r in run.steps]).cumsum(0).tolist()
    for t in range(len(run.steps) - 1, -1, -1):
        s = run.steps[t]
        rows, pointer = s["rows"], s["pointer"]
        all_rows = len(rows) == memory.shape[0]
        grad_z = grad_logits[ends[t] - len(rows) : ends[t]]
        # the write: its weights reach every later read of this slot
        grad_written = grad_memory[rows, pointer]
        writes.append((s["weights"], grad_written))
        grad_z = grad_z + _softmax_backward((grad_written @ p.embeddings.T) * s["gate"], s["probabilities"])
        memory.index_put_((rows, pointer), -(s["weights"] @ p.embeddings), accumulate=True)
        # MLP
        output_layer.append((s["hidden"], grad_z))
        grad_pre = (grad_z @ p.output_weight) * (1 - s["hidden"] ** 2)
        hidden_layer.append((s["state"], grad_pre))
        grad_state = grad_pre @ p.hidden_weight
        masks = noise.masks(t, len(rows), memory.shape[1], p.latent)
        if masks.state is not None:
            grad_state = grad_state * masks.state
        width = p.slots.shape[-1]
        grad_under, grad_read = grad_state[:, :width], grad_state[:, width:]
        (grad_slots if run.word_state else grad_memory).index_put_((rows, pointer), grad_under, accumulate=True)
        # attention read: mixed * value diagonal, mixed = attention @ memory
        grad_value_diagonal += (grad_read * s["mixed"]).sum(0)
        grad_mixed = grad_read * p.value_diagonal
        active = memory if all_rows else memory[rows]
        attention = s["attention"]
        grad_attention = (active * grad_mixed[:, None, :]).sum(-1)  # a batched GEMV is slower here
        grad_scores = _softmax_backward(grad_attention, attention)  # zero on padding, whose attention is 0
        if masks.scores is not None:
            grad_scores = grad_scores * masks.scores
        # scores = max over latents of keys . latent, with keys and latents rescaled as in forward
        keys, ids, scale = run.keys(active, s["centre"], masks)
        latent = _latents(p, masks, decoder.score_scale) * scale
        choice = torch.zeros(grad_scores.numel(), latent.shape[0], dtype=grad_scores.dtype, device=grad_scores.device)
        choice.scatter_(1, s["best"].reshape(-1, 1), grad_scores.reshape(-1, 1))  # dL/d(score of each latent)
        grad_keys = (choice @ latent).view_as(keys)
        grad_effective = (choice.T @ keys.reshape(-1, width)).mul_(scale)
        dropped = p.latent if masks.latents is None else p.latent * masks.latents
        grad_key_diagonal += (grad_effective * dropped).sum(0) * decoder.score_scale
        grad_dropped = grad_effective * (p.key_diagonal * decoder.score_scale)
        grad_latent += grad_dropped if masks.latents is None else grad_dropped * masks.latents
        # the slots reach the loss through the read (attention x dL/d(read)) and through the keys
        grad_active = torch.baddbmm(grad_keys, attention[:, :, None], grad_mixed[:, None, :], beta=run.multiplier / scale)
        if run.multiplier_grad:
            grad_multiplier += torch.dot(grad_keys.reshape(-1), active.reshape(-1)) / scale
        if masks.positions is not None:
            grad_keys.mul_(masks.positions)
        grad_positions.index_add_(0, ids.reshape(-1), grad_keys.reshape(-1, width))
        if all_rows:
            grad_memory += grad_active
        else:
            grad_memory.index_add_(0, rows, grad_active)
    grad_slots += grad_memory
    grad_start = grad_memory[:, 0].sum(0)
    weights = torch.cat([w for w, _ in writes])
    grad_embeddings = weights.T @ torch.cat([g for _, g in writes])
    layer_grads = []
    for records in (hidden_layer, output_layer):
        inputs = torch.cat([x for x, _ in records])
        outputs = torch.cat([g for _, g in records])
        layer_grads += [outputs.T @ inputs, outputs.sum(0)]
    return [grad_slots, grad_start, grad_latent, grad_key_diagonal, grad_value_diagonal, grad_multiplier,
            grad_positions, grad_embeddings, *layer_grads]


def run_incremental(decoder: SRUNERDecoder, policy, slots: torch.Tensor, valid: torch.Tensor,
                    num_words: torch.Tensor, noise: StepNoise) -> torch.Tensor:
    """Logits of every step (stacked by step, active rows in order), by the fast implementation."""
    tensors = _Parameters.of(decoder, slots)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return IncrementalDecoderFunction.apply(decoder, policy, valid, num_words, noise, *tensors)
    p = _Parameters(*[t.detach() for t in tensors])
    run = CachedScores(decoder, p, valid) if not noise.active else _Run(decoder, p, valid, noise, record=False)
    if isinstance(run, CachedScores) and len(num_words) == 1 and hasattr(policy, "decide_one"):
        return run.run_one(policy, int(num_words[0]))
    run_steps(run.step, policy, num_words)
    return torch.cat(run.logits)
