"""The SRU-NER decoder: its parameters, one reference step in plain autograd, and the step loop.

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
   in training, a decoding rule at inference).

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
from .transition_system import EOA, SHIFT, ActionVocabulary


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


# ---------------------------------------------------------------------- policies: how the pointer moves


class TeacherForcing:
    """Training: the pointer follows the gold actions; label masks may postpone a gold SHIFT.

    When a source does not annotate some heads and the model rates one of them above SHIFT
    at a gold SHIFT, that SHIFT waits one step (never two in a row), so that the model may
    open a span of such a head without a loss.
    """

    def __init__(self, gold: torch.Tensor, masked: torch.Tensor):
        self.gold = gold  # (batch, gold steps, actions)
        self.masked = masked  # (batch, actions) actions a row's source does not annotate
        self.postponing = bool(masked.any())
        self.kind = (gold[..., SHIFT] > 0.5).long() + 2 * (gold[..., EOA] > 0.5).long()  # 1 SHIFT, 2 EOA, 0 other
        batch = gold.shape[0]
        self.gold_index = torch.zeros(batch, dtype=torch.long, device=gold.device)
        self.postponed = torch.zeros(batch, dtype=torch.bool, device=gold.device)
        self.records: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []

    def decide(self, step: int, rows, pointer, logits):
        index = self.gold_index[rows]
        kind = self.kind[rows, index]
        moves, finished = kind == 1, kind == 2
        postpone = None
        if self.postponing:
            probabilities = torch.sigmoid(logits.detach())
            prefers_masked = (self.masked[rows] & (probabilities > probabilities[:, SHIFT : SHIFT + 1])).any(-1)
            postpone = moves & prefers_masked & ~self.postponed[rows]
            self.postponed[rows] = postpone
            moves = moves & ~postpone
            self.gold_index[rows] = index + (~postpone).long()
        else:
            self.gold_index[rows] = index + 1
        self.records.append((rows, index, postpone))
        return moves, finished


class PaperDecoding:
    """Inference, the paper's rule: argmax first.

    If SHIFT is the most probable action the pointer moves; if EOA is, the sentence ends;
    otherwise every TRANSITION/REDUCE over the threshold is taken (REDUCEs first when
    spans are read off) and the pointer stays. The sentence also ends after a step in
    which EOA has probability over 0.5, after a SHIFT past the last word, and after
    ``inference_step_factor * (words + 2)`` steps. (The authors' loop ends a whole batch
    once every sentence has had such an EOA step, so there a sentence's spans depend on
    the sentences batched with it; ours are what they get in a batch of one.)
    """

    def __init__(self, num_words: torch.Tensor, config: SRUNERConfig):
        self.threshold = config.threshold
        self.end_slot = num_words + 1
        self.max_steps = torch.ceil((num_words + 2).double() * config.inference_step_factor).long()
        self.first_budget_end = int(self.max_steps.min()) if len(num_words) else 0
        self.records: list[tuple[torch.Tensor]] = []

    def decide_one(self, step: int, pointer: int, logits: list[float], probabilities: list[float]) -> tuple[bool, bool]:
        """:meth:`decide` for a batch of one sentence, on Python numbers (see :func:`run_one_sentence`)."""
        if not self.records:
            self.row = torch.zeros(1, dtype=torch.long, device=self.end_slot.device)
            self.one_end_slot, self.one_max_steps = int(self.end_slot[0]), int(self.max_steps[0])
        self.records.append((self.row,))
        best = max(range(len(logits)), key=logits.__getitem__)  # the first maximum, as torch.argmax
        moves = best == SHIFT
        finished = (best == EOA or probabilities[EOA] > 0.5 or (moves and pointer >= self.one_end_slot)
                    or step + 1 >= self.one_max_steps)
        return moves, finished

    def decide(self, step: int, rows, pointer, logits):
        best = logits.argmax(-1)
        moves = best == SHIFT
        self.records.append((rows,))
        # EOA ends a sentence when it is the argmax or over 0.5
        finished = (best == EOA) | (torch.sigmoid(logits[:, EOA]) > 0.5)
        finished |= moves & (pointer >= self.end_slot[rows])
        if step + 1 >= self.first_budget_end:
            finished |= step + 1 >= self.max_steps[rows]
        return moves, finished

    def actions(self, logits: torch.Tensor) -> torch.Tensor:
        """(steps stacked, actions) bool: what each step took, from its logits, after the loop.

        SHIFT or EOA alone when it is the argmax; otherwise every TRANSITION/REDUCE over the
        threshold. Computed once for all steps, so the loop only decides how the pointer moves.
        """
        best = logits.argmax(-1)
        chosen = (torch.sigmoid(logits) > self.threshold) & ((best != SHIFT) & (best != EOA))[:, None]
        chosen[:, SHIFT], chosen[:, EOA] = best == SHIFT, best == EOA
        return chosen


class ThresholdDecoding:
    """Inference, our alternative rule: structure first, and only what can be completed.

    Every allowed TRANSITION/REDUCE over the threshold is taken before the pointer moves:
    TRANSITION only before the end, REDUCE only of a head with an open span that does not
    start at the pointer. The parser stops opening and closing once the steps left only
    suffice to shift to the end, and EOA comes only after the last word.
    """

    def __init__(self, num_words: torch.Tensor, config: SRUNERConfig, num_heads: int):
        device = num_words.device
        self.threshold = config.threshold
        self.words = num_words
        max_steps = torch.maximum(torch.ceil(num_words.double() * config.inference_step_factor).long(), num_words + 1)
        self.deadline = max_steps - num_words  # steps by which to stop structure, + words already read
        self.read = torch.zeros_like(num_words)
        self.num_heads = num_heads
        batch = len(num_words)
        # per head: open spans, then spans opened at the current pointer (small integers, exact in float)
        self.span_counts = torch.zeros(batch, 2 * num_heads, device=device)
        eye = torch.eye(num_heads, device=device)
        self.span_changes = torch.cat([torch.cat([eye, eye], 1), torch.cat([-eye, torch.zeros_like(eye)], 1)])
        self.allowed = torch.zeros(batch, 2 + 2 * num_heads, dtype=torch.bool, device=device)
        self.allowed[:, 2 : 2 + num_heads] = (num_words > 0)[:, None]
        self.records: list[tuple[torch.Tensor, torch.Tensor]] = []
        # a comparison in float32, as the tensors' (the threshold rounded as they round it)
        self.threshold32 = float(torch.tensor(config.threshold, dtype=torch.float32))

    def decide_one(self, step: int, pointer: int, logits: list[float], probabilities: list[float]) -> tuple[bool, bool]:
        """:meth:`decide` for a batch of one sentence, on Python numbers (see :func:`run_one_sentence`).

        The same rule: a head may open a span while words are left, and close one it has
        open that did not open at the pointer; counts of both kept per head."""
        heads, threshold = self.num_heads, self.threshold32
        if not self.records:
            self.row = torch.zeros(1, dtype=torch.long, device=self.words.device)
            self.one = {"read": 0, "words": int(self.words[0]), "deadline": int(self.deadline[0]),
                        "open": [0] * heads, "here": [0] * heads}
        one, open_spans, here = self.one, self.one["open"], self.one["here"]
        chosen = [False] * (2 + 2 * heads)
        if one["deadline"] > step:
            can_open = one["read"] < one["words"]
            for h in range(heads):
                chosen[2 + h] = can_open and probabilities[2 + h] >= threshold
                chosen[2 + heads + h] = open_spans[h] > 0 and here[h] == 0 and probabilities[2 + heads + h] >= threshold
        structural = any(chosen)
        at_end = one["read"] >= one["words"]
        finished, moves = not structural and at_end, not structural and not at_end
        chosen[EOA], chosen[SHIFT] = finished, moves
        self.records.append((self.row, chosen))
        for h in range(heads):
            opened = int(chosen[2 + h])
            open_spans[h] += opened - int(chosen[2 + heads + h])
            here[h] = 0 if moves else here[h] + opened
        if moves:
            one["read"] += 1
            one["deadline"] += 1
        return moves, finished

    def decide(self, step: int, rows, pointer, logits):
        heads = self.num_heads
        read, words = self.read[rows], self.words[rows]
        chosen = (torch.sigmoid(logits) >= self.threshold) & self.allowed[rows]
        structural = chosen.any(-1) & (self.deadline[rows] > step)
        chosen &= structural[:, None]
        at_end = read >= words
        finished = ~structural & at_end
        moves = ~structural & ~at_end
        chosen[:, EOA], chosen[:, SHIFT] = finished, moves
        self.records.append((rows, chosen))
        counts = self.span_counts[rows] + chosen[:, 2:].to(self.span_counts.dtype) @ self.span_changes
        counts[:, heads:].masked_fill_(moves[:, None], 0.0)
        self.span_counts[rows] = counts
        self.deadline[rows] += moves
        read = read + moves
        self.read[rows] = read
        allowed = self.allowed[rows]
        allowed[:, 2 : 2 + heads] = (read < words)[:, None]
        allowed[:, 2 + heads :] = (counts[:, :heads] > 0) & (counts[:, heads:] == 0)
        self.allowed[rows] = allowed
        return moves, finished

    def actions(self, logits: torch.Tensor) -> torch.Tensor:
        """(steps stacked, actions) bool: what each step took (decided inside the loop)."""
        if self.records and isinstance(self.records[0][1], list):  # decided by decide_one
            return torch.tensor([chosen for _, chosen in self.records], dtype=torch.bool, device=logits.device)
        return torch.cat([chosen for _, chosen in self.records])


def run_one_sentence(step_one, policy, num_words: int) -> int:
    """:func:`run_steps` for a batch of one sentence, with the loop state as Python numbers.

    ``step_one(t, pointer, centre)`` returns the step's logits and sigmoid probabilities as
    lists; the policy's ``decide_one`` decides on them. A pipeline called one text at a time
    pays no tensor operation for the pointer, the rule or the loop's bookkeeping.
    """
    pointer, centre, end_slot, step = 1, 0, num_words + 1, 0
    finished = False
    while not finished:
        logits, probabilities = step_one(step, pointer, centre)
        moves, finished = policy.decide_one(step, pointer, logits, probabilities)
        centre, pointer = pointer, min(pointer + moves, end_slot)
        step += 1
    return step


def run_steps(step_fn, policy, num_words: torch.Tensor) -> int:
    """The decoder loop, shared by both implementations: step, decide, move; returns the step count.

    ``step_fn(t, rows, pointer, centre)`` reads, scores and writes for the active rows. The
    pointer starts on the first word (slot 1) and never passes the SEP slot; attention is
    centred on the slot written last (CLS, slot 0, before the first step). A sentence
    leaves the loop at its EOA: the authors' code keeps stepping it on zero gold rows that
    still enter the loss, which we do not reproduce.
    """
    batch = len(num_words)
    device = num_words.device
    # the state of the rows still decoding, compacted when a row finishes
    rows = torch.arange(batch, device=device)
    pointer = torch.ones(batch, dtype=torch.long, device=device)
    centre = torch.zeros(batch, dtype=torch.long, device=device)
    end_slot = num_words + 1
    step = 0
    while len(rows) > 0:
        logits = step_fn(step, rows, pointer, centre)
        moves, finished = policy.decide(step, rows, pointer, logits)
        centre = pointer
        pointer = torch.minimum(pointer + moves, end_slot)
        if bool(finished.any()):
            keep = ~finished
            rows, pointer, centre, end_slot = rows[keep], pointer[keep], centre[keep], end_slot[keep]
        step += 1
    return step
