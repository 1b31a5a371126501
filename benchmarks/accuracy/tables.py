"""accuracy.md from accuracy.json: the four experiments' tables, the sweep, the targets and every run.

Numbers are means over the seeds finished so far, `mean ± sample std (seeds)`. A difference
smaller than the larger of the two spreads is reported as a tie; a row with one seed has no
spread, so nothing is called a win or a loss on it.
"""

from __future__ import annotations

import statistics
from typing import Any

import run
from report import atomic_write
from srunear.markdown import markdown_table_lines

__all__ = ["compare", "mean_std", "targets", "write_tables"]

GENIA_TYPES = ("DNA", "RNA", "cell_line", "cell_type", "protein")


def mean_std(results: dict[str, Any], key: str) -> str:
    """``key`` as ``mean ± std (n)``, or a dash when no seed has finished."""
    runs = results.get(f"{key}_runs")
    if not runs:
        return "–"
    if len(runs) == 1:
        return f"{runs[0]:.2f} (1 seed)"
    return f"{results[key]:.2f} ± {results[f'{key}_std']:.2f} ({len(runs)})"


def compare(results: dict[str, Any], key: str, other: str) -> tuple[str, float | None]:
    """("better" | "worse" | "tie" | "–", mean difference) of ``key`` against ``other``; a tie when the
    difference is within the larger spread, "–" until both have at least two seeds."""
    a, b = results.get(f"{key}_runs") or [], results.get(f"{other}_runs") or []
    if len(a) < 2 or len(b) < 2:
        return "–", (results[key] - results[other]) if a and b else None
    difference = results[key] - results[other]
    spread = max(results[f"{key}_std"], results[f"{other}_std"])
    return ("tie" if abs(difference) <= spread else "better" if difference > 0 else "worse"), difference


def _mean(values: list[float]) -> str:
    return f"{statistics.mean(values):.2f}" if values else "–"


