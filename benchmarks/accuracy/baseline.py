"""Token-classification baselines: the same encoder fine-tuned as a BIO tagger (one source).

    python benchmarks/accuracy/baseline.py EXPERIMENT.yaml [--scheme outermost|per_type] [--output-dir DIR]
                                           [--max-test-examples N] [key=value ...]

Two tagging schemes (`TagScheme`):

* ``outermost``: one softmax over ``O``/``B-t``/``I-t``. A nested corpus is reduced to its
  outermost mentions for training, the only ones such a tagger can represent.
* ``per_type``: one ``O``/``B``/``I`` softmax per entity type on the same encoder (a
  multi-label token classifier). Mentions of different types may nest (a protein inside a
  DNA mention); within one type only the outermost mentions are kept.

Same examples as `train.py` (the experiment's seeded `max_train_examples` subset and the first
`max_eval_examples` dev sentences), epochs, batch size and seed; AdamW at the experiment's
encoder learning rate with its weight decay, linear warmup over `encoder_warmup_epochs` then
linear decay, gradient clipping at `max_grad_norm`. Labels sit on the first subword of each
word, -100 elsewhere. The model of the epoch with the best dev F1 is kept, as `train.py` keeps
its best epoch. With an output folder, every finished epoch is checkpointed (model, optimiser,
schedule, RNG, best weights, history) and a restart resumes after the last one, ending with
the same weights as an uninterrupted run.

Predicted tags are decoded to spans the way conlleval and seqeval's default mode do (an I- tag
after O or after another type opens a mention) and scored with `srunear.metrics.span_prf`
against ALL gold spans (nested gold mentions a tagger cannot produce count as misses); the
outermost scheme is also scored with seqeval against the BIO encoding of the outermost gold
mentions, which agrees exactly with `span_prf` on flat data.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from srunear.experiment import ExperimentConfig, load_experiment  # noqa: E402
from srunear.metrics import Span, span_prf  # noqa: E402
from srunear.splits import SplitData, load_split  # noqa: E402
from srunear.training import existing_folder, replace_folder, warmup_then_decay  # noqa: E402

__all__ = ["SCHEMES", "TagScheme", "bio_to_spans", "outermost", "predict_spans", "score_baseline", "spans_to_bio",
           "train_baseline"]

SCHEMES = ("outermost", "per_type")
CHECKPOINT = "baseline_state"

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
    """BIO tags of the outermost mentions among ``spans``."""
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


@dataclass(frozen=True)
class TagScheme:
    """How a sentence's spans become one label per word (outermost) or one label per word and type (per_type)."""

    kind: str
    types: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in SCHEMES:
            raise ValueError(f"tagging scheme must be one of {SCHEMES}, got {self.kind!r}")

    @property
    def labels(self) -> list[str]:
        """The classifier's output labels, in order (per_type: ``type:tag`` for each type's O/B/I)."""
        if self.kind == "outermost":
            return ["O"] + [f"{prefix}-{t}" for t in self.types for prefix in ("B", "I")]
        return [f"{t}:{tag}" for t in self.types for tag in ("O", "B", "I")]

    def word_labels(self, length: int, spans: list[Span]) -> list[Any]:
        """Per word, a label id (outermost) or a list of label ids, one per type, each in 0..2 (per_type)."""
        if self.kind == "outermost":
            index = {label: i for i, label in enumerate(self.labels)}
            return [index[tag] for tag in spans_to_bio(length, spans)]
        per_type = [spans_to_bio(length, [s for s in spans if s[2] == t]) for t in self.types]
        code = {"O": 0, "B": 1, "I": 2}
        return [[code[tags[i][0]] for tags in per_type] for i in range(length)]

    def representable(self, spans: list[Span]) -> int:
        """How many of ``spans`` (deduplicated) the scheme can tag."""
        if self.kind == "outermost":
            return len(outermost(spans))
        return sum(len(outermost([s for s in set(spans) if s[2] == t])) for t in self.types)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over labelled words (and, per_type, over types)."""
        if self.kind == "outermost":
            return torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        per_type = logits.view(*logits.shape[:2], len(self.types), 3)
        return torch.nn.functional.cross_entropy(per_type.reshape(-1, 3), labels.reshape(-1), ignore_index=-100)

    def decode(self, word_logits: torch.Tensor) -> list[Span]:
        """Spans from one sentence's first-subword logits, shape (words, labels)."""
        if self.kind == "outermost":
            labels = self.labels
            return bio_to_spans([labels[i] for i in word_logits.argmax(-1).tolist()])
        best = word_logits.view(word_logits.shape[0], len(self.types), 3).argmax(-1).tolist()
        spans: list[Span] = []
        for k, entity_type in enumerate(self.types):
            tags = [("O", f"B-{entity_type}", f"I-{entity_type}")[row[k]] for row in best]
            spans.extend(bio_to_spans(tags))
        return sorted(spans)


# --------------------------------------------------------------------------- data


