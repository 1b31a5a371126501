"""Score a trained model on an experiment's corpora, each source on the types it annotates.

    python evaluate.py MODEL_DIR CONFIG.yaml [--split test] [--output FILE.json] [--batch-size N] [key=value ...]

Writes the `srunear.metrics.evaluate_sources` report (values 0-100) as JSON, the markdown
table beside it (FILE.md) and prints the table. Gold spans that the corpus reader could not
represent (unaligned to words, or crossing a span of the same type) never reach the model but
are still entities it missed, so they are added as false negatives; so are mentions too long
for the encoder by themselves, which `fit_split` has to cut.

Every split is fitted to the encoder as the paper does it (`srunear.splits.fit_split`).

A source is scored on every type its corpus annotates (the paper's rule), including types the
model never predicts: those gold mentions are misses, the source's block in the JSON lists
them under ``unpredicted_types`` and a warning names them. The model folder must hold a
complete SRU-NER model (`srunear.loading.load_model`), or nothing is scored.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from srunear.cli import command_line
from srunear.experiment import load_experiment
from srunear.loading import check_model_type, load_model
from srunear.metrics import SourceData, evaluate_sources, markdown_table
from srunear.model_card import TRAINING_SUMMARY, write_model_card
from srunear.prediction import predict_spans
from srunear.splits import SplitData, fit_splits, load_split

__all__ = ["evaluate_model", "main", "unpredicted_warnings", "unrepresentable_gold"]

UNREPRESENTABLE_KINDS = ("unaligned", "crossing")





def unrepresentable_gold(data: SplitData) -> int:
    """Gold spans dropped as unrepresentable: the reader's (0 for a subset, whose share is unknown) and
    those cut to fit the encoder."""
    read = 0 if data.truncated else sum(data.report.counts[kind] for kind in UNREPRESENTABLE_KINDS)
    return read + data.cut_mentions


def evaluate_model(
    model,
    tokenizer,
    splits: Mapping[str, SplitData],
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, Any]:
    """Predict every source's examples and score each on the types that source annotates.

    Those are the types its corpus holds, plus the ones the model was trained to give it.
    Gold types the model cannot predict stay in (as misses) and are listed per source under
    ``unpredicted_types`` (type -> gold mentions).
    """
    known = set(model.config.entity_types)
    per_source, unpredicted = {}, {}
    for name, data in splits.items():
        gold = [[(span["start"], span["end"], span["type"]) for span in spans] for spans in data.dataset["spans"]]
        types = sorted(set(model.config.sources.get(name, ())) | set(data.report.type_counts))
        missing = Counter(span[2] for spans in gold for span in spans if span[2] not in known)
        if missing:
            unpredicted[name] = dict(sorted(missing.items()))
        predicted = predict_spans(model, tokenizer, data.dataset, batch_size=batch_size, progress=progress)
        predicted = [[span[:3] for span in spans] for spans in predicted]
        per_source[name] = SourceData(gold, predicted, types, unrepresentable_gold(data))
    report = evaluate_sources(per_source)
    for name, counts in unpredicted.items():
        report["sources"][name]["unpredicted_types"] = counts
    return report


def _mention_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{entity_type} ({count} mentions)" for entity_type, count in counts.items())


def unpredicted_warnings(report: Mapping[str, Any]) -> list[str]:
    """One line per source scored on types the model cannot predict (so its scores are capped)."""
    return [
        f"warning: source {name!r} annotates {_mention_counts(block['unpredicted_types'])}, "
        "which the model does not predict; they count as misses (a corpus is scored on the types it annotates)"
        for name, block in report["sources"].items()
        if block.get("unpredicted_types")
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Evaluate an SRU-NER model on an experiment's corpora.")
    parser.add_argument("model_dir", help="folder of a saved model (e.g. OUTPUT/best) or a Hub id")
    parser.add_argument("config", help="experiment YAML file naming the sources")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the experiment file")
    parser.add_argument("--split", default="test")
    parser.add_argument("--output", help="JSON report path (default: MODEL_DIR/eval_SPLIT.json); the table goes to .md beside it")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-examples", type=int, default=None, help="at most this many examples per source")
    parser.add_argument("--model-card", action="store_true", help="rewrite MODEL_DIR/README.md with these metrics")
    parser.add_argument("--threshold", type=float, default=None,
                        help="decode at this probability for TRANSITION/REDUCE actions instead of the model's "
                             "(config.threshold); compare thresholds on the dev split, then load the model with "
                             "from_pretrained(..., threshold=T)")
    return parser


def check_decoding_threshold(threshold: float | None, model_card: bool) -> None:
    """Refuse a threshold that is no probability, and a model card for metrics the saved model would not give."""
    if threshold is None:
        return
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"--threshold must be a probability strictly between 0 and 1, got {threshold:g}")
    if model_card:
        raise ValueError("--model-card describes the saved model, which decodes at its own threshold: save the model "
                         "with this threshold first (from_pretrained(..., threshold=T), then save_pretrained), or "
                         "leave out --model-card")


@command_line(build_parser, intermixed=True)
def main(args: argparse.Namespace) -> int:
    import torch
    from transformers import AutoTokenizer

    check_decoding_threshold(args.threshold, args.model_card)
    experiment = load_experiment(args.config, args.overrides)
    check_model_type(args.model_dir)  # before reading any corpus
    experiment.check_paths((args.split,))
    splits = load_split(experiment, args.split, limit=args.max_examples)
    if not splits:
        raise ValueError(f"no source of {args.config} has a {args.split!r} split")
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    with torch.no_grad():  # a context, not a global switch: main() may run inside a longer program
        model = load_model(args.model_dir)
        if args.threshold is not None:
            model.config.threshold = args.threshold
        splits = fit_splits(experiment, splits, tokenizer, model.config.max_subword_tokens)
        for data in splits.values():
            print(data.report.summary())
        report = evaluate_model(model, tokenizer, splits, batch_size=args.batch_size, progress=True)
    report["decoding_threshold"] = model.config.threshold
    for warning in unpredicted_warnings(report):
        print(warning, file=sys.stderr)
    default_name = f"eval_{args.split}" + ("" if args.threshold is None else f"_threshold{args.threshold:g}")
    output = Path(args.output) if args.output else Path(args.model_dir) / f"{default_name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    table = markdown_table(report)
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)
    origin = "the model's" if args.threshold is None else "--threshold"
    print(f"decoded at threshold {model.config.threshold:g} ({origin}); wrote {output} and {output.with_suffix('.md')}")
    if args.model_card:
        summary_path = Path(args.model_dir) / TRAINING_SUMMARY
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else None
        card = write_model_card(args.model_dir, model.config, metrics_report=report, training_summary=summary,
                                model_name=Path(args.model_dir).resolve().parent.name, model_id=str(args.model_dir),
                                metrics_split=args.split)
        print(f"model card with these metrics: {card}")
    return 0
