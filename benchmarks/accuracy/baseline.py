"""Token-classification baseline: the same encoder fine-tuned as a BIO tagger (one source).

    python benchmarks/accuracy/baseline.py EXPERIMENT.yaml [--max-test-examples 1000] [key=value ...]

Same examples as `train.py` (the experiment's seeded `max_train_examples` subset and the first
`max_eval_examples` dev sentences), epochs, batch size and seed; AdamW at the experiment's
encoder learning rate (5e-5 in the benchmarks) with its weight decay, linear warmup over
`encoder_warmup_epochs` then linear decay, gradient clipping at `max_grad_norm`. The model
of the epoch with the best dev F1 is kept, as `train.py` keeps its best epoch.

Labels: BIO tags on the first subword of each word, -100 on the other subwords and the
special tokens. A nested corpus is reduced to its outermost mentions for training (a BIO
tagger can represent nothing else). Predicted tags are decoded to spans the way conlleval
and seqeval's default mode do (an I- tag after O or after another type opens a mention), and
scored twice: with `srunear.metrics.span_prf` against ALL gold spans of the source (so nested
gold mentions the tagger cannot produce count as misses) and with seqeval against the BIO
encoding of the outermost gold mentions. On flat data the two agree exactly.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from srunear.splits import SplitData, load_split  # noqa: E402
from srunear.experiment import ExperimentConfig, load_experiment  # noqa: E402
from srunear.metrics import Span, span_prf  # noqa: E402

__all__ = ["bio_to_spans", "outermost", "spans_to_bio", "train_baseline", "predict_tags", "score_baseline"]

# --------------------------------------------------------------------------- spans <-> BIO


def outermost(spans: list[Span]) -> list[Span]:
    """Mentions not contained in another mention; of two crossing ones the earlier/longer wins."""
    unique = sorted(set(spans), key=lambda s: (s[0], -(s[1] - s[0]), s[2]))
    outer = [s for s in unique if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in unique)]
    kept: list[Span] = []
    for span in outer:  # sorted by start: drop a span that crosses one already kept
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


def spans_to_bio(length: int, spans: list[Span]) -> list[str]:
    tags = ["O"] * length
    for start, end, entity_type in outermost(spans):
        tags[start] = f"B-{entity_type}"
        for i in range(start + 1, end):
            tags[i] = f"I-{entity_type}"
    return tags


def bio_to_spans(tags: list[str]) -> list[Span]:
    """conlleval / seqeval (default mode) chunking: I-X after O or after Y != X opens a chunk."""
    spans: list[Span] = []
    start, current = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, entity_type = tag.partition("-")
        continues = prefix == "I" and current == entity_type
        if current is not None and not continues:
            spans.append((start, i, current))
            start, current = None, None
        if prefix == "B" or (prefix == "I" and not continues):
            start, current = i, entity_type
    return spans


# --------------------------------------------------------------------------- data


def gold_spans(dataset) -> list[list[Span]]:
    return [[(s["start"], s["end"], s["type"]) for s in spans] for spans in dataset["spans"]]


def encode(tokenizer, token_lists, tag_lists, label_to_id, max_length: int) -> list[dict[str, Any]]:
    """Tokenise pre-split sentences; the first subword of a word carries its label, others -100."""
    encoded = tokenizer([list(t) for t in token_lists], is_split_into_words=True, truncation=True, max_length=max_length)
    rows = []
    for i in range(len(token_lists)):
        word_ids = encoded.word_ids(i)
        labels, previous = [], None
        for word in word_ids:
            if word is None or word == previous:
                labels.append(-100)
            else:
                labels.append(label_to_id[tag_lists[i][word]] if tag_lists is not None else 0)
            previous = word
        rows.append({"input_ids": encoded["input_ids"][i], "attention_mask": encoded["attention_mask"][i], "labels": labels})
    return rows


def label_list(types: list[str]) -> list[str]:
    return ["O"] + [f"{prefix}-{t}" for t in sorted(types) for prefix in ("B", "I")]


# --------------------------------------------------------------------------- prediction and scoring


def predict_tags(model, tokenizer, token_lists, labels: list[str], batch_size: int = 32) -> list[list[str]]:
    """Argmax tag of each word's first subword; words cut off by truncation get O."""
    from transformers import DataCollatorForTokenClassification

    collator = DataCollatorForTokenClassification(tokenizer)
    max_length = model.config.max_position_embeddings
    order = sorted(range(len(token_lists)), key=lambda i: -len(token_lists[i]))
    predictions: list[list[str]] = [["O"] * len(t) for t in token_lists]
    model.eval()
    with torch.no_grad():
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            encoded = tokenizer([list(token_lists[i]) for i in rows], is_split_into_words=True,
                                truncation=True, max_length=max_length)
            batch = collator([{"input_ids": encoded["input_ids"][k], "attention_mask": encoded["attention_mask"][k]}
                              for k in range(len(rows))])
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            best = logits.argmax(-1).tolist()
            for k, i in enumerate(rows):
                previous = None
                for position, word in enumerate(encoded.word_ids(k)):
                    if word is not None and word != previous:
                        predictions[i][word] = labels[best[k][position]]
                    previous = word
    return predictions