def gold_spans(dataset) -> list[list[Span]]:
    return [[(s["start"], s["end"], s["type"]) for s in spans] for spans in dataset["spans"]]


def encode(tokenizer, token_lists, max_length: int, word_labels: list[list[Any]] | None = None) -> list[dict[str, Any]]:
    """Tokenise pre-split sentences; the first subword of a word carries its label(s), the rest -100.

    Also keeps each row's first-subword positions (``firsts``; words cut off by truncation have none).
    """
    encoded = tokenizer([list(t) for t in token_lists], is_split_into_words=True, truncation=True, max_length=max_length)
    rows = []
    for i in range(len(token_lists)):
        firsts, previous = {}, None
        for position, word in enumerate(encoded.word_ids(i)):
            if word is not None and word != previous:
                firsts[word] = position
            previous = word
        row = {"input_ids": encoded["input_ids"][i], "firsts": firsts}
        if word_labels is not None:
            row["word_labels"] = word_labels[i]
        rows.append(row)
    return rows


def collate(rows: list[dict[str, Any]], pad_id: int, per_type: int = 0) -> dict[str, torch.Tensor]:
    """Pad a batch; labels are -100 except at first subwords (shape (B, L), or (B, L, types) per type)."""
    length = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    labels = torch.full((len(rows), length, per_type) if per_type else (len(rows), length), -100, dtype=torch.long)
    for b, row in enumerate(rows):
        ids[b, : len(row["input_ids"])] = torch.tensor(row["input_ids"])
        mask[b, : len(row["input_ids"])] = 1
        for word, position in row["firsts"].items():
            if "word_labels" in row:
                labels[b, position] = torch.tensor(row["word_labels"][word])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


# --------------------------------------------------------------------------- prediction and scoring


def predict_spans(model, tokenizer, scheme: TagScheme, token_lists, batch_size: int = 32) -> list[list[Span]]:
    """Each sentence's predicted spans (words cut off by truncation are never in a span)."""
    rows = encode(tokenizer, token_lists, model.config.max_position_embeddings)
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]["input_ids"]))
    predictions: list[list[Span]] = [[] for _ in rows]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for begin in range(0, len(order), batch_size):
            picked = order[begin : begin + batch_size]
            batch = collate([rows[i] for i in picked], tokenizer.pad_token_id)
            logits = model(input_ids=batch["input_ids"].to(model.device),
                           attention_mask=batch["attention_mask"].to(model.device)).logits.cpu()
            for k, i in enumerate(picked):
                firsts = rows[i]["firsts"]
                if firsts:
                    words = sorted(firsts)  # a prefix 0..n-1 of the sentence
                    predictions[i] = scheme.decode(logits[k, [firsts[w] for w in words]])
    model.train(was_training)
    return predictions


def score_baseline(gold: list[list[Span]], token_lists, predicted: list[list[Span]], types: list[str],
                   scheme: str = "outermost") -> dict[str, Any]:
    """span_prf against all gold spans; for the outermost scheme also seqeval against the outermost gold BIO tags."""
    scores = span_prf(gold, predicted, types)
    micro = scores.micro_score()
    block: dict[str, Any] = {"f1": micro.f1, "precision": micro.precision, "recall": micro.recall,
                             "support": micro.support,
                             "per_type": {t: scores.score(t).as_type_row() for t in scores.table_types()}}
    if scheme == "outermost":
        from seqeval.metrics import f1_score, precision_score, recall_score

        gold_tags = [spans_to_bio(len(tokens), spans) for tokens, spans in zip(token_lists, gold)]
        predicted_tags = [spans_to_bio(len(tokens), spans) for tokens, spans in zip(token_lists, predicted)]
        block["seqeval_outermost"] = {"f1": 100 * f1_score(gold_tags, predicted_tags),
                                      "precision": 100 * precision_score(gold_tags, predicted_tags),
                                      "recall": 100 * recall_score(gold_tags, predicted_tags)}
    return block


# --------------------------------------------------------------------------- training


def _save_checkpoint(folder: Path, model, optimizer, scheduler, best_state, info: dict[str, Any]) -> None:
    """Everything a resumed run needs after a finished epoch, swapped in atomically."""
    temporary = folder / f"{CHECKPOINT}.tmp"
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir(parents=True)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "best": best_state, "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}, temporary / "state.pt")
    (temporary / "info.json").write_text(json.dumps(info), encoding="utf-8")
    replace_folder(temporary, folder / CHECKPOINT)


