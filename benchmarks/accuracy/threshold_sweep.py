"""Is a low nested recall a matter of the decoding threshold? A finished job's model tags a split at several.

    python benchmarks/accuracy/threshold_sweep.py JOB [--split dev] [--thresholds 0.6 0.5 0.4 0.3 0.2] [--limit N]
    python benchmarks/accuracy/threshold_sweep.py JOB --record     # GENIA jobs: choose on dev, record test

The nesting probe (`nesting_probe.py`) shows gold nested TRANSITIONs getting probabilities near 0.3,
under the 0.5 threshold. If the model ranks them well but too low, a lower threshold (a setting a user
may change, `config.threshold`) recovers them at little cost in precision; if it ranks them poorly,
nested precision falls as fast as recall rises. JOB is a finished SRU-NER job of `run.py --list` whose
model is in `$SRUNEAR_ACCURACY_WORK/runs/JOB/best`. Choose on dev (the default split) only.

With `--record` (finished GENIA SRU-NER jobs) the threshold of the best dev all-mention F1 is chosen,
the test set is tagged at it, and accuracy.json records both under the job (`dev_threshold`) with the
scores `genia_full.srunear_dev_threshold.all` / `.nested`: a second row of the GENIA table, the
same models decoded at a setting chosen without the test set. The targets stay judged at the default.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import run  # noqa: E402  (jobs, data, prediction, scoring)

DEFAULT_THRESHOLDS = (0.6, 0.5, 0.4, 0.3, 0.2)


def sweep(folder: Path, dataset, types: list[str], thresholds: Sequence[float], nested: bool) -> dict[float, dict[str, Any]]:
    """threshold -> `run.score` block of the model in ``folder/best`` decoding ``dataset`` at that threshold."""
    gold = run.gold_of(dataset)
    return {threshold: run.score(gold, run.predict(folder, dataset, {"threshold": threshold})[0], types, nested=nested)
            for threshold in thresholds}


def table_rows(blocks: dict[float, dict[str, Any]], default: float) -> list[list[str]]:
    """One row per threshold: all-mention P / R / F1, then (nested runs) nested P / R / F1 and nested found."""
    rows = []
    for threshold, block in blocks.items():
        row = [f"{threshold:g}" + (" (default)" if threshold == default else ""),
               *(f"{block[k]:.2f}" for k in ("precision", "recall", "f1"))]
        if "nested" in block:
            row += [*(f"{block['nested'][k]:.2f}" for k in ("precision", "recall", "f1")),
                    f"{block['nested']['recall_any_prediction']:.2f}"]
        rows.append(row)
    return rows


def choose(dev_blocks: dict[float, dict[str, Any]], default: float) -> float:
    """The threshold of the best dev all-mention F1; of equal scores the one nearest the default."""
    return max(dev_blocks, key=lambda t: (round(dev_blocks[t]["f1"], 9), -abs(t - default)))


RECORDED_SUFFIX = "_dev_threshold"


def record_choice(name: str, thresholds: Sequence[float], limit: int | None = None) -> dict[str, Any]:
    """Choose a finished GENIA SRU-NER job's threshold on dev, tag test at it, record both (see the module doc)."""
    import json

    job = run.JOBS.get(name)
    if job is None or job.kind != "srunear" or not job.nested or job.is_sweep:
        raise SystemExit(f"threshold_sweep.py --record: {name!r} is no nested SRU-NER job of the experiments (run.py --list)")
    if run.load_results().get("details", {}).get(name, {}).get("status") != "done":
        raise SystemExit(f"threshold_sweep.py --record: {name} is not done")
    folder = run.job_folder(job)
    if not (folder / "best" / "config.json").is_file():
        raise SystemExit(f"threshold_sweep.py --record: {name}'s model is not at {folder / 'best'} (trained elsewhere?)")
    default = json.loads((folder / "best" / "config.json").read_text(encoding="utf-8"))["threshold"]
    thresholds = check_thresholds([default, *thresholds])  # the choice is weighed against the default
    _, raw = run.experiment_for(job.config)
    ((dev_name, (dev, types)),) = run.test_sets(raw, job.test, limit, split="dev").items()
    ((test_name, (test, test_types)),) = run.test_sets(raw, job.test, limit).items()
    dev_blocks = sweep(folder, dev, types, thresholds, nested=True)
    chosen = choose(dev_blocks, default)
    predicted, _ = run.predict(folder, test, {"threshold": chosen})
    block = run.score(run.gold_of(test), predicted, test_types, nested=True)
    entry = {"default": default, "chosen": chosen,
             "dev": {f"{t:g}": {"f1": b["f1"], "nested_f1": b["nested"]["f1"]} for t, b in dev_blocks.items()},
             "test": {test_name: block}}
    with run.results_lock():
        results = run.load_results()
        details = results["details"][name]
        details["dev_threshold"] = entry
        details["scores"][f"{job.result}{RECORDED_SUFFIX}.all"] = block["f1"]
        details["scores"][f"{job.result}{RECORDED_SUFFIX}.nested"] = block["nested"]["f1"]
        run.save_results(run.aggregate(results))
    run.log(f"{name}: threshold {chosen:g} chosen on {dev_name} dev (F1 {dev_blocks[chosen]['f1']:.2f}); "
            f"test F1 {block['f1']:.2f}, nested {block['nested']['f1']:.2f}")
    return entry


def check_thresholds(thresholds: Sequence[float]) -> list[float]:
    bad = [t for t in thresholds if not 0.0 < t < 1.0]
    if bad:
        raise SystemExit(f"threshold_sweep.py: thresholds are probabilities strictly between 0 and 1, got {bad}")
    return list(dict.fromkeys(thresholds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", help="a finished SRU-NER job (run.py --list)")
    parser.add_argument("--split", default="dev", choices=("dev", "test"), help="choose on dev; test only to report")
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(DEFAULT_THRESHOLDS))
    parser.add_argument("--limit", type=int, default=None, help="the first N sentences only")
    parser.add_argument("--record", action="store_true",
                        help="GENIA jobs: choose on dev, tag test at the choice, record both in accuracy.json")
    args = parser.parse_args(argv)
    thresholds = check_thresholds(args.thresholds)
    if args.record:
        if args.split != "dev":
            parser.error("--record chooses on dev: leave --split out")
        record_choice(args.job, thresholds, args.limit)
        import tables

        tables.write_tables()
        return 0
    job = run.JOBS.get(args.job)
    if job is None or job.kind != "srunear":
        parser.error(f"{args.job!r} is no SRU-NER job of run.py --list (baselines have no threshold; "
                     "single-type jobs hold two models)")
    folder = run.job_folder(job)
    if not (folder / "best" / "config.json").is_file():
        parser.error(f"{args.job}'s model is not at {folder / 'best'} (not finished here, or trained elsewhere)")
    import json

    from srunear.markdown import markdown_table_lines

    default = json.loads((folder / "best" / "config.json").read_text(encoding="utf-8"))["threshold"]
    _, raw = run.experiment_for(job.config)
    header = ["threshold", "P", "R", "F1"] + (["nested P", "nested R", "nested F1", "nested found"] if job.nested else [])
    for name, (dataset, types) in run.test_sets(raw, job.test, args.limit, split=args.split).items():
        blocks = sweep(folder, dataset, types, thresholds, job.nested)
        print(f"\n{args.job}, {name} {args.split} ({len(dataset)} sentences):\n")
        print("\n".join(markdown_table_lines(header, table_rows(blocks, default))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
