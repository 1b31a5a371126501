"""The SRU-NER decoder: its parameters, the dropout it draws, and one reference step in plain autograd.

The memory has one slot per encoder position the paper keeps: the encoder's CLS vector
(plus a learned start-of-actions vector), one slot per word (the max over its subwords)
and the SEP vector. A word pointer starts on the first word. Each step

1. reads the memory by attention centred on the slot written last (CLS before the first
   step): a slot's key is ``token_multiplier * slot + position embedding``, its score the
   best match over latent vectors (``action_space_dim`` per action), the read a softmax mix
   of the slots, scaled by a learned diagonal;
2. maps ``[vector of the word under the pointer, read]`` through an MLP to one logit per
   action;
3. writes ``softmax(logits) * (p >= p_SHIFT)`` mixed over the action embeddings into the
   slot under the pointer, then moves the pointer as the policy decides (teacher forcing
   in training, a decoding rule at inference; ``policies_srunear.py``, with the step loops).

Dropout masks (positions, latent vectors, scores, MLP input) are drawn afresh at every
step, as in the paper, by :class:`StepNoise`, so that the incremental decoder
(``incremental_srunear.py``) can draw a step's masks again in its backward pass.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_srunear import SRUNERConfig
from .transition_system import SHIFT, ActionVocabulary


def action_vocabulary(config: SRUNERConfig) -> ActionVocabulary:
    """Actions over the decoder's heads (per-source heads or shared types, see ``SRUNERConfig.heads``)."""
    return ActionVocabulary(tuple(config.head_names))


def source_label_mask(config: SRUNERConfig) -> torch.Tensor:
    """(num_sources, num_actions) bool: True for the actions a source does not annotate.

    With per-source heads these are all other sources' heads; with shared heads, the
    types the source lacks.
    """
    vocab = action_vocabulary(config)
    mask = torch.zeros(len(config.sources), len(vocab), dtype=torch.bool)
    for row, source in enumerate(config.sources):
        own = {config.head_of(source, t) for t in config.sources[source]}
        mask[row, vocab.type_actions([h for h in vocab.entity_types if h not in own])] = True
    return mask


