"""Is a low nested recall a matter of the decoding threshold? A finished job's model tags a split at several.

    python benchmarks/accuracy/threshold_sweep.py JOB [--split dev] [--thresholds T ...] [--limit N]
    python benchmarks/accuracy/threshold_sweep.py JOB --record     # GENIA jobs finished before run.py chose

The nesting probe (`nesting_probe.py`) shows gold nested TRANSITIONs getting probabilities near 0.3,
under the 0.5 threshold. If the model ranks them well but too low, a lower threshold (a setting a user
may change, `config.threshold`) recovers them at little cost in precision; if it ranks them poorly,
nested precision falls as fast as recall rises. JOB is a finished SRU-NER job of `run.py --list` whose
model is in `$SRUNEAR_ACCURACY_WORK/runs/JOB/best`. Choose on dev (the default split) only.

Every GENIA SRU-NER job of run.py also chooses its threshold on dev (best all-mention F1,
`run.dev_threshold_choice`), tags the test set at it, and records both under the job (`dev_threshold`)
with the scores `genia_full.srunear_dev_threshold.all` / `.nested`: a second row of the GENIA table,
the same models decoded at a setting chosen without the test set. The targets stay judged at the
default. `--record` does the same for a job that finished before run.py did it.
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


def record_choice(name: str, thresholds: Sequence[float], limit: int | None = None) -> dict[str, Any]:
    """`run.dev_threshold_choice` for a GENIA SRU-NER job that finished before run.py made it, recorded in
    accuracy.json with its scores (the job's own scores stay)."""
    job = run.finished_nested_srunear(name, "threshold_sweep.py --record")
    _, raw = run.experiment_for(job.config)
    entry = run.dev_threshold_choice(job, raw, check_thresholds(thresholds), limit)
    with run.results_lock():
        results = run.load_results()
        details = results["details"][name]
        details["dev_threshold"] = entry
        details["scores"] = run.job_scores(job, details)
        run.save_results(run.aggregate(results))
    ((test_name, block),) = entry["test"].items()
    chosen = entry["chosen"]
    run.log(f"{name}: threshold {chosen:g} chosen on dev (F1 {entry['dev'][f'{chosen:g}']['f1']:.2f}); "
            f"{test_name} test F1 {block['f1']:.2f}, nested {block['nested']['f1']:.2f}")
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
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(run.DEV_THRESHOLDS))
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
        blocks = run.decode_at_thresholds(folder, dataset, types, thresholds, job.nested)
        print(f"\n{args.job}, {name} {args.split} ({len(dataset)} sentences):\n")
        print("\n".join(markdown_table_lines(header, table_rows(blocks, default))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