def train_baseline(experiment: ExperimentConfig, scheme: str = "outermost", output_dir: str | Path | None = None,
                   log=print) -> tuple[Any, Any, TagScheme, dict[str, Any]]:
    """Fine-tune `AutoModelForTokenClassification`; returns (model at its best dev epoch, tokenizer, scheme, info).

    With ``output_dir``, each finished epoch is checkpointed there and a new call resumes after the last one.
    """
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    if len(experiment.sources) != 1:
        raise ValueError(f"the baseline trains on one source; the experiment has {len(experiment.sources)}: "
                         f"{', '.join(experiment.source_names)}")
    config = experiment.training
    torch.manual_seed(config.seed)
    name = experiment.sources[0].name
    train: SplitData = load_split(experiment, "train", config.max_train_examples, shuffle_seed=config.seed)[name]
    dev: SplitData = load_split(experiment, "dev", config.max_eval_examples, spread=config.eval_subset == "spread")[name]
    tags = TagScheme(scheme, tuple(sorted(set(train.report.type_counts) | set(dev.report.type_counts))))
    labels = tags.labels
    encoder = experiment.encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = AutoModelForTokenClassification.from_pretrained(
        encoder, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # full precision on either
    model.to(device)
    train_tokens, train_gold = train.dataset["tokens"], gold_spans(train.dataset)
    unrepresented = sum(len(set(g)) - tags.representable(g) for g in train_gold)
    rows = encode(tokenizer, train_tokens, model.config.max_position_embeddings,
                  [tags.word_labels(len(t), g) for t, g in zip(train_tokens, train_gold)])
    per_type = len(tags.types) if scheme == "per_type" else 0
    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.encoder_learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_then_decay(config.encoder_warmup_epochs * steps_per_epoch, total_steps))
    dev_tokens, dev_gold = dev.dataset["tokens"], gold_spans(dev.dataset)
    info: dict[str, Any] = {"scheme": scheme, "types": list(tags.types), "train_sentences": len(rows),
                            "dev_sentences": len(dev_tokens), "best_epoch": 0, "best_dev_f1": -1.0, "history": [],
                            "train_s": 0.0, "training_mentions_unrepresented": unrepresented,
                            "optimizer_steps": total_steps, "resumed_after_epoch": 0}
    best_state = None
    folder = Path(output_dir) if output_dir is not None else None
    found = existing_folder(folder / CHECKPOINT) if folder is not None else None
    if found is not None and (found / "state.pt").is_file():
        saved = torch.load(found / "state.pt", weights_only=False, map_location=device)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"].cpu())
        if saved.get("cuda_rng") is not None and torch.cuda.is_available():  # dropout's generator on a GPU
            torch.cuda.set_rng_state_all([state.cpu() for state in saved["cuda_rng"]])
        best_state = saved["best"]
        info = json.loads((found / "info.json").read_text(encoding="utf-8"))
        info["resumed_after_epoch"] = len(info["history"])
        log(f"baseline: resumed after epoch {len(info['history'])} (best dev F1 {info['best_dev_f1']:.2f})")
    started = time.perf_counter() - info["train_s"]
    for epoch in range(len(info["history"]), config.epochs):
        model.train()
        order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(config.seed + epoch)).tolist()
        total, epoch_started = 0.0, time.perf_counter()
        for step in range(steps_per_epoch):
            picked = order[step * config.batch_size : (step + 1) * config.batch_size]
            batch = {k: v.to(device) for k, v in collate([rows[i] for i in picked], tokenizer.pad_token_id, per_type).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss = tags.loss(logits, batch["labels"])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            total += loss.item()
            if step % 50 == 0:
                log(f"baseline epoch {epoch + 1} step {step}/{steps_per_epoch} loss {loss.item():.4f}")
        predicted = predict_spans(model, tokenizer, tags, dev_tokens, config.eval_batch_size)
        dev_f1 = span_prf(dev_gold, predicted, list(tags.types)).micro_score().f1
        info["history"].append({"epoch": epoch + 1, "train_loss": total / steps_per_epoch, "dev_f1": dev_f1,
                                "epoch_s": time.perf_counter() - epoch_started})
        log(f"baseline epoch {epoch + 1}: train loss {info['history'][-1]['train_loss']:.4f}, dev F1 {dev_f1:.2f}")
        if dev_f1 > info["best_dev_f1"]:
            info["best_dev_f1"], info["best_epoch"] = dev_f1, epoch + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        info["train_s"] = time.perf_counter() - started
        if folder is not None:
            _save_checkpoint(folder, model, optimizer, scheduler, best_state, info)
    model.load_state_dict(best_state)
    model.eval()
    return model, tokenizer, tags, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--scheme", choices=SCHEMES, default="outermost")
    parser.add_argument("--output-dir", help="checkpoint every epoch here and resume from it")
    parser.add_argument("--max-test-examples", type=int, default=None)
    args = parser.parse_args(argv)
    experiment = load_experiment(args.config, args.overrides)
    model, tokenizer, tags, info = train_baseline(experiment, args.scheme, args.output_dir)
    test = load_split(experiment, "test", args.max_test_examples)[experiment.sources[0].name]
    tokens = test.dataset["tokens"]
    predicted = predict_spans(model, tokenizer, tags, tokens, experiment.training.eval_batch_size)
    scores = score_baseline(gold_spans(test.dataset), tokens, predicted, list(tags.types), args.scheme)
    print(json.dumps({"train": {k: v for k, v in info.items() if k != "history"}, "test": scores}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