@contextlib.contextmanager
def one_thread(active: bool = True):
    """Run the decoder's step loop on one intra-op thread (when ``active``), restoring the setting after.

    At inference a step is a few dozen operations on small tensors: a second thread gains
    them little on an idle CPU, and on a busy one (tag.py shards, a server's workers) every
    operation waits for both threads, which made the same loop 2-5x slower when measured
    with two other processes on our two cores. Training steps carry (rows, slots, width)
    dropout masks and gain from the threads on an idle CPU (training throughput 0.86x of
    token classification with two threads against 0.79x with one), so they keep torch's
    setting. ``SRUNEAR_DECODER_THREADS=N`` chooses another count (0: leave torch's setting).
    """
    wanted = int(os.environ.get("SRUNEAR_DECODER_THREADS", "1"))
    threads = torch.get_num_threads()
    if not active or wanted <= 0 or threads == wanted:
        yield
        return
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _kept(shape: tuple[int, ...], p: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Which units inverted dropout keeps, as 1.0 (probability 1 - p, to 1/65536) or 0.0.

    Drawn as 16-bit integers cut out of random 64-bit words and thresholded in float
    arithmetic: on a CPU several times cheaper than ``torch.rand`` or a boolean mask,
    which matters as every step draws a (rows, slots, width) mask.
    """
    count = math.prod(shape)
    words = torch.randint(-(2**63), 2**63 - 1, ((count + 3) // 4,), generator=generator, dtype=torch.int64, device=like.device)
    draws = words.view(torch.int16)[:count].view(shape).to(like.dtype)
    # integer draws d are exact in float: (d - first kept + 1) clamped to [0, 1] is 1 iff d >= first kept
    return draws.sub_(round(p * 65536) - 32768 - 1).clamp_(0.0, 1.0)


def _keep_scale(p: float) -> float:
    """The factor inverted dropout gives the units it keeps (p as the 16-bit draws realise it)."""
    return 1.0 / (1.0 - round(p * 65536) / 65536)


def _dropout_scale(shape: tuple[int, ...], p: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor | None:
    """Inverted-dropout multipliers: 0 where dropped, else :func:`_keep_scale`; None when p is 0."""
    if p == 0:
        return None
    return _kept(shape, p, generator, like).mul_(_keep_scale(p))


@dataclass
class StepMasks:
    """The dropout of one step (None where that dropout is off).

    The positional mask, the largest (a unit per row, slot and width), is kept as 0/1 with
    one scale, so that the fast decoder can fold the scale into a smaller tensor.
    """

    positions: torch.Tensor | None  # (rows, slots, width) 1.0 where a unit is kept, 0.0 where dropped
    latents: torch.Tensor | None  # (latents, width) multipliers
    scores: torch.Tensor | None  # (rows, slots) multipliers
    state: torch.Tensor | None  # (rows, 2 * width) multipliers
    positions_scale: float = 1.0

    def drop_positions(self, positions: torch.Tensor) -> torch.Tensor:
        if self.positions is None:
            return positions
        return positions * self.positions * self.positions_scale


class StepNoise:
    """The dropout masks of one decoder run; step ``t``'s masks can be drawn again identically.

    Keeping every step's (rows, slots, width) positional mask for the backward pass would
    cost memory quadratic in the sentence length; instead each step reseeds a private
    generator with (run seed, step). The run seed comes from torch's global generator, so
    ``torch.manual_seed`` still fixes everything.
    """

    def __init__(self, config: SRUNERConfig, training: bool, device: torch.device):
        rates = (config.positional_dropout, config.latent_dropout, config.attention_dropout, config.mlp_dropout)
        self.rates = rates if training else (0.0, 0.0, 0.0, 0.0)
        self.active = any(p > 0 for p in self.rates)
        self.seed = int(torch.randint(0, 2**62, (1,)).item()) if self.active else 0
        self.generator = torch.Generator(device=device) if self.active else None

    def masks(self, step: int, rows: int, slots: int, latent: torch.Tensor) -> StepMasks:
        if not self.active:
            return StepMasks(None, None, None, None)
        self.generator.manual_seed(self.seed + step)
        p_positions, p_latents, p_scores, p_state = self.rates
        width = latent.shape[1]
        return StepMasks(
            positions=_kept((rows, slots, width), p_positions, self.generator, latent) if p_positions else None,
            latents=_dropout_scale(tuple(latent.shape), p_latents, self.generator, latent),
            scores=_dropout_scale((rows, slots), p_scores, self.generator, latent),
            state=_dropout_scale((rows, 2 * width), p_state, self.generator, latent),
            positions_scale=_keep_scale(p_positions),
        )


def write_weights(logits: torch.Tensor) -> torch.Tensor:
    """What a step writes, as weights over the action embeddings.

    The softmax over all actions, zeroed for the actions less probable than SHIFT and not
    renormalised (the paper's rule: a step that is mostly SHIFT writes little).
    """
    return logits.softmax(-1) * (logits >= logits[:, SHIFT : SHIFT + 1])


class SRUNERDecoder(nn.Module):
    """The recurrent transition decoder over the memory slots ``[CLS, words..., SEP]``."""

    def __init__(self, config: SRUNERConfig, hidden_size: int):
        super().__init__()
        self.config = config
        self.vocab = action_vocabulary(config)
        num_actions = len(self.vocab)
        half = config.half_context
        # position rows: offsets -H..H, then the CLS slot, then out-of-window, then padding (unused: masked)
        self.cls_position, self.out_of_window = 2 * half + 1, 2 * half + 2
        self.start_vector = nn.Parameter(torch.zeros(hidden_size))
        self.latent_vectors = nn.Parameter(torch.zeros(num_actions * config.action_space_dim, hidden_size))
        self.key_diagonal = nn.Parameter(torch.ones(hidden_size))
        self.value_diagonal = nn.Parameter(torch.ones(hidden_size))
        self.token_multiplier = nn.Parameter(
            torch.tensor(float(config.token_multiplier)), requires_grad=bool(config.train_token_multiplier)
        )
        self.position_embeddings = nn.Embedding(2 * half + 4, hidden_size)
        self.action_embeddings = nn.Embedding(num_actions, hidden_size)
        self.hidden_layer = nn.Linear(2 * hidden_size, 2 * hidden_size)
        self.output_layer = nn.Linear(2 * hidden_size, num_actions)
        # the "small" initialisation scales attention scores like dot-product attention
        self.score_scale = 1.0 / math.sqrt(hidden_size) if config.initialization == "small" else 1.0

    def label_masks(self, source_ids: torch.Tensor) -> torch.Tensor:
        """(rows, actions) bool: the actions each row's source does not annotate.

        Computed from the config at each call rather than kept as a buffer: a non-persistent
        buffer is not restored by ``from_pretrained``, which builds models without running
        their constructors' tensor code.
        """
        return source_label_mask(self.config).to(source_ids.device)[source_ids]

    # ------------------------------------------------------------------ pieces shared by both decoders

    def relative_position_ids(self, centre: torch.Tensor, num_slots: int) -> torch.Tensor:
        """(rows, slots) position-embedding row of every slot seen from ``centre``.

        The authors' code has two slips here that we do not reproduce: the offset +H+1
        takes the CLS row (operator precedence), and the padding row is ``H + 3``, so the
        offset +3 reads a frozen zero embedding.
        """
        half = self.config.half_context
        offsets = torch.arange(num_slots, device=centre.device)[None, :] - centre[:, None]
        ids = torch.where(offsets.abs() <= half, offsets + half, self.out_of_window)
        ids[:, 0] = self.cls_position
        return ids

    def effective_latents(self, masks: StepMasks) -> torch.Tensor:
        latent = self.latent_vectors if masks.latents is None else self.latent_vectors * masks.latents
        return latent * (self.key_diagonal * self.score_scale)

    def initial_memory(self, slots: torch.Tensor) -> torch.Tensor:
        """The slots with the start-of-actions vector added to the CLS slot."""
        start = F.pad(self.start_vector[None, None, :], (0, 0, 0, slots.shape[1] - 1))
        return slots + start

    # ------------------------------------------------------------------ the reference step (plain autograd)

    def reference_step(self, memory, slots, valid, rows, pointer, centre, masks: StepMasks):
        """One step on the full memory with autograd: returns (logits, memory after the write)."""
        active = memory[rows]
        keys = self.token_multiplier * active
        positions = self.position_embeddings.weight[self.relative_position_ids(centre, memory.shape[1])]
        keys = keys + masks.drop_positions(positions)
        scores = (keys @ self.effective_latents(masks).T).amax(-1)
        if masks.scores is not None:
            scores = scores * masks.scores
        attention = scores.masked_fill(~valid[rows], float("-inf")).softmax(-1)
        read = (attention[:, None, :] @ active).squeeze(1) * self.value_diagonal
        under = (slots if self.config.parser_state == "word" else memory)[rows, pointer]
        state = torch.cat([under, read], -1)
        if masks.state is not None:
            state = state * masks.state
        logits = self.output_layer(torch.tanh(self.hidden_layer(state)))
        update = write_weights(logits) @ self.action_embeddings.weight
        return logits, memory.index_put((rows, pointer), update, accumulate=True)
