"""Does training on the pipeline's word split matter? GENIA, corpus tokens vs pipeline words.

    python benchmarks/pipeline_words.py      # about 10 minutes on 2 CPU cores

`pipeline("srunear-ner")` splits raw text at every punctuation character ("IL-2" is three
words); GENIA keeps "IL-2" as one token. Two models are trained with
`benchmarks/accuracy/pipeline_words_genia.yaml` (MiniLM, 1,000 GENIA training sentences, 6
epochs, seed 42): one on GENIA's own tokens (`pipeline_words: false`), one on pipeline words
(the default). Both are scored
with `evaluate.py` on the GENIA test set split into pipeline words, which is what a pipeline
user gets; the first is also scored on its own tokens. Writes
`benchmarks/results/pipeline_words.json` and `.md`; models and data live in
$SRUNEAR_ACCURACY_WORK (default /tmp/srunear_accuracy), never in the repository.

The committed results (2026-11-25) were measured before GENIA's train split was in ../shared:
the 1,000 training sentences were then drawn from GENIA's dev split without its first 200
sentences, which selected the model. A rerun trains on the train split and selects on dev.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "accuracy"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import run as accuracy  # noqa: E402  (experiment files and the work folder)
from report import atomic_write  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CONFIG = "pipeline_words_genia.yaml"  # in benchmarks/accuracy


def experiment_file(pipeline_words: bool, data_dir: Path) -> Path:
    """CONFIG with the data folder filled in and the word split chosen."""
    raw = yaml.safe_load((ROOT / "benchmarks" / "accuracy" / CONFIG).read_text(encoding="utf-8"))
    raw["data_dir"] = str(data_dir)
    raw["sources"][0]["pipeline_words"] = pipeline_words
    accuracy.WORK.mkdir(parents=True, exist_ok=True)
    path = accuracy.WORK / f"genia_pipeline_words_{str(pipeline_words).lower()}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def python(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def main() -> dict:
    accuracy.WORK.mkdir(parents=True, exist_ok=True)
    data_dir = accuracy.experiment_for(CONFIG)[0].base_dir
    configs = {flag: experiment_file(flag, data_dir) for flag in (False, True)}
    scores = {}
    for trained_on_pipeline_words in (False, True):
        name = "pipeline_words" if trained_on_pipeline_words else "corpus_tokens"
        model = accuracy.WORK / f"genia_trained_on_{name}"
        python("train.py", str(configs[trained_on_pipeline_words]), "--output-dir", str(model))
        scored_on = [True] if trained_on_pipeline_words else [False, True]
        for pipeline_words in scored_on:
            report = accuracy.WORK / f"genia_trained_on_{name}_scored_on_{'pipeline_words' if pipeline_words else 'corpus_tokens'}.json"
            python("evaluate.py", str(model / "best"), str(configs[pipeline_words]), "--split", "test", "--output", str(report))
            result = json.loads(report.read_text(encoding="utf-8"))
            scores[report.stem.removeprefix("genia_")] = {
                "f1": result["average_f1"],
                "per_type_f1": {t: v["f1"] for t, v in result["sources"]["genia"]["types"].items()},
            }
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "scores": scores}
    atomic_write(RESULTS / "pipeline_words.json", json.dumps(out, indent=2) + "\n")
    types = sorted(next(iter(scores.values()))["per_type_f1"])
    lines = [
        "# GENIA test F1: corpus tokens vs pipeline words",
        "",
        f"Run {out['date']} with `python benchmarks/pipeline_words.py` (method in its docstring).",
        "",
        "| trained on | scored on | F1 | " + " | ".join(types) + " |",
        "|---|---|---:|" + "---:|" * len(types),
    ]
    for key, value in scores.items():
        trained, scored = key.removeprefix("trained_on_").split("_scored_on_")
        lines.append(f"| {trained} | {scored} | {value['f1']:.2f} | "
                     + " | ".join(f"{value['per_type_f1'][t]:.2f}" for t in types) + " |")
    atomic_write(RESULTS / "pipeline_words.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return out


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