def _done(results: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Details of the finished jobs ``prefix.seedN``, in seed order."""
    details = results.get("details", {})
    return [details[f"{prefix}.seed{s}"] for s in run.SEEDS if details.get(f"{prefix}.seed{s}", {}).get("status") == "done"]


def _train_minutes(runs: list[dict[str, Any]]) -> str:
    def minutes(d: dict[str, Any]) -> float:
        training = d["training"]
        if "train_s" in training:
            return training["train_s"] / 60
        return sum(t["train_s"] for t in training.values()) / 60  # two single-type models

    if not runs:
        return "–"
    by_machine: dict[str, list[float]] = {}
    for d in runs:  # the machines' times do not mix: a GPU run is many times faster
        by_machine.setdefault("GPU" if d.get("machine", {}).get("gpu") else "CPU", []).append(minutes(d))
    if list(by_machine) == ["CPU"]:
        return f"{statistics.mean(by_machine['CPU']):.0f} min"
    return ", ".join(f"{statistics.mean(values):.0f} min ({kind})" for kind, values in sorted(by_machine.items()))


def _precision_recall(blocks: list[dict[str, Any]]) -> str:
    """Mean precision / recall over the seeds' score blocks; a miss shows which of the two it comes from."""
    if not blocks:
        return "–"
    return f"{_mean([b['precision'] for b in blocks])} / {_mean([b['recall'] for b in blocks])}"


def _nested_breakdown(r: dict[str, Any], systems: list[tuple[str, str, str]]) -> list[str]:
    """GENIA's nested gold mentions by their relation to the enclosing mention: recall as nested spans, and among
    all predicted spans, for the runs that recorded the breakdown (`run.nested_by_relation`)."""
    columns, support = [], {}
    for experiment, system, label in systems:
        blocks = [d["test"]["genia"]["nested"]["by_relation"] for d in _done(r, f"{experiment}.{system}")
                  if "by_relation" in d["test"]["genia"]["nested"]]
        if blocks and system != "baseline_outermost":  # the outermost baseline predicts no nested span
            columns.append((f"{label} ({len(blocks)} run{'s' * (len(blocks) > 1)})", blocks))
            for block in blocks:
                support.update({key: row["support"] for key, row in block.items()})
    if not columns:
        return []
    rows = []
    for key in support:
        cells = []
        for _, blocks in columns:
            found = [b[key] for b in blocks if key in b]
            cells.append(f"{_mean([f['recall'] for f in found])} / {_mean([f['recall_any_prediction'] for f in found])}")
        rows.append([key, str(support[key]), *cells])
    return ["Nested gold mentions of the test set by where they lie in their innermost enclosing gold mention, and "
            "whether the two share a type: recall as nested spans / among all predicted spans (%). A same-type pair "
            "sharing an end needs two REDUCE steps at one pointer, sharing a start two TRANSITION steps; the per-type "
            "baseline cannot nest two mentions of one type.", "",
            *markdown_table_lines(["relation", "gold", *(label for label, _ in columns)], rows), ""]


def _dev_threshold_rows(r: dict[str, Any], prefix: str) -> list[list[str]]:
    """The same SRU-NER models decoded at the threshold each chose on dev (`run.dev_threshold_choice`)."""
    chosen = [d["dev_threshold"] for d in _done(r, prefix) if "dev_threshold" in d]
    if not chosen:
        return []
    thresholds = ", ".join(f"{c['chosen']:g}" for c in chosen)
    dev = "; ".join("{:.1f} (at {:g}: {:.1f})".format(c["dev"][f"{c['chosen']:g}"]["f1"], c["default"],
                                                      c["dev"][f"{c['default']:g}"]["f1"]) for c in chosen)
    key = f"{prefix}_dev_threshold"
    return [[f"SRU-NER, threshold chosen on dev ({thresholds})", mean_std(r, f"{key}.all"), mean_std(r, f"{key}.nested"),
             *_genia_cells([c["test"]["genia"] for c in chosen]), "the same models", f"dev F1 at the choice: {dev}"]]


def _genia_cells(blocks: list[dict[str, Any]]) -> list[str]:
    """Nested P / R, nested found and per-type F1 of GENIA test blocks, averaged over the runs."""
    nested = [b["nested"] for b in blocks]
    return [_precision_recall(nested), _mean([b["recall_any_prediction"] for b in nested]),
            *(_mean([b["per_type"].get(t, {}).get("f1", 0.0) for b in blocks]) for t in GENIA_TYPES)]


def _dev_curve(runs: list[dict[str, Any]]) -> str:
    """Mean dev F1 per epoch over the seeds (the last three epochs), to show where it stopped improving."""
    curves = []
    for d in runs:
        training = d["training"]
        if "dev_history" in training:
            curves.append([h["average_f1"] for h in training["dev_history"]])
        elif "history" in training:
            curves.append([h["dev_f1"] for h in training["history"]])
    if not curves:
        return "–"
    length = min(len(c) for c in curves)
    means = [statistics.mean(c[i] for c in curves) for i in range(length)]
    return " → ".join(f"{m:.1f}" for m in means[-3:]) + f" (epochs {max(1, length - 2)}-{length})"


def _label_mask_row(r: dict[str, Any], result: str, label: str) -> list[str]:
    """One system of the label-mask table: test F1 over seeds, P / R, per-type F1, train time, dev curve."""
    done = _done(r, result)
    per_type = [_mean([d["test"]["bc5cdr"]["per_type"].get(t, {}).get("f1", 0.0) for d in done])
                for t in ("Chemical", "Disease")]
    return [label, mean_std(r, f"{result}.bc5cdr"), _precision_recall([d["test"]["bc5cdr"] for d in done]),
            *per_type, _train_minutes(done), _dev_curve(done)]


def _label_mask_gaps(r: dict[str, Any]) -> str:
    """Seed 1's masked-minus-full test F1 at both budgets, once the budget check has both runs."""
    def seed1(result: str) -> float | None:
        runs = _done(r, result)
        return runs[0]["scores"][f"{result}.bc5cdr"] if runs and runs[0].get("seed") == 1 else None

    gaps = []
    for prefix, epochs in (("label_mask", 10), (run.LABEL_MASK_BUDGET_CHECK, 20)):
        masked, full = seed1(f"{prefix}.masked"), seed1(f"{prefix}.full")
        if masked is None or full is None:
            return ""
        gaps.append(f"{masked - full:+.2f} at {epochs} epochs")
    return f" Seed 1, masked minus full labels: {gaps[0]}, {gaps[1]}."


def _label_mask_shares(r: dict[str, Any]) -> str:
    """The masked model's gap to full labels in two parts (means over the seeds): what the halved annotations cost,
    which two single-type models trained on the same annotations show, and what one shared model costs beyond it."""
    masked, single, full = (r.get(f"label_mask.{system}.bc5cdr") for system in ("masked", "single_type", "full"))
    if masked is None or single is None or full is None:
        return ""
    return (f" Of the masked model's {masked - full:+.2f} to full labels (means), {single - full:+.2f} is the halved "
            f"annotations' (two single-type models trained on the same annotations, (c)) and {masked - single:+.2f} "
            "the one shared model's ((a) minus (c)).")


def _projection_choice(r: dict[str, Any]) -> str:
    """Seed 1 of the masked model at each projection coefficient: best dev F1, the coefficient dev chooses, and its
    test F1 against the default's (once every run is done)."""
    runs = {1.0: "label_mask.masked", **{c: f"{run.projection_name(c)}.masked" for c in run.PROJECTION_COEFFICIENTS}}
    done = {c: [d for d in _done(r, result) if d.get("seed") == 1] for c, result in runs.items()}
    if not all(done.values()):
        return ""
    seed1 = {c: (d[0]["training"]["best_dev_f1"], d[0]["scores"][f"{runs[c]}.bc5cdr"]) for c, d in done.items()}
    chosen = max(seed1, key=lambda c: (round(seed1[c][0], 9), -c))  # of equal dev F1 the smaller coefficient
    dev = ", ".join(f"{c:g}: {dev_f1:.2f}" for c, (dev_f1, _) in seed1.items())
    test = ", ".join(f"{c:g}: {test_f1:.2f}" for c, (_, test_f1) in seed1.items())
    verdict = "the default" if chosen == 1.0 else f"against the default's {seed1[1.0][0]:.2f}"
    return (f" Projection coefficient (seed 1), best dev F1 — {dev}; chosen on dev: {chosen:g} ({verdict}). Test F1, "
            f"reported only — {test} (one seed: a hint, not a result).")


def targets(r: dict[str, Any]) -> list[list[str]]:
    """The issue's four targets: what was measured and whether it is met (or not yet measured)."""
    rows = []
    baselines = [k for k in ("genia_full.baseline_outermost.all", "genia_full.baseline_per_type.all") if k in r]
    if "genia_full.srunear.all" in r and baselines:
        better = max(baselines, key=lambda k: r[k])
        margin = r["genia_full.srunear.all"] - r[better]
        rows.append(["GENIA all-mention F1 ≥ better flat baseline + 2",
                     f"{mean_std(r, 'genia_full.srunear.all')} vs {mean_std(r, better)} ({better.split('.')[1]}): "
                     f"{margin:+.2f}", _status(r, margin >= 2, "genia_full.srunear.all", better)])
    if "genia_full.srunear.nested" in r:
        rows.append(["GENIA nested-mention F1 ≥ 40", mean_std(r, "genia_full.srunear.nested"),
                     _status(r, r["genia_full.srunear.nested"] >= 40, "genia_full.srunear.nested")])
    for corpus in ("ncbi_disease", "bc5cdr"):
        rows += _versus(r, f"{corpus}: SRU-NER within spread of the BIO baseline or above",
                        f"flat_full.srunear.{corpus}", f"flat_full.baseline.{corpus}", must_win=False)
    m, u, f = "label_mask.masked.bc5cdr", "label_mask.unmasked.bc5cdr", "label_mask.full.bc5cdr"
    if m in r and u in r:
        rows.append(["label masks: masked ≥ unmasked + 10", f"{mean_std(r, m)} vs {mean_std(r, u)}: {r[m] - r[u]:+.2f}",
                     _status(r, r[m] - r[u] >= 10, m, u)])
    if m in r and f in r:
        rows.append(["label masks: masked within 5 of full labels", f"{mean_std(r, m)} vs {mean_std(r, f)}: {r[m] - r[f]:+.2f}",
                     _status(r, r[m] >= r[f] - 5, m, f)])
    rows += _versus(r, "multi-task: joint ≥ single-corpus models, in-domain average", "multitask.joint.average",
                    "multitask.single.average", must_win=False)
    rows += _versus(r, "multi-task: joint better on BioRED, average of four types", "crosscorpus.joint.biored.average",
                    "crosscorpus.single.biored.average", must_win=True)
    return rows


def _status(r: dict[str, Any], met: bool, *keys: str) -> str:
    """A threshold target's verdict, judged (as `compare` judges) once every key has at least two seeds."""
    if any(len(r.get(f"{key}_runs") or []) < 2 for key in keys):
        return "–"
    return "met" if met else "missed"


def _versus(r: dict[str, Any], target: str, key: str, other: str, must_win: bool) -> list[list[str]]:
    """A target row comparing two keys: met when ``key`` is better (``must_win``) or not worse (a tie counts)."""
    if key not in r or other not in r:
        return []
    verdict, difference = compare(r, key, other)
    met = verdict == "better" if must_win else verdict != "worse"
    return [[target, f"{mean_std(r, key)} vs {mean_std(r, other)} ({verdict}, {difference:+.2f})",
             "–" if verdict == "–" else "met" if met else "missed"]]


def _sweep_rows(scores: dict[str, float], rates: tuple[float, ...], chosen: float | None) -> list[str]:
    cells = [f"{scores[run.lr_name(lr)]:.2f}" if run.lr_name(lr) in scores else "–" for lr in rates]
    return [*cells, run.lr_name(chosen) if chosen is not None else "–"]


def _sweep_lines(r: dict[str, Any]) -> list[str]:
    sweep = r.get("details", {}).get("sweep", {})
    rows = [[group, *_sweep_rows(entry["dev_f1"], run.SWEEP_LRS, entry.get("chosen"))] for group, entry in sweep.items()]
    lines = markdown_table_lines(["system", *(f"lr {run.lr_name(lr)}" for lr in run.SWEEP_LRS), "chosen"], rows)
    rows = [[group, run.lr_name(entry["chosen"]) if entry.get("chosen") is not None else "–",
             *_sweep_rows(entry["decoder_dev_f1"], run.SWEEP_DECODER_LRS, entry.get("decoder_chosen"))]
            for group, entry in sweep.items() if "decoder_dev_f1" in entry]
    if rows:
        lines += ["", f"SRU-NER's decoder rate, tried at the encoder rate chosen above (the experiment files' "
                  f"{run.lr_name(run.FILE_DECODER_LR)} is the first stage's run):", "",
                  *markdown_table_lines(["system", "encoder lr", *(f"decoder lr {run.lr_name(lr)}"
                                                                    for lr in run.SWEEP_DECODER_LRS), "chosen"], rows)]
    return lines


def _rates_cell(d: dict[str, Any]) -> str:
    """A run's encoder (and decoder) rate; SRU-NER runs recorded before the decoder sweep used the files' rate."""
    if "encoder_learning_rate" not in d:
        return "–"
    decoder = d.get("decoder_learning_rate", None if d.get("kind") == "baseline" else run.FILE_DECODER_LR)
    return run.lr_name(d["encoder_learning_rate"]) + ("" if decoder is None else f" / {run.lr_name(decoder)}")


def _budget(config: str) -> str:
    import yaml

    raw = yaml.safe_load((run.HERE / config).read_text(encoding="utf-8"))
    t = raw.get("training", {})
    parts = [f"{t.get('epochs')} epochs", f"batch {t.get('batch_size')}"]
    if t.get("steps_per_epoch"):
        parts.append(f"{t['steps_per_epoch']} steps per epoch")
    if t.get("max_eval_examples"):
        which = "evenly spaced over the split" if t.get("eval_subset") == "spread" else "the first ones"
        parts.append(f"dev: {t['max_eval_examples']} sentences per source, {which}")
    else:
        parts.append("dev: the whole split")
    if t.get("max_train_examples"):
        parts.append(f"at most {t['max_train_examples']} training sentences per source")
    return f"`{config}`: " + ", ".join(parts)


def _machine_cell(machine: dict[str, Any]) -> str:
    if not machine:
        return "–"
    cpu = f"{machine.get('cpu', '–')}, {machine.get('torch_threads', '–')} thread(s)"
    return f"{machine['gpu']} (GPU), {cpu}" if machine.get("gpu") else cpu


def markdown(r: dict[str, Any]) -> str:
    lines = ["# Accuracy at scale", "",
             "Written by `benchmarks/accuracy/run.py` after every run from `benchmarks/results/accuracy.json`. Test F1 "
             "(strict span match, 0-100), `mean ± sample std (seeds)` over the seeds finished so far; a dash: not "
             "finished yet. A difference within the larger spread is a tie. Encoder: MiniLM (all-MiniLM-L6-v2); "
             "machines: a 2-core CPU machine (two runs at a time, one torch thread each) and, for the runs the runs "
             "table marks (GPU), one H100 shared by up to ten runs, in full precision as on the CPU; training times "
             "are indicative and compare only within a machine. Every row reruns with `python benchmarks/accuracy/run.py --resume --only JOB` "
             "(`--list` names the jobs); the experiment files also run alone with `train.py` / `baseline.py`.", ""]
    rows = targets(r)
    if rows:
        lines += ["## Targets", "", *markdown_table_lines(["target", "measured", "status"], rows), ""]
    lines += ["## Learning-rate sweep (dev F1, seed 1)", "",
              f"Each system's encoder learning rate is chosen on dev: {', '.join(run.SWEEP_OVERRIDES)} "
              "(NCBI-Disease for the flat systems, GENIA for the nested ones), best dev F1 of the epochs; of equal "
              "scores the smaller rate. SRU-NER's decoder rate is chosen the same way, at the chosen encoder rate; "
              "the baselines have one rate for all their weights. The flat SRU-NER rates serve the label-mask and "
              "multi-task runs too.", "", *_sweep_lines(r), ""]

    lines += ["## 1. Nested NER: GENIA (whole train/dev/test)", "", _budget("genia_full.yaml") + ". *Nested*: F1 over "
              "the gold spans inside another gold span against the predicted spans inside another predicted span; *nested found*: "
              "the recall of those gold spans among all predicted spans, nested or not. The "
              "outermost baseline learns outermost mentions only (nested F1 0 by construction); the per-type baseline "
              "has one BIO softmax per type, so mentions of different types may nest. The first budget, 5 epochs, was "
              "left when SRU-NER's dev F1 still rose 4.8 points in its fourth epoch (its seed-1 runs are two rows "
              "below); the budget check trains the per-type baseline's seed 1 twice as long (last row). *Threshold chosen on dev*: the same SRU-NER models decoded at the threshold of their best dev "
              "F1, which each job chooses after training (`run.dev_threshold_choice`); the targets are judged at the "
              "default.", ""]
    header = ["system", "all F1", "nested F1", "nested P / R", "nested found", *(f"{t} F1" for t in GENIA_TYPES),
              "train time / run", "dev F1, last epochs"]
    rows = []
    systems = [("genia_full", "srunear", "SRU-NER"), ("genia_full", "baseline_outermost", "BIO, outermost mentions"),
               ("genia_full", "baseline_per_type", "BIO, one head per type"),
               (run.PILOT, "srunear", "SRU-NER, first budget: 5 epochs"),
               (run.PILOT, "baseline_outermost", "BIO outermost, first budget: 5 epochs"),
               (run.GENIA_BUDGET_CHECK, "baseline_per_type", "BIO per type, budget check: 20 epochs")]
    for experiment, system, label in systems:
        prefix = f"{experiment}.{system}"
        done = _done(r, prefix)
        rows.append([label, mean_std(r, f"{prefix}.all"), mean_std(r, f"{prefix}.nested"),
                     *_genia_cells([d["test"]["genia"] for d in done]), _train_minutes(done), _dev_curve(done)])
        if system == "srunear" and experiment == "genia_full":
            rows += _dev_threshold_rows(r, prefix)
    lines += [*markdown_table_lines(header, rows), ""]
    lines += _nested_breakdown(r, systems)

    lines += ["## 2. Flat NER: whole NCBI-Disease and BC5CDR training sets", "",
              _budget("flat_full_ncbi_disease.yaml") + " (the same for BC5CDR); test: the whole test split.", ""]
    rows = []
    for corpus in ("ncbi_disease", "bc5cdr"):
        s, b = f"flat_full.srunear.{corpus}", f"flat_full.baseline.{corpus}"
        verdict, difference = compare(r, s, b) if s in r and b in r else ("–", None)
        rows.append([corpus, mean_std(r, s), mean_std(r, b), f"{verdict}" + (f" ({difference:+.2f})" if difference is not None else ""),
                     _train_minutes(_done(r, s)), _train_minutes(_done(r, b)), _dev_curve(_done(r, s)), _dev_curve(_done(r, b))])
    for corpus in ("ncbi_disease", "bc5cdr"):
        s, b = f"{run.BUDGET_CHECK}.srunear.{corpus}", f"{run.BUDGET_CHECK}.baseline.{corpus}"
        rows.append([f"{corpus}, budget check: 10 epochs", mean_std(r, s), mean_std(r, b),
                     f"({r[s] - r[b]:+.2f}, one seed)" if s in r and b in r else "–",
                     _train_minutes(_done(r, s)), _train_minutes(_done(r, b)), _dev_curve(_done(r, s)), _dev_curve(_done(r, b))])
    lines += [*markdown_table_lines(["corpus", "SRU-NER", "BIO baseline", "SRU-NER vs baseline", "train SRU-NER",
                                     "train baseline", "dev curve SRU-NER", "dev curve baseline"], rows), "",
              "The budget check trains seed 1 of both systems twice as long: with the learning rate decaying linearly "
              "to zero, dev F1 rises in the last epochs of any budget, so the check asks whether twice the budget moves "
              "the comparison beyond the seeds' spread.", ""]

    lines += ["## 3. Label masks: BC5CDR split into a Chemical-only half and a Disease-only half", "",
              f"{run.LABEL_MASK_SENTENCES} BC5CDR training sentences (drawn with seed 42), even positions → half A "
              "(Chemical tags only), odd → half B (Disease tags only). " + _budget("label_mask.yaml") + ". (c) trains "
              "one model per half (each half the steps). Test: the whole BC5CDR test split, both types.", ""]
    rows = []
    for system, label in (("masked", "(a) one model, A + B, label masks"),
                          ("unmasked", "(b) one model, A + B, no masks"),
                          ("single_type", "(c) two single-type models, predictions merged"),
                          ("full", "(d) one model, the same sentences with both types")):
        rows.append(_label_mask_row(r, f"label_mask.{system}", label))
    for system, label in (("masked", "(a) label masks, budget check: 20 epochs"),
                          ("full", "(d) full labels, budget check: 20 epochs")):
        rows.append(_label_mask_row(r, f"{run.LABEL_MASK_BUDGET_CHECK}.{system}", label))
    for coefficient in run.PROJECTION_COEFFICIENTS:
        rows.append(_label_mask_row(r, f"{run.projection_name(coefficient)}.masked",
                                    f"(a) label masks, projection coefficient {coefficient:g}"))
    lines += [*markdown_table_lines(["system", "F1", "P / R", "Chemical F1", "Disease F1", "train time / run",
                                     "dev F1, last epochs"], rows), "",
              "The budget check trains seed 1 of (a) and (d) twice as long: at 10 epochs the masked model's dev F1 "
              "still rose more in its last epochs than full labels' (their dev curves above)." + _label_mask_gaps(r)
              + _label_mask_shares(r) + _projection_choice(r), ""]

    lines += ["## 4. Multi-task: one model on five corpora against one model per corpus, equal optimiser steps", "",
              _budget("multitask.yaml") + "; whole training sets (JNLPBA: its dev.tsv minus 22 held-out abstracts, "
              "178 sentences; read as single sentences); the joint model with the paper's per-source heads and "
              "uniform sampling. In-domain: the whole test split of each corpus on its own types. The last columns are "
              "the first budget, 8 epochs (1,000 steps), seed 1: those runs chose their epoch on the *first* 300 dev "
              "sentences of each corpus, before `eval_subset: spread` (LINNAEUS's are one paper, on which the joint "
              "model's dev F1 stayed near 0).", ""]
    pilot = f"{run.MULTITASK_PILOT}.joint"
    pilot_cross = run.crosscorpus_prefix(pilot)
    pilot_head = "joint model, first budget: 1,000 steps"
    share = f"{run.MULTITASK_SHARE}.single"
    rows = [[name, mean_std(r, f"multitask.joint.{name}"), mean_std(r, f"multitask.single.{name}"),
             mean_std(r, f"{share}.{name}"), mean_std(r, f"{pilot}.{name}"),
             mean_std(r, f"{run.MULTITASK_PILOT}.single.{name}")]
            for name in run.MULTITASK_SOURCES]
    rows.append(["**average**", mean_std(r, "multitask.joint.average"), mean_std(r, "multitask.single.average"),
                 mean_std(r, f"{share}.average"), mean_std(r, f"{pilot}.average"), "–"])
    lines += [*markdown_table_lines(["corpus", "joint model", "single-corpus model",
                                     "single-corpus model at the joint model's share: 1,000 steps", pilot_head,
                                     "single-corpus model, first budget"], rows), "",
              "The third column is the budget's part of the in-domain gap: uniform sampling gives each corpus a fifth "
              "of the joint model's 5,000 steps, so each single-corpus model is also trained for 1,000 steps (8 epochs, "
              "seed 1, its epoch chosen on the same dev sample as the 40-epoch runs). A joint model above that column "
              "gains from the other corpora; one below it loses to them.", "",
              f"Dev F1 (average over the sources), last epochs: joint model {_dev_curve(_done(r, 'multitask.joint'))}; "
              f"at the first budget {_dev_curve(_done(r, pilot))}. At 1,000 steps the joint model's dev F1 still rose "
              "in its last epochs, each corpus having had a fifth of the steps; seed 1 at 5,000 steps decided the "
              "budget.", "",
              "Cross-corpus, BioRED test (100 abstracts, raw text through `pipeline(\"srunear-ner\")`, character offsets, "
              "`benchmarks/accuracy/crosscorpus.py`). For each type the single-corpus model is the one, of those that "
              "know the type, with the best BioRED *dev* F1 on it (chosen per seed; the models picked are listed).", ""]
    picks = {s: run.biored_single_picks(r, s) for s in run.SEEDS}
    rows = []
    for entity_type in run.biored_types():
        chosen = sorted({p[entity_type]["model"] for p in picks.values() if entity_type in p})
        rows.append([entity_type, mean_std(r, f"crosscorpus.joint.biored.{entity_type}"),
                     mean_std(r, f"crosscorpus.single.biored.{entity_type}"), ", ".join(chosen) or "–",
                     mean_std(r, f"{pilot_cross}.biored.{entity_type}")])
    rows.append(["**average**", mean_std(r, "crosscorpus.joint.biored.average"),
                 mean_std(r, "crosscorpus.single.biored.average"), "", mean_std(r, f"{pilot_cross}.biored.average")])
    lines += [*markdown_table_lines(["BioRED type", "joint model", "best single-corpus model", "single model(s) picked",
                                     pilot_head], rows), ""]

    lines += ["## Runs", "", "Training time (all epochs, across interruptions) and machine of every run; `details` of "
              "accuracy.json also has each run's wall time, prediction times and dev curve.", ""]
    rows = []
    details = r.get("details", {})
    for name in run.JOBS:
        d = details.get(name)
        if not d:
            continue
        machine = d.get("machine", {})
        rows.append([name, d.get("status"), _rates_cell(d),
                     _train_minutes([d]) if "training" in d else "–", _dev_curve([d]) if "training" in d else "–",
                     _machine_cell(machine),
                     d.get("finished", "–")])
    lines += markdown_table_lines(["job", "status", "encoder / decoder lr", "training time", "dev F1, last epochs", "machine",
                                   "finished"], rows)
    return "\n".join(lines) + "\n"


def write_tables() -> None:
    atomic_write(run.TABLES, markdown(run.load_results()))
