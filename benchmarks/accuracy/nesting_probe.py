"""Where nesting is lost: the probability a trained SRU-NER model gives each gold structural action, teacher-forced.

    python benchmarks/accuracy/nesting_probe.py MODEL_DIR [--config genia_full.yaml] [--split test] [--limit N] [--state]

A nested mention is found only if its TRANSITION is taken while another span is open, and mentions
sharing a start or an end need a second structural step before the pointer moves. This feeds the
model the gold actions of every sentence (eval mode, as at inference) and groups the gold
TRANSITION/REDUCE actions by that context, so a low nested recall can be traced to the decisions
behind it: the mean probability of the gold action, the share over the decoding threshold, and the
mean SHIFT probability at those steps. MODEL_DIR is a saved model (a run's `best` folder).

`--state` asks whether the decoder could know what is open when it decides: a linear probe (logistic
regression) on the MLP's input at each teacher-forced step, fitted on the first 70% of the sentences
and scored on the rest, predicts whether any span (and a span of each head) is open before the step.
If it can, giving the MLP open-span counts would tell it little it does not already have.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
for folder in (REPO_ROOT, HERE):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from modeling_srunear.transition_system import ActionVocabulary  # noqa: E402

CONTEXTS = ("TRANSITION, no span open", "TRANSITION, a span of another head open", "TRANSITION, a span of its head open",
            "REDUCE, the only open span of its head", "REDUCE, one of several open spans of its head",
            "TRANSITION, first structural step at the pointer", "TRANSITION, a later structural step at the pointer",
            "REDUCE, first structural step at the pointer", "REDUCE, a later structural step at the pointer")


def open_counts(steps: Sequence[frozenset[int]], vocab: ActionVocabulary) -> list[list[int]]:
    """Open spans per head before each step of an `encode_spans` sequence."""
    counts, before = [0] * vocab.num_types, []
    for step in steps:
        before.append(list(counts))
        for action in step:
            if vocab.is_transition(action) or vocab.is_reduce(action):
                counts[vocab.type_index(vocab.type_of(action))] += 1 if vocab.is_transition(action) else -1
    return before


def gold_action_contexts(steps: Sequence[frozenset[int]], vocab: ActionVocabulary) -> list[tuple[int, int, str]]:
    """(step, action, context) for each gold TRANSITION/REDUCE of an `encode_spans` sequence; every action gets two
    contexts: what is open when it is taken (counted before the step), and whether the pointer already had a
    structural step (REDUCEs of a step apply before its TRANSITIONs, so a step that closes and reopens a head
    counts the span it closes as open)."""
    since_shift = 0
    found = []
    for t, (step, open_by_head) in enumerate(zip(steps, open_counts(steps, vocab))):
        structural = sorted(a for a in step if vocab.is_transition(a) or vocab.is_reduce(a))
        if not structural:
            since_shift = 0
            continue
        position = "first" if since_shift == 0 else "a later"
        for action in structural:
            head = vocab.type_index(vocab.type_of(action))
            if vocab.is_transition(action):
                if open_by_head[head]:
                    opened = "a span of its head open"
                elif any(open_by_head):
                    opened = "a span of another head open"
                else:
                    opened = "no span open"
                found.append((t, action, f"TRANSITION, {opened}"))
            else:
                several = "one of several open spans" if open_by_head[head] > 1 else "the only open span"
                found.append((t, action, f"REDUCE, {several} of its head"))
            kind = "TRANSITION" if vocab.is_transition(action) else "REDUCE"
            found.append((t, action, f"{kind}, {position} structural step at the pointer"))
        since_shift += 1
    return found


def probe(model, tokenizer, examples: Sequence[dict[str, Any]], batch_size: int = 16) -> dict[str, dict[str, float]]:
    """Per context: gold actions counted, their mean probability, the share at or over the threshold, mean SHIFT."""
    import torch

    from modeling_srunear.decoder_srunear import action_vocabulary
    from modeling_srunear.modeling_srunear import SRUNERDataCollator
    from modeling_srunear.transition_system import SHIFT

    vocab = action_vocabulary(model.config)
    collator = SRUNERDataCollator(tokenizer=tokenizer, config=model.config)
    sums: dict[str, list[float]] = {c: [0, 0.0, 0, 0.0] for c in CONTEXTS}
    model.eval()
    with torch.no_grad():
        for first in range(0, len(examples), batch_size):
            batch_examples = examples[first:first + batch_size]
            batch = collator(batch_examples)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            probabilities = model(**batch).action_probabilities.cpu()
            for row, labels in enumerate(batch["labels"].cpu()):
                steps = [frozenset(torch.nonzero(step > 0.5).flatten().tolist()) for step in labels if step[0] >= 0]
                for t, action, context in gold_action_contexts(steps, vocab):
                    p = float(probabilities[row, t, action])
                    entry = sums[context]
                    entry[0] += 1
                    entry[1] += p
                    entry[2] += p >= model.config.threshold
                    entry[3] += float(probabilities[row, t, SHIFT])
    return {c: {"gold_actions": n, "mean_probability": total / n, "share_over_threshold": over / n,
                "mean_shift_probability": shift / n} for c, (n, total, over, shift) in sums.items() if n}


def decoder_states(model, tokenizer, examples: Sequence[dict[str, Any]]) -> list[tuple[Any, list[list[int]]]]:
    """Per sentence: the MLP input of each teacher-forced step (steps, 2 * width) and the open spans per head
    before it. One sentence at a time through the reference decoder, whose MLP is a module a hook can read."""
    import torch

    from modeling_srunear.decoder_srunear import action_vocabulary
    from modeling_srunear.modeling_srunear import SRUNERDataCollator

    vocab = action_vocabulary(model.config)
    collator = SRUNERDataCollator(tokenizer=tokenizer, config=model.config)
    captured: list[torch.Tensor] = []
    hook = model.decoder.hidden_layer.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0][0]))
    implementation, model.config.decoder_implementation = model.config.decoder_implementation, "naive"
    model.eval()
    found = []
    try:
        with torch.no_grad():
            for example in examples:
                batch = {k: v.to(model.device) for k, v in collator([example]).items()}
                captured.clear()
                model(**batch)
                steps = [frozenset(torch.nonzero(step > 0.5).flatten().tolist()) for step in batch["labels"][0].cpu()
                         if step[0] >= 0]
                found.append((torch.stack(captured).cpu(), open_counts(steps, vocab)[:len(captured)]))
    finally:
        hook.remove()
        model.config.decoder_implementation = implementation
    return found


def state_probe(model, tokenizer, examples: Sequence[dict[str, Any]], fit_share: float = 0.7) -> dict[str, dict[str, float]]:
    """Linear probes of "any span open" and "a span of head H open" on the decoder's MLP input: fitted on the
    first ``fit_share`` of the sentences, scored on the rest (share of steps open, accuracy, the majority
    class's accuracy, and recall on open and on closed steps)."""
    import torch

    from modeling_srunear.decoder_srunear import action_vocabulary

    sentences = decoder_states(model, tokenizer, examples)
    split = max(1, min(len(sentences) - 1, round(fit_share * len(sentences))))
    states = torch.cat([x for x, _ in sentences])
    is_open = torch.tensor([[int(c > 0) for c in counts] for _, per_step in sentences for counts in per_step], dtype=torch.float)
    fitted = torch.zeros(len(states), dtype=torch.bool)
    fitted[: sum(len(x) for x, _ in sentences[:split])] = True
    mean, std = states[fitted].mean(0), states[fitted].std(0) + 1e-6
    states = (states - mean) / std
    targets = {"any span open": is_open.amax(1)}
    targets.update({f"a span of {head} open": is_open[:, h] for h, head in enumerate(action_vocabulary(model.config).entity_types)})
    table = {}
    for name, target in targets.items():
        probe = torch.nn.Linear(states.shape[1], 1)
        optimizer = torch.optim.LBFGS(probe.parameters(), max_iter=200)

        def loss():
            optimizer.zero_grad()
            value = torch.nn.functional.binary_cross_entropy_with_logits(probe(states[fitted]).squeeze(1), target[fitted])
            value = value + 1e-3 * probe.weight.pow(2).sum()
            value.backward()
            return value

        with torch.enable_grad():
            optimizer.step(loss)
        with torch.no_grad():
            predicted = (probe(states[~fitted]).squeeze(1) > 0).float()
        truth = target[~fitted]
        share = float(truth.mean())
        table[name] = {"steps": len(truth), "share_open": share, "accuracy": float((predicted == truth).float().mean()),
                       "majority": max(share, 1 - share),
                       "recall_open": float(predicted[truth == 1].mean()) if share > 0 else float("nan"),
                       "recall_closed": float(1 - predicted[truth == 0].mean()) if share < 1 else float("nan")}
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--config", default="genia_full.yaml", help="experiment file of this folder naming the data")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"))
    parser.add_argument("--limit", type=int, default=None, help="the first N sentences only")
    parser.add_argument("--state", action="store_true", help="also probe the decoder state for open spans (linear)")
    args = parser.parse_args(argv)
    if not (args.model / "config.json").is_file():
        parser.error(f"no saved model at {args.model} (a run's `best` folder holds one)")
    from transformers import AutoTokenizer

    from modeling_srunear import SRUNERModel
    from run import experiment_for
    from srunear.markdown import markdown_table_lines
    from srunear.splits import load_split

    model = SRUNERModel.from_pretrained(args.model)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    experiment, _ = experiment_for(args.config)
    examples = []
    for name, data in load_split(experiment, args.split, args.limit).items():
        source = name if name in model.config.source_names else model.config.source_names[0]
        examples += [{"tokens": e["tokens"], "spans": e["spans"], "source": source} for e in data.dataset]
    rows = [[context, str(r["gold_actions"]), f"{r['mean_probability']:.3f}", f"{100 * r['share_over_threshold']:.0f}%",
             f"{r['mean_shift_probability']:.3f}"] for context, r in probe(model, tokenizer, examples).items()]
    print(f"{args.model}, {args.split} ({len(examples)} sentences), gold actions fed (teacher forcing):\n")
    print("\n".join(markdown_table_lines(["gold action, context", "n", "mean p", f"p >= {model.config.threshold:g}",
                                          "mean p(SHIFT)"], rows)))
    if args.state:
        table = state_probe(model, tokenizer, examples)
        rows = [[name, str(r["steps"]), f"{100 * r['share_open']:.1f}%", f"{100 * r['accuracy']:.1f}%",
                 f"{100 * r['majority']:.1f}%", f"{100 * r['recall_open']:.1f}%", f"{100 * r['recall_closed']:.1f}%"]
                for name, r in table.items()]
        print("\nLinear probe of the decoder's MLP input (fitted on the first 70% of the sentences, scored on the rest):\n")
        print("\n".join(markdown_table_lines(["target", "steps scored", "open", "accuracy", "majority class",
                                              "recall, open", "recall, closed"], rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
