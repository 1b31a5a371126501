"""How the decoder's pointer moves: teacher forcing in training, the decoding rules at inference, the loops.

A policy's ``decide`` sees the logits of the rows still decoding and says which move and which
end; ``decide_one`` does the same for a batch of one sentence on Python numbers. The loops
(:func:`run_steps`, :func:`run_one_sentence`) are shared by both decoder implementations.
"""

from __future__ import annotations

import torch

from .configuration_srunear import SRUNERConfig
from .transition_system import EOA, SHIFT


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


def decoding_policy(config: SRUNERConfig, num_words: torch.Tensor, num_heads: int):
    """The inference rule ``config.decoding`` names, for sentences of ``num_words`` words."""
    if config.decoding == "paper":
        return PaperDecoding(num_words, config)
    return ThresholdDecoding(num_words, config, num_heads)


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
