"""Ablations: the paper's defaults against each deviation we offer, 3 seeds, small budgets.

    python benchmarks/accuracy/ablations.py [--seeds 1 2 3] [--only VARIANT ...] [--experiments NAME ...]

Trains every (variant, experiment, seed) that is not finished yet, one after the other,
seed by seed (so that an interrupted session leaves every variant with its first seeds),
and rewrites ``benchmarks/results/ablations.json`` and ``ablations.md`` after each run
(temporary file, then rename). Several runners may share the results file (e.g. one thread each
on disjoint ``--experiments``): each adds its run under a file lock to what is on disk then. Checkpoints live in WORK ($SRUNEAR_ACCURACY_WORK, default
/tmp/srunear_accuracy) and an interrupted training resumes from its last finished epoch.
Variants that only change decoding reuse the models of the variant they name in READS_MODELS.

Experiments (``ablation_*.yaml``): GENIA nested (the genia preset), NCBI-Disease flat, two
partially annotated BC5CDR sources of unequal size, and NCBI-Disease with BC5CDR (both annotate
Disease: per-source against shared heads). Learning speed is the number of
optimiser steps until dev F1 first reaches half of its final value.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as accuracy  # noqa: E402  (shared helpers: data, experiments, prediction, scoring)
from report import atomic_write, write_json  # noqa: E402  (importable once run.py is: benchmarks/ is on the path)

RESULTS = Path(os.environ.get("SRUNEAR_ABLATION_RESULTS", accuracy.REPO_ROOT / "benchmarks" / "results" / "ablations.json"))
TABLES = RESULTS.with_suffix(".md")
WORK = accuracy.WORK / "ablations"
EXPERIMENTS = {"genia": "ablation_genia.yaml", "ncbi_disease": "ablation_ncbi_disease.yaml",
               "bc5cdr_two_sources": "ablation_two_sources.yaml", "ncbi_bc5cdr": "ablation_ncbi_bc5cdr.yaml"}
TEST_SOURCE = {"bc5cdr_two_sources": "bc5cdr", "ncbi_bc5cdr": "bc5cdr"}

# variant -> (what it changes, experiments, training overrides, decoding-only config changes)
VARIANTS: dict[str, tuple[dict[str, Any], list[str], list[str], dict[str, Any]]] = {
    "paper": ({}, list(EXPERIMENTS), [], {}),
    "decoding_threshold": ({"model.decoding": "threshold"}, list(EXPERIMENTS), [], {"decoding": "threshold"}),
    "parser_state_slot": ({"model.parser_state": "slot"}, ["genia", "ncbi_disease"], ["model.parser_state=slot"], {}),
    # NCBI-Disease only: it lost there by ~60 F1 points (README of the results), no need to spend GENIA runs
    "initialization_small": ({"model.initialization": "small"}, ["ncbi_disease"],
                             ["model.initialization=small"], {}),
    # on sources that annotate disjoint types the two are the same model: compare where a type is shared
    "heads_shared": ({"model.heads": "shared"}, ["ncbi_bc5cdr"], ["model.heads=shared"], {}),
    "sampling_inverse_size": ({"training.sampling": "inverse_size"}, ["bc5cdr_two_sources"],
                              ["training.sampling=inverse_size"], {}),
    "postponed_shift_detached": ({"model.postponed_shift_target": "detached"}, ["bc5cdr_two_sources"],
                                 ["model.postponed_shift_target=detached"], {}),
    # the two deviations that won alone, together: the shared-head models decoded by threshold. Only
    # ncbi_bc5cdr tells it apart: with one source or disjoint types, shared heads are the per-source ones
    "deviations_combined": ({"model.decoding": "threshold", "model.heads": "shared"}, ["ncbi_bc5cdr"],
                            [], {"decoding": "threshold"}),
    # the package's defaults together (slot state and shared heads trained, threshold decoding)
    "defaults_combined": ({"model.parser_state": "slot", "model.heads": "shared", "model.decoding": "threshold"},
                          ["ncbi_bc5cdr"], ["model.parser_state=slot", "model.heads=shared"], {"decoding": "threshold"}),
    "token_multiplier_1": ({"model.token_multiplier": 1.0, "model.train_token_multiplier": False}, ["genia"],
                           ["model.token_multiplier=1.0", "model.train_token_multiplier=false"], {}),
    # the same sentences per step: a merged GENIA example holds ~6.5 sentences (ablation_genia.yaml)
    "merging_off": ({"sources.0.merge_sentences": False, "training.batch_size": 13}, ["genia"],
                    ["sources.0.merge_sentences=false", "training.batch_size=13"], {}),
    # the two GENIA settings again on a decoder that leaves the SHIFT-only plateau within the GENIA budget
    # (with the paper's parser state no GENIA run did: every F1 0.00); compare with parser_state_slot
    "token_multiplier_1_slot": ({"model.parser_state": "slot", "model.token_multiplier": 1.0,
                                 "model.train_token_multiplier": False}, ["genia"],
                                ["model.parser_state=slot", "model.token_multiplier=1.0",
                                 "model.train_token_multiplier=false"], {}),
    "merging_off_slot": ({"model.parser_state": "slot", "sources.0.merge_sentences": False, "training.batch_size": 13},
                         ["genia"], ["model.parser_state=slot", "sources.0.merge_sentences=false",
                                     "training.batch_size=13"], {}),
}
# Every run starts from the authors' model (modeling_srunear.PAPER_SETTINGS; our defaults differ because of
# these very ablations), then applies its variant's overrides
PAPER_OVERRIDES = ["model.heads=per_source", "model.decoding=paper", "model.parser_state=word"]
# decoding-only variants (no training overrides) read the models another variant trained
READS_MODELS = {"decoding_threshold": "paper", "deviations_combined": "heads_shared"}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def load() -> dict[str, Any]:
    if RESULTS.is_file():
        return json.loads(RESULTS.read_text(encoding="utf-8"))
    return {"variants": {}, "runs": {}}


def save(results: dict[str, Any]) -> None:
    write_json(RESULTS, results, indent=1, sort_keys=True)
    atomic_write(TABLES, markdown(results))


def locked():
    """The results file's lock (parallel runners add their runs under it, never losing each other's)."""
    return accuracy.results_lock(RESULTS)


def record_run(key: str, record: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    """Add one finished run to the results on disk (re-read under the lock) and rewrite the tables."""
    with locked():
        results = load()
        results.setdefault("runs", {})[key] = record
        summarise(results, seeds)
        save(results)
    return results


def prepare_two_sources(data_dir: Path) -> None:
    """600 BC5CDR training sentences keeping their Chemical mentions, 200 others keeping their Disease ones."""
    from tokenization import read_source

    folder = accuracy.WORK / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "bc5cdr_disease_200.tsv").is_file():
        return
    examples, _ = read_source({"name": "bc5cdr", "format": "iob", "paths": {"train": "bc5cdr/train.tsv"}},
                              "train", base_dir=data_dir)
    order = list(range(len(examples)))
    random.Random(42).shuffle(order)
    accuracy.write_iob(folder / "bc5cdr_chemical_600.tsv", [examples[i] for i in order[:600]], {"Chemical"})
    accuracy.write_iob(folder / "bc5cdr_disease_200.tsv", [examples[i] for i in order[600:800]], {"Disease"})


def run_one(variant: str, experiment_name: str, seed: int) -> dict[str, Any]:
    import torch

    _, _, overrides, decoding = VARIANTS[variant]
    trained_variant = READS_MODELS.get(variant, variant)
    trains = trained_variant == variant
    experiment, raw = accuracy.experiment_for(EXPERIMENTS[experiment_name],
                                              [*PAPER_OVERRIDES, *overrides, f"training.seed={seed}"])
    accuracy.prepare_data(experiment.base_dir)
    prepare_two_sources(experiment.base_dir)
    folder = WORK / experiment_name / trained_variant / f"seed{seed}"
    started = time.perf_counter()
    training = accuracy.train_srunear(experiment, folder) if trains else None
    dataset, types = test_split(raw, experiment_name, folder)
    predicted, _ = accuracy.predict(folder, dataset, decoding)
    block = accuracy.score(accuracy.gold_of(dataset), predicted, types, nested=experiment_name == "genia")
    record = {"f1": block["f1"], "test": block, "wall_s": time.perf_counter() - started,
              "finished": f"{datetime.now():%Y-%m-%d %H:%M:%S}", "torch_threads": torch.get_num_threads()}
    if training is not None:
        record["training"] = training
        record["steps_to_half_final_dev_f1"] = _steps_to_half(training, experiment)
    return record


def test_split(raw: dict[str, Any], experiment_name: str, folder: Path):
    """The first MAX_TEST test sentences, fitted to the encoder as in training (merged where the source merges)."""
    from transformers import AutoTokenizer

    from srunear.splits import fit_splits, load_split
    from srunear.experiment import experiment_from_dict

    if experiment_name in TEST_SOURCE:  # partially annotated sources: test on the corpus with both types
        name = TEST_SOURCE[experiment_name]
        raw = {**raw, "sources": [{"name": name, "format": "iob", "paths": {"test": f"{name}/test.tsv"}}]}
    experiment = experiment_from_dict(raw, HERE)
    splits = load_split(experiment, "test", accuracy.MAX_TEST)
    tokenizer = AutoTokenizer.from_pretrained(folder / "best")
    limit = json.loads((folder / "best" / "config.json").read_text(encoding="utf-8"))["max_subword_tokens"]
    (data,) = fit_splits(experiment, splits, tokenizer, limit).values()
    return data.dataset, sorted(data.report.type_counts)


def _steps_to_half(training: dict[str, Any], experiment) -> int | None:
    history = training["dev_history"]
    if not history:
        return None
    steps_per_epoch = training["optimizer_steps"] / max(h["epoch"] for h in history)
    final = history[-1]["average_f1"]
    for entry in history:
        if final > 0 and entry["average_f1"] >= final / 2:
            return round(entry["epoch"] * steps_per_epoch)
    return None


def run_key(variant: str, experiment_name: str, seed: int) -> str:
    return f"{variant}/{experiment_name}/seed{seed}"


def summarise(results: dict[str, Any], seeds: list[int]) -> None:
    """The issue's JSON shape: per variant its changes, test F1 per test set (one value per seed) and learning speed."""
    variants = {}
    for variant, (changes, experiments, _, _) in VARIANTS.items():
        f1, speed, speed_by_test_set = {}, [], {}
        for experiment_name in experiments:
            runs = [results["runs"].get(run_key(variant, experiment_name, s)) for s in seeds]
            f1[experiment_name] = [r["f1"] for r in runs if r]
            reads = READS_MODELS.get(variant, variant)
            trained = [results["runs"].get(run_key(reads, experiment_name, s)) for s in seeds]
            speed_by_test_set[experiment_name] = [r.get("steps_to_half_final_dev_f1") for r in trained if r]
            speed += speed_by_test_set[experiment_name]
        variants[variant] = {"changes": changes, "f1": f1, "steps_to_half_final_dev_f1": speed,
                             "steps_to_half_final_dev_f1_by_test_set": speed_by_test_set}
    results["variants"] = variants
    results["seeds"] = seeds
    results["budget"] = {name: f"benchmarks/accuracy/{path}" for name, path in EXPERIMENTS.items()}
    results["budget"]["test_sentences"] = f"the first {accuracy.MAX_TEST} test sentences"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "") if Path("/proc/cpuinfo").is_file() else ""
    results["machine"] = f"{cpu}, {os.cpu_count()} cores, {platform.platform()}"