def score_baseline(gold: list[list[Span]], token_lists, predicted_tags: list[list[str]], types: list[str]) -> dict[str, Any]:
    """span_prf against all gold spans, and seqeval against the outermost gold mentions' BIO tags."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    predicted = [bio_to_spans(tags) for tags in predicted_tags]
    scores = span_prf(gold, predicted, types)
    gold_tags = [spans_to_bio(len(tokens), spans) for tokens, spans in zip(token_lists, gold)]
    micro = scores.micro_score()
    return {
        "f1": micro.f1, "precision": micro.precision, "recall": micro.recall,
        "per_type": {t: scores.score(t).as_type_row() for t in scores.table_types()},
        "seqeval_outermost": {
            "f1": 100 * f1_score(gold_tags, predicted_tags),
            "precision": 100 * precision_score(gold_tags, predicted_tags),
            "recall": 100 * recall_score(gold_tags, predicted_tags),
        },
        "predicted_spans": predicted,
    }


# --------------------------------------------------------------------------- training


def train_baseline(experiment: ExperimentConfig, log=print) -> tuple[Any, Any, list[str], dict[str, Any]]:
    """Fine-tune `AutoModelForTokenClassification`; returns (model at best dev epoch, tokenizer, labels, info)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification

    if len(experiment.sources) != 1:
        raise ValueError("the baseline trains on one source")
    config = experiment.training
    torch.manual_seed(config.seed)
    name = experiment.sources[0].name
    train: SplitData = load_split(experiment, "train", config.max_train_examples, shuffle_seed=config.seed)[name]
    dev: SplitData = load_split(experiment, "dev", config.max_eval_examples)[name]
    types = sorted(set(train.report.type_counts) | set(dev.report.type_counts))
    labels = label_list(types)
    label_to_id = {label: i for i, label in enumerate(labels)}
    encoder = experiment.encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = AutoModelForTokenClassification.from_pretrained(
        encoder, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label_to_id)
    max_length = model.config.max_position_embeddings
    train_tokens = train.dataset["tokens"]
    train_gold = gold_spans(train.dataset)
    nested_dropped = sum(len(set(g)) - len(outermost(g)) for g in train_gold)
    rows = encode(tokenizer, train_tokens, [spans_to_bio(len(t), g) for t, g in zip(train_tokens, train_gold)],
                  label_to_id, max_length)
    collator = DataCollatorForTokenClassification(tokenizer)
    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup = config.encoder_warmup_epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.encoder_learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / max(warmup, 1.0) if step < warmup
        else max(0.0, (total_steps - step) / max(total_steps - warmup, 1.0)))
    dev_tokens, dev_gold = dev.dataset["tokens"], gold_spans(dev.dataset)
    best_f1, best_epoch, best_state, history = -1.0, 0, None, []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        generator = torch.Generator().manual_seed(config.seed + epoch)
        loader = DataLoader(rows, batch_size=config.batch_size, shuffle=True, generator=generator, collate_fn=collator)
        total, epoch_started = 0.0, time.perf_counter()
        for step, batch in enumerate(loader):
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            total += loss.item()
            if step % 20 == 0:
                log(f"baseline epoch {epoch + 1} step {step}/{len(loader)} loss {loss.item():.4f}")
        dev_tags = predict_tags(model, tokenizer, dev_tokens, labels, config.eval_batch_size)
        dev_f1 = span_prf(dev_gold, [bio_to_spans(t) for t in dev_tags], types).micro_score().f1
        history.append({"epoch": epoch + 1, "train_loss": total / max(len(loader), 1), "dev_f1": dev_f1,
                        "epoch_s": time.perf_counter() - epoch_started})
        log(f"baseline epoch {epoch + 1}: train loss {history[-1]['train_loss']:.4f}, dev F1 {dev_f1:.2f}")
        if dev_f1 > best_f1:
            best_f1, best_epoch, best_state = dev_f1, epoch + 1, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    info = {"types": types, "train_sentences": len(rows), "dev_sentences": len(dev_tokens), "best_epoch": best_epoch,
            "best_dev_f1": best_f1, "history": history, "train_s": time.perf_counter() - started,
            "nested_training_mentions_dropped": nested_dropped, "optimizer_steps": total_steps}
    return model, tokenizer, labels, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--max-test-examples", type=int, default=1000)
    args = parser.parse_args(argv)
    experiment = load_experiment(args.config, args.overrides)
    model, tokenizer, labels, info = train_baseline(experiment)
    test = load_split(experiment, "test", args.max_test_examples)[experiment.sources[0].name]
    tokens = test.dataset["tokens"]
    scores = score_baseline(gold_spans(test.dataset), tokens, predict_tags(model, tokenizer, tokens, labels), info["types"])
    scores.pop("predicted_spans")
    print({"train": {k: v for k, v in info.items() if k != "history"}, "test": scores})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