def _mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f} (1 seed)"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} ({len(values)})"


def paired_differences(results: dict[str, Any], variant: str, base: str, experiment_name: str) -> list[float]:
    """Per seed that both have: F1 of ``variant`` minus F1 of ``base`` on one experiment."""
    runs = results.get("runs", {})
    seeds = sorted({int(k.rsplit("seed", 1)[1]) for k in runs if k.startswith(f"{variant}/{experiment_name}/")})
    return [runs[run_key(variant, experiment_name, s)]["f1"] - runs[run_key(base, experiment_name, s)]["f1"]
            for s in seeds if run_key(base, experiment_name, s) in runs]


def markdown(results: dict[str, Any]) -> str:
    experiments = list(EXPERIMENTS)
    lines = ["# Ablations: the paper's defaults against each deviation", "",
             "Test F1 (strict spans, 0-100), mean ± standard deviation over seeds (number of seeds in brackets);",
             "steps = optimiser steps until dev F1 first reached half its final value. A difference smaller than",
             "the seeds' spread is a tie. Budgets: " + ", ".join(f"`{v}`" for k, v in results.get("budget", {}).items()
                                                               if k != "test_sentences") + f"; {results.get('budget', {}).get('test_sentences', '')}.",
             f"Machine: {results.get('machine', '')}.", "",
             "| variant | changes | " + " | ".join(f"{e} F1" for e in experiments)
             + " | " + " | ".join(f"{e} steps" for e in experiments) + " |",
             "| --- | --- | " + " | ".join("---:" for _ in range(2 * len(experiments))) + " |"]
    for name, variant in results.get("variants", {}).items():
        changes = ", ".join(f"`{k}={v}`" for k, v in variant["changes"].items()) or "(paper defaults)"
        cells = [_mean_std(variant["f1"][e]) if e in variant["f1"] else "" for e in experiments]
        by_set = variant.get("steps_to_half_final_dev_f1_by_test_set", {})
        speeds = [_mean_std([s for s in by_set[e] if s is not None]) if e in by_set else "" for e in experiments]
        lines.append(f"| {name} | {changes} | " + " | ".join(cells) + " | " + " | ".join(speeds) + " |")
    lines += ["", "Decoding-only variants decode the very models of another variant, so they are compared seed by",
              "seed (paired): F1 of the variant minus F1 of the variant whose models it decodes, mean ± std of",
              "those differences; a mean larger than its spread is a win.", "",
              "| variant | decodes the models of | " + " | ".join(f"{e} paired difference" for e in experiments) + " |",
              "| --- | --- | " + " | ".join("---:" for _ in experiments) + " |"]
    for name, base in READS_MODELS.items():
        cells = [_mean_std(paired_differences(results, name, base, e)) if e in VARIANTS[name][1] else ""
                 for e in experiments]
        lines.append(f"| {name} | {base} | " + " | ".join(cells) + " |")
    lines += ["", "Per run (wall time on this machine):", ""]
    for key, run in sorted(results.get("runs", {}).items()):
        lines.append(f"- `{key}`: F1 {run['f1']:.2f}, {run['wall_s'] / 60:.1f} min, finished {run['finished']}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only", nargs="+", choices=sorted(VARIANTS), help="run only these variants")
    parser.add_argument("--experiments", nargs="+", choices=sorted(EXPERIMENTS), help="run only on these experiments")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("SRUNEAR_ACCURACY_THREADS", 2)))
    variants = args.only or list(VARIANTS)
    # trained variants first: decoding-only variants read their models
    order = sorted(variants, key=lambda v: (v in READS_MODELS, list(VARIANTS).index(v)))
    for seed in args.seeds:
        for variant in order:
            for experiment_name in VARIANTS[variant][1]:
                if args.experiments and experiment_name not in args.experiments:
                    continue
                key = run_key(variant, experiment_name, seed)
                if key in load().get("runs", {}):
                    continue
                log(f"{key}: start")
                record = record_run(key, run_one(variant, experiment_name, seed), args.seeds)["runs"][key]
                log(f"{key}: F1 {record['f1']:.2f} in {record['wall_s'] / 60:.1f} min")
    with locked():
        results = load()
        summarise(results, args.seeds)
        save(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
