"""The accuracy benchmarks' scoring and tables: the parts of the long runs that run after hours of training."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from modeling_srunear import SRUNERConfig
from tests.helpers import REPO_ROOT

ACCURACY = REPO_ROOT / "benchmarks" / "accuracy"
MODULES = ("run", "ablations", "tables", "baseline", "crosscorpus", "nesting_probe", "threshold_sweep", "offline_machine")


@pytest.fixture()
def accuracy(monkeypatch, tmp_path):
    """benchmarks/accuracy/run.py and ablations.py, with their results and work folders in tmp_path."""
    monkeypatch.setenv("SRUNEAR_ACCURACY_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SRUNEAR_ACCURACY_RESULTS", str(tmp_path / "accuracy.json"))
    monkeypatch.setenv("SRUNEAR_ABLATION_RESULTS", str(tmp_path / "ablations.json"))
    monkeypatch.syspath_prepend(str(ACCURACY))
    monkeypatch.syspath_prepend(str(ACCURACY.parent))
    for name in MODULES:
        sys.modules.pop(name, None)
    run = importlib.import_module("run")
    ablations = importlib.import_module("ablations")
    yield run, ablations
    for name in MODULES:
        sys.modules.pop(name, None)


def test_score_gives_micro_per_type_and_nested_blocks(accuracy):
    run, _ = accuracy
    gold = [[(0, 3, "DNA"), (1, 2, "Protein")], [(0, 1, "Protein")]]
    predicted = [[(0, 3, "DNA"), (1, 2, "Protein")], [(0, 2, "Protein")]]
    block = run.score(gold, predicted, ["DNA", "Protein"], nested=True)
    assert block["precision"] == pytest.approx(200 / 3)
    assert block["recall"] == pytest.approx(200 / 3)
    assert block["per_type"]["DNA"] == {"precision": 100.0, "recall": 100.0, "f1": 100.0, "support": 1}
    assert block["per_type"]["Protein"]["f1"] == pytest.approx(50.0)
    assert block["nested"]["support"] == 1 and block["nested"]["f1"] == pytest.approx(100.0)


def test_nested_recall_is_broken_down_by_the_relation_to_the_innermost_enclosing_mention(accuracy):
    run, _ = accuracy
    gold = [[(0, 5, "DNA"), (0, 2, "protein"), (3, 5, "DNA"), (4, 5, "DNA"), (1, 2, "protein")],
            [(0, 3, "protein"), (0, 3, "DNA"), (1, 2, "RNA")]]
    # (1, 2) lies in (0, 2) (its innermost parent: same end, same type), not in (0, 5); (4, 5) in (3, 5)
    assert run.nested_relation((1, 2, "protein"), set(gold[0])) == ("same end", "same type")
    assert run.nested_relation((4, 5, "DNA"), set(gold[0])) == ("same end", "same type")
    assert run.nested_relation((0, 2, "protein"), set(gold[0])) == ("same start", "other type")
    assert run.nested_relation((1, 2, "RNA"), set(gold[1])) == ("strictly inside", "other type")
    assert run.nested_relation((0, 3, "DNA"), set(gold[1])) == ("same boundaries", "other type")
    predicted = [[(0, 5, "DNA"), (0, 2, "protein"), (4, 5, "DNA")],  # (4, 5) nested (in another parent: counts)
                 [(0, 3, "DNA"), (1, 2, "RNA")]]
    breakdown = run.nested_by_relation(gold, predicted)
    assert list(breakdown) == ["same start, other type", "same end, same type", "strictly inside, other type",
                               "same boundaries, other type"]  # NESTED_RELATIONS order, both identical spans counted
    assert breakdown["same end, same type"] == {"support": 3, "recall": pytest.approx(100 / 3),
                                                "recall_any_prediction": pytest.approx(100 / 3)}
    assert breakdown["same start, other type"] == {"support": 1, "recall": 100.0, "recall_any_prediction": 100.0}
    assert breakdown["strictly inside, other type"]["recall"] == 100.0
    assert breakdown["same boundaries, other type"] == {"support": 2, "recall": 0.0, "recall_any_prediction": 50.0}
    assert run.score(gold, predicted, ["DNA", "RNA", "protein"], nested=True)["nested"]["by_relation"] == breakdown


def test_the_nesting_probe_groups_gold_actions_by_what_is_open_and_the_step_at_the_pointer(accuracy, tokenizer):
    from modeling_srunear import SRUNERModel
    from modeling_srunear.transition_system import ActionVocabulary, encode_spans
    from tests.helpers import tiny_config

    probe = importlib.import_module("nesting_probe")
    vocab = ActionVocabulary(("DNA", "protein"))
    # a DNA mention holding a protein at its start and a DNA mention at its end
    steps = encode_spans([(0, 4, "DNA"), (0, 1, "protein"), (3, 4, "DNA")], 5, vocab)
    contexts = {(vocab.name(a), c) for _, a, c in probe.gold_action_contexts(steps, vocab)}
    assert ("TRANSITION(DNA)", "TRANSITION, no span open") in contexts
    assert ("TRANSITION(protein)", "TRANSITION, no span open") in contexts  # one step: nothing open before it
    assert ("TRANSITION(DNA)", "TRANSITION, a span of its head open") in contexts  # (3, 4) inside (0, 4)
    assert ("REDUCE(protein)", "REDUCE, the only open span of its head") in contexts
    assert ("REDUCE(DNA)", "REDUCE, one of several open spans of its head") in contexts
    # two DNA spans close at pointer 4: the second REDUCE is a later step there
    assert ("REDUCE(DNA)", "REDUCE, a later structural step at the pointer") in contexts
    assert ("REDUCE(DNA)", "REDUCE, the only open span of its head") in contexts
    found = probe.gold_action_contexts(steps, vocab)
    assert len(found) == 2 * 6 and {c for _, _, c in found} <= set(probe.CONTEXTS)  # 3 spans: 6 actions, 2 contexts each

    model = SRUNERModel(tiny_config())
    examples = [{"tokens": "the BRCA1 gene of mice".split(), "source": "all",
                 "spans": [{"start": 1, "end": 3, "type": "Gene"}, {"start": 1, "end": 2, "type": "Gene"}]},
                {"tokens": "aspirin".split(), "source": "all", "spans": [{"start": 0, "end": 1, "type": "Chemical"}]}]
    table = probe.probe(model, tokenizer, examples, batch_size=1)
    assert table["TRANSITION, no span open"]["gold_actions"] == 2
    assert table["TRANSITION, a later structural step at the pointer"]["gold_actions"] == 1  # the second Gene at 1
    assert "REDUCE, a later structural step at the pointer" not in table  # (1, 2) and (1, 3) close at two pointers
    assert table["REDUCE, one of several open spans of its head"]["gold_actions"] == 1  # (1, 2), while (1, 3) is open
    assert sum(r["gold_actions"] for c, r in table.items() if c.endswith("at the pointer")) == 6
    assert all(0.0 <= r["mean_probability"] <= 1.0 and 0.0 <= r["share_over_threshold"] <= 1.0 for r in table.values())

    # before each step: DNA+protein open at 0, protein closed, DNA opened at 3, both DNA closed at 4, SHIFT, EOA
    assert probe.open_counts(steps, vocab) == [[0, 0], [1, 1], [1, 1], [1, 0], [1, 0], [1, 0], [2, 0], [2, 0], [1, 0],
                                               [0, 0], [0, 0]]
    sentences = probe.decoder_states(model, tokenizer, examples)
    assert [len(states) for states, _ in sentences] == [10, 4]  # one MLP input per teacher-forced step
    # heads Gene, Disease, Chemical: SHIFT, two Gene openings at BRCA1, SHIFT, REDUCE, SHIFT, REDUCE, SHIFT x2, EOA
    assert [c[0] for c in sentences[0][1]] == [0, 0, 1, 2, 2, 1, 1, 0, 0, 0]
    assert sentences[1][1] == [[0, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]]  # aspirin: TRANSITION, SHIFT, REDUCE, EOA
    assert all(states.shape[1] == 2 * model.config.encoder_config.hidden_size for states, _ in sentences)
    assert model.config.decoder_implementation == "incremental"  # restored after the reference decoder's run
    more = examples + [{**examples[0], "tokens": "a BRCA1 gene in man".split()}] * 2
    states = probe.state_probe(model, tokenizer, more)  # fitted on 3 sentences, scored on the last
    assert list(states) == ["any span open", "a span of Gene open", "a span of Disease open", "a span of Chemical open"]
    assert states["any span open"]["steps"] == 10 and states["any span open"]["share_open"] == pytest.approx(0.5)
    assert states["a span of Disease open"]["majority"] == 1.0  # never open: nothing to recall
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["majority"] >= 0.5 for r in states.values())


def test_the_threshold_sweep_decodes_at_each_threshold_and_scores_against_gold(accuracy, monkeypatch, tmp_path, capsys):
    import datasets

    run, _ = accuracy
    sweep = importlib.import_module("threshold_sweep")
    dataset = datasets.Dataset.from_list([{"tokens": ["IL-2", "gene"], "spans": [
        {"start": 0, "end": 2, "type": "DNA"}, {"start": 0, "end": 1, "type": "protein"}]}])
    tagged = {0.5: [[(0, 2, "DNA")]], 0.3: [[(0, 2, "DNA"), (0, 1, "protein"), (1, 2, "protein")]]}
    asked = []

    def fake_predict(folder, data, decoding=None):
        asked.append((folder, decoding))
        return tagged[decoding["threshold"]], 0.0

    monkeypatch.setattr(run, "predict", fake_predict)
    blocks = run.decode_at_thresholds(tmp_path, dataset, ["DNA", "protein"], [0.5, 0.3], nested=True)
    assert asked == [(tmp_path, {"threshold": 0.5}), (tmp_path, {"threshold": 0.3})]
    assert blocks[0.5]["recall"] == 50.0 and blocks[0.5]["nested"]["recall"] == 0.0
    assert blocks[0.3]["precision"] == pytest.approx(200 / 3) and blocks[0.3]["nested"]["f1"] == pytest.approx(200 / 3)
    rows = sweep.table_rows(blocks, default=0.5)
    assert rows[0][:4] == ["0.5 (default)", "100.00", "50.00", "66.67"] and rows[1][0] == "0.3"
    assert rows[1][4:] == ["50.00", "100.00", "66.67", "100.00"]  # nested P / R / F1, found
    assert sweep.table_rows({0.5: run.score([[(0, 1, "DNA")]], [[(0, 1, "DNA")]], ["DNA"])}, 0.4)[0] == \
        ["0.5", "100.00", "100.00", "100.00"]  # flat runs: no nested columns
    with pytest.raises(SystemExit, match="strictly between 0 and 1, got \\[1.0, 0.0\\]"):
        sweep.check_thresholds([0.5, 1.0, 0.0])
    assert sweep.check_thresholds([0.5, 0.3, 0.5]) == [0.5, 0.3]
    with pytest.raises(SystemExit):
        sweep.main(["genia_full.baseline_outermost.seed1"])
    assert "is no SRU-NER job" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sweep.main(["genia_full.srunear.seed1"])
    assert "genia_full.srunear.seed1's model is not at" in capsys.readouterr().err


def test_a_genia_job_records_the_threshold_chosen_on_dev_and_its_test_scores(accuracy, monkeypatch):
    import datasets

    run, _ = accuracy
    sweep = importlib.import_module("threshold_sweep")
    tables = importlib.import_module("tables")
    job = run.JOBS["genia_full.srunear.seed1"]
    best = run.job_folder(job) / "best"
    best.mkdir(parents=True)
    (best / "config.json").write_text('{"threshold": 0.5}')
    sentence = {"tokens": ["IL-2", "gene"], "spans": [{"start": 0, "end": 2, "type": "DNA"},
                                                     {"start": 0, "end": 1, "type": "protein"}]}
    splits = {split: datasets.Dataset.from_list([{**sentence, "split": split}]) for split in ("dev", "test")}
    monkeypatch.setattr(run, "experiment_for", lambda config: (None, {"sources": []}))
    monkeypatch.setattr(run, "test_sets", lambda raw, source, limit=None, split="test":
                        {"genia": (splits[split], ["DNA", "protein"])})
    nested = [[(0, 2, "DNA"), (0, 1, "protein")]]
    tagged = {("dev", 0.5): [[(0, 2, "DNA")]], ("dev", 0.4): nested, ("dev", 0.3): nested,  # 0.4 wins the tie
              ("test", 0.4): [[*nested[0], (1, 2, "DNA")]]}
    asked = []

    def fake_predict(folder, data, decoding=None):
        asked.append((data["split"][0], decoding["threshold"]))
        return tagged[asked[-1]], 0.0

    monkeypatch.setattr(run, "predict", fake_predict)
    with pytest.raises(SystemExit, match="genia_full.srunear.seed1 is not done"):
        sweep.record_choice(job.name, [0.4])
    test = {"genia": {"f1": 66.67, "nested": {"f1": 0.0, "precision": 0.0, "recall": 0.0, "recall_any_prediction": 0.0},
                      "per_type": {"DNA": {"f1": 100.0}}}}
    run.save_results({"details": {job.name: _done(job, {"genia_full.srunear.all": 66.67, "genia_full.srunear.nested": 0.0},
                                                  test=test, training={"train_s": 60.0, "dev_history": []},
                                                  machine={"gpu": None})}})
    entry = sweep.record_choice(job.name, [0.4, 0.3])
    assert asked == [("dev", 0.5), ("dev", 0.4), ("dev", 0.3), ("test", 0.4)]  # the default is always weighed
    assert entry["chosen"] == 0.4 and entry["dev"]["0.5"]["f1"] == pytest.approx(200 / 3)
    results = run.load_results()
    assert results["genia_full.srunear_dev_threshold.all"] == 80.0  # test at 0.4: both, and a false DNA
    assert results["genia_full.srunear_dev_threshold.nested"] == 66.67
    assert results["genia_full.srunear.all"] == 66.67  # the default's scores stay
    text = tables.markdown(results)
    assert "| SRU-NER, threshold chosen on dev (0.4) | 80.00 (1 seed) | 66.67 (1 seed) | 50.00 / 100.00 | 100.00 |" in text
    assert "dev F1 at the choice: 100.0 (at 0.5: 66.7) |" in text
    with pytest.raises(SystemExit, match="is no nested SRU-NER job"):
        sweep.record_choice("flat_full.srunear.ncbi_disease.seed1", [0.4])
    assert run.choose_threshold({0.6: {"f1": 70.0}, 0.45: {"f1": 70.0}}, 0.5) == 0.45  # equal scores: nearest the default


def test_ablation_tables_show_mean_and_spread_and_read_models_of_the_named_variant(accuracy):
    _, ablations = accuracy
    runs = {}
    for seed, (paper, shared) in enumerate([(50.0, 60.0), (52.0, 64.0)], start=1):
        runs[f"paper/ncbi_bc5cdr/seed{seed}"] = {"f1": paper, "wall_s": 60.0, "finished": "now",
                                                 "steps_to_half_final_dev_f1": 10 * seed}
        runs[f"heads_shared/ncbi_bc5cdr/seed{seed}"] = {"f1": shared, "wall_s": 60.0, "finished": "now",
                                                        "steps_to_half_final_dev_f1": 5 * seed}
        runs[f"deviations_combined/ncbi_bc5cdr/seed{seed}"] = {"f1": shared + 1, "wall_s": 1.0, "finished": "now"}
    results = {"runs": runs}
    ablations.summarise(results, [1, 2])
    combined = results["variants"]["deviations_combined"]
    assert combined["f1"]["ncbi_bc5cdr"] == [61.0, 65.0]
    assert combined["steps_to_half_final_dev_f1"] == [5, 10]  # the shared-head models it decodes
    table = ablations.markdown(results)
    assert "| heads_shared | `model.heads=shared` |" in table
    assert "62.00 ± 2.83 (2)" in table
    # paired: the combined variant minus the shared-head models it decodes, seed by seed
    assert ablations.paired_differences(results, "deviations_combined", "heads_shared", "ncbi_bc5cdr") == [1.0, 1.0]
    assert "| deviations_combined | heads_shared |" in table and "1.00 ± 0.00 (2)" in table


def test_ablation_runs_start_from_the_papers_settings(accuracy):
    """Our defaults differ from the paper's because of the ablations: the ablations must not start from them."""
    from modeling_srunear import PAPER_SETTINGS

    _, ablations = accuracy
    assert {o.split("=")[0].removeprefix("model."): o.split("=")[1] for o in ablations.PAPER_OVERRIDES} == PAPER_SETTINGS


# --------------------------------------------------------------------------- accuracy at scale (run.py, tables.py)


def _done(job, scores, **extra):
    return {"status": "done", "seed": job.seed, "scores": scores, **extra}


def test_every_experiment_runs_three_seeds_after_a_sweep_of_each_system(accuracy):
    run, _ = accuracy
    sweeps = [j for j in run.JOBS.values() if j.is_sweep]
    assert {j.lr_group for j in sweeps} == {"flat.srunear", "flat.baseline", "genia.srunear",
                                            "genia.baseline_outermost", "genia.baseline_per_type"}
    groups = {j.lr_group for j in sweeps}
    assert all(sorted(j.lr for j in sweeps if j.lr_group == g and j.lr) == list(run.SWEEP_LRS) for g in groups)
    # SRU-NER's decoder: the files' rate is the first stage's run, the other rates a second stage
    decoder = {g: sorted(j.decoder_lr for j in sweeps if j.lr_group == g and j.decoder_lr) for g in groups}
    others = sorted(set(run.SWEEP_DECODER_LRS) - {run.FILE_DECODER_LR})
    assert decoder == {"flat.srunear": others, "genia.srunear": others, "flat.baseline": [],
                       "genia.baseline_outermost": [], "genia.baseline_per_type": []}
    names = list(run.JOBS)
    assert max(names.index(j.name) for j in sweeps) < min(names.index(n) for n, j in run.JOBS.items() if not j.is_sweep)
    by_result = {}
    pilots = [job for job in run.JOBS.values() if job.result.startswith(run.PILOT + ".")]
    assert [(j.result, j.seed, j.overrides) for j in pilots] == [
        (f"{run.PILOT}.srunear", 1, ("training.epochs=5",)), (f"{run.PILOT}.baseline_outermost", 1, ("training.epochs=5",))]
    checks = [job for job in run.JOBS.values() if job.result.startswith(run.BUDGET_CHECK + ".")]
    assert sorted((j.result, j.kind, j.lr_group, j.seed) for j in checks) == sorted(
        (f"{run.BUDGET_CHECK}.{system}.{corpus}", system, f"flat.{system}", 1)
        for corpus in ("bc5cdr", "ncbi_disease") for system in ("baseline", "srunear"))
    for job in checks:  # the flat file at twice its epochs, nothing else changed
        regular = run.JOBS[job.name.replace(run.BUDGET_CHECK, "flat_full")]
        longer, _ = run.experiment_for(job.config, run.job_overrides(job, run.Rates(3e-4), gpu=False))
        base, _ = run.experiment_for(regular.config, run.job_overrides(regular, run.Rates(3e-4), gpu=False))
        assert longer.training.epochs == 2 * base.training.epochs == 10
        assert {k: v for k, v in longer.settings().items() if k != "training.epochs"} == \
            {k: v for k, v in base.settings().items() if k != "training.epochs"}
    (genia_check,) = [job for job in run.JOBS.values() if job.result.startswith(run.GENIA_BUDGET_CHECK + ".")]
    regular = run.JOBS["genia_full.baseline_per_type.seed1"]
    assert genia_check.overrides == ("training.epochs=20",)
    assert (genia_check.kind, genia_check.scheme, genia_check.lr_group, genia_check.nested, genia_check.seed) == \
        (regular.kind, regular.scheme, regular.lr_group, regular.nested, 1)
    # the label-mask budget check: masked and full labels, seed 1, their files at twice the epochs, last
    mask_checks = [job for job in run.JOBS.values() if job.result.startswith(run.LABEL_MASK_BUDGET_CHECK + ".")]
    earlier = names[:-len(run.MULTITASK_SOURCES)]  # the multi-task share runs come last (below)
    assert earlier[-6:-4] == [j.name for j in mask_checks] and earlier.index(genia_check.name) == len(earlier) - 7
    for job in mask_checks:
        regular = run.JOBS[job.name.replace(run.LABEL_MASK_BUDGET_CHECK, "label_mask")]
        assert (job.kind, job.config, job.lr_group, job.test, job.seed) == \
            (regular.kind, regular.config, regular.lr_group, regular.test, 1)
        longer, _ = run.experiment_for(job.config, run.job_overrides(job, run.Rates(3e-4, 3e-3), gpu=False))
        base, _ = run.experiment_for(regular.config, run.job_overrides(regular, run.Rates(3e-4, 3e-3), gpu=False))
        assert longer.training.epochs == 2 * base.training.epochs == 20
        assert {k: v for k, v in longer.settings().items() if k != "training.epochs"} == \
            {k: v for k, v in base.settings().items() if k != "training.epochs"}
    # the masked model's seed 1 at projection coefficients over 1, nothing else changed
    projection = [job for job in run.JOBS.values() if job.result.startswith(run.LABEL_MASK_PROJECTION)]
    assert earlier[-4:-2] == [j.name for j in projection] == ["label_mask_projection1_1.masked.seed1",
                                                          "label_mask_projection1_5.masked.seed1"]
    regular = run.JOBS["label_mask.masked.seed1"]
    base, _ = run.experiment_for(regular.config, run.job_overrides(regular, run.Rates(3e-4, 3e-3), gpu=False))
    for job, coefficient in zip(projection, run.PROJECTION_COEFFICIENTS):
        assert (job.kind, job.config, job.lr_group, job.test, job.seed) == \
            (regular.kind, regular.config, regular.lr_group, regular.test, 1)
        tried, _ = run.experiment_for(job.config, run.job_overrides(job, run.Rates(3e-4, 3e-3), gpu=False))
        # the file leaves the coefficient at the model's default, the authors' 1
        assert tried.settings()["model.projection_coefficient"] == coefficient != SRUNERConfig().projection_coefficient
        assert "model.projection_coefficient" not in base.settings()
        assert {k: v for k, v in tried.settings().items() if k != "model.projection_coefficient"} == \
            {k: v for k, v in base.settings().items() if k != "model.projection_coefficient"}
    # the multi-task first budget: seed 1 of the joint model and of NCBI-Disease's single model at 8 epochs, selected
    # on the first dev sentences as they were, last; the multi-task file trains 40
    multitask_pilots = [job for job in run.JOBS.values() if job.result.startswith(run.MULTITASK_PILOT + ".")]
    assert earlier[-2:] == [j.name for j in multitask_pilots] == [f"{run.MULTITASK_PILOT}.joint.seed1",
                                                                f"{run.MULTITASK_PILOT}.single.ncbi_disease.seed1"]
    for job in multitask_pilots:
        regular = run.JOBS[job.name.replace(run.MULTITASK_PILOT, "multitask")]
        assert (job.kind, job.config, job.lr_group, job.keep, job.biored, job.seed) == \
            (regular.kind, regular.config, regular.lr_group, regular.keep, True, 1)
        first, _ = run.experiment_for(job.config, run.job_overrides(job, run.Rates(1e-4, 3e-3), gpu=False))
        base, _ = run.experiment_for(regular.config, run.job_overrides(regular, run.Rates(1e-4, 3e-3), gpu=False))
        assert 5 * first.training.epochs * first.training.steps_per_epoch == \
            base.training.epochs * base.training.steps_per_epoch == 5000
        assert (first.training.eval_subset, base.training.eval_subset) == ("first", "spread")
        assert {k: v for k, v in first.settings().items() if k not in ("training.epochs", "training.eval_subset")} == \
            {k: v for k, v in base.settings().items() if k not in ("training.epochs", "training.eval_subset")}
    # each single-corpus model at the joint model's steps per corpus (a fifth of 5,000: uniform sampling over five),
    # last, in-domain only, nothing else changed
    shares = [job for job in run.JOBS.values() if job.result.startswith(run.MULTITASK_SHARE + ".")]
    assert names[-5:] == [j.name for j in shares] == [f"{run.MULTITASK_SHARE}.single.{n}.seed1"
                                                      for n in run.MULTITASK_SOURCES]
    joint, _ = run.experiment_for("multitask.yaml", ["training.seed=1"])
    for job, name in zip(shares, run.MULTITASK_SOURCES):
        regular = run.JOBS[f"multitask.single.{name}.seed1"]
        assert (job.kind, job.config, job.lr_group, job.keep, job.seed, job.biored, regular.biored) == \
            (regular.kind, regular.config, regular.lr_group, (name,), 1, False, True)
        short, _ = run.experiment_for(job.config, run.job_overrides(job, run.Rates(3e-4, 3e-3), gpu=False), [name])
        base, _ = run.experiment_for(regular.config, run.job_overrides(regular, run.Rates(3e-4, 3e-3), gpu=False),
                                     [name])
        assert short.training.epochs * short.training.steps_per_epoch * len(joint.sources) == \
            joint.training.epochs * joint.training.steps_per_epoch == 5000
        assert {k: v for k, v in short.settings().items() if k != "training.epochs"} == \
            {k: v for k, v in base.settings().items() if k != "training.epochs"}
    pilots += checks + [genia_check] + mask_checks + projection + multitask_pilots + shares
    for job in run.JOBS.values():
        if not job.is_sweep and job not in pilots:
            by_result.setdefault(job.result, []).append(job.seed)
            assert run.JOBS[job.name].lr_group in {j.lr_group for j in sweeps}
    assert all(seeds == list(run.SEEDS) for seeds in by_result.values())
    assert {"genia_full.srunear", "genia_full.baseline_outermost", "genia_full.baseline_per_type",
            "flat_full.srunear.bc5cdr", "flat_full.baseline.ncbi_disease", "label_mask.unmasked",
            "multitask.joint", "multitask.single.jnlpba"} <= set(by_result)
    assert run.JOBS["genia_full.baseline_per_type.seed2"].scheme == "per_type"


def test_single_corpus_models_take_the_joint_models_optimiser_steps(accuracy):
    run, _ = accuracy
    joint, _ = run.experiment_for("multitask.yaml", ["training.seed=2"])
    assert joint.model["heads"] == "per_source" and joint.training.sampling == "uniform"
    for name in run.MULTITASK_SOURCES:
        single, _ = run.experiment_for("multitask.yaml", ["training.seed=2"], [name])
        assert single.source_names == [name]
        # an epoch is `steps_per_epoch` batches whatever the sources' sizes: the same number of steps
        assert (single.training.steps_per_epoch, single.training.epochs) == (joint.training.steps_per_epoch,
                                                                              joint.training.epochs) == (125, 40)


def test_each_system_trains_at_the_rates_its_own_dev_sweep_chose(accuracy):
    run, _ = accuracy
    details = {}
    for job in run.JOBS.values():
        if job.lr_group == "flat.baseline" and job.is_sweep:
            details[job.name] = {"status": "done", "training": {"best_dev_f1": {3e-5: 70.0, 1e-4: 75.0, 3e-4: 75.0, 1e-3: 20.0}[job.lr]}}
        if job.lr_group == "flat.srunear" and job.lr is not None and job.lr != 3e-4:
            details[job.name] = {"status": "done", "training": {"best_dev_f1": 60.0 + job.lr}}
    results = {"details": details}
    srunear = run.JOBS["flat_full.srunear.bc5cdr.seed3"]
    assert run.learning_rates(run.JOBS["flat_full.baseline.bc5cdr.seed3"], results) == run.Rates(1e-4)  # tie: smaller
    assert run.learning_rates(srunear, results) is None  # one encoder rate still running
    assert run.learning_rates(run.JOBS["sweep.flat.srunear.lr3e-4"], results) == run.Rates(3e-4)
    assert run.learning_rates(run.JOBS["sweep.flat.srunear.dec1e-3"], results) is None  # waits for the first stage
    details["sweep.flat.srunear.lr3e-4"] = {"status": "done", "training": {"best_dev_f1": 59.0}}
    # encoder 1e-3 chosen (60.001); the second stage tries the decoder rates there
    assert run.learning_rates(run.JOBS["sweep.flat.srunear.dec1e-3"], results) == run.Rates(1e-3, 1e-3)
    assert run.learning_rates(srunear, results) is None  # the decoder stage still running
    for rate, f1 in ((3e-4, 50.0), (1e-3, 61.0), (1e-2, 61.0)):
        details[f"sweep.flat.srunear.dec{run.lr_name(rate)}"] = {
            "status": "done", "encoder_learning_rate": 1e-3, "training": {"best_dev_f1": f1}}
    assert run.sweep_table(results)["flat.srunear"]["decoder_dev_f1"] == {"3e-4": 50.0, "1e-3": 61.0, "3e-3": 60.001,
                                                                        "1e-2": 61.0}
    assert run.learning_rates(srunear, results) == run.Rates(1e-3, 1e-3)  # of the tied decoder rates the smaller
    details["sweep.flat.srunear.dec1e-3"]["encoder_learning_rate"] = 3e-4  # run before the first stage was redone
    assert run.learning_rates(srunear, results) is None
    overrides = run.job_overrides(run.JOBS["flat_full.srunear.bc5cdr.seed3"], run.Rates(3e-5, 1e-2))
    experiment, _ = run.experiment_for("flat_full_bc5cdr.yaml", overrides)
    assert experiment.training.encoder_learning_rate == 3e-5 and experiment.training.seed == 3  # a number, not text
    assert experiment.training.decoder_learning_rate == 1e-2
    baseline, _ = run.experiment_for("flat_full_bc5cdr.yaml", run.job_overrides(srunear, run.Rates(3e-5)))
    assert baseline.training.decoder_learning_rate == run.FILE_DECODER_LR


def test_every_srunear_experiment_file_starts_at_the_sweeps_decoder_rate(accuracy):
    run, _ = accuracy
    for config in {job.config for job in run.JOBS.values() if job.kind != "baseline"}:
        experiment, _ = run.experiment_for(config)
        assert experiment.training.decoder_learning_rate == run.FILE_DECODER_LR, config


def test_a_checkpoint_trained_with_other_settings_is_not_resumed(accuracy):
    run, _ = accuracy
    job = run.JOBS["genia_full.srunear.seed2"]
    experiment, _ = run.experiment_for(job.config, run.job_overrides(job, run.Rates(3e-4, 3e-3)))
    settings = experiment.settings()
    assert settings["training.epochs"] == experiment.training.epochs and settings["model.action_space_dim"] == 10
    run.check_checkpoint_settings(job, settings)
    (run.job_folder(job) / "state").mkdir()
    run.check_checkpoint_settings(job, dict(settings))  # the same settings: the checkpoint stays
    assert (run.job_folder(job) / "state").is_dir()
    stamp = run.job_folder(job) / "settings.json"  # written before training.eval_subset existed: still resumed
    stamp.write_text(json.dumps({k: v for k, v in settings.items() if k != "training.eval_subset"}), encoding="utf-8")
    run.check_checkpoint_settings(job, dict(settings))
    assert (run.job_folder(job) / "state").is_dir() and json.loads(stamp.read_text()) == settings
    longer, _ = run.experiment_for(job.config, [*run.job_overrides(job, run.Rates(3e-4, 3e-3)), "training.epochs=9"])
    run.check_checkpoint_settings(job, longer.settings())
    assert not (run.job_folder(job) / "state").exists()
    assert f"training.epochs {experiment.training.epochs} -> 9" in run.LOG.read_text()
    (run.job_folder(job) / "state").mkdir()
    other_rate, _ = run.experiment_for(job.config, run.job_overrides(job, run.Rates(3e-4, 1e-3)))
    run.check_checkpoint_settings(job, other_rate.settings())  # another decoder rate
    assert not (run.job_folder(job) / "state").exists()
    (run.job_folder(job) / "settings.json").unlink()
    (run.job_folder(job) / "state").mkdir()  # a checkpoint whose settings were never recorded
    run.check_checkpoint_settings(job, settings)
    assert not (run.job_folder(job) / "state").exists() and "not recorded" in run.LOG.read_text()
def test_a_driver_of_an_older_version_keeps_the_runs_of_jobs_it_does_not_know(accuracy, capsys):
    """Drivers started at different commits share one results file: recording a job must not erase the run of a
    job that only the newer version has."""
    run, _ = accuracy
    newer = {"status": "done", "seed": 1, "scores": {"label_mask_projection9.masked.bc5cdr": 70.0}}
    run.save_results(run.aggregate({"details": {"label_mask_projection9.masked.seed1": newer}}))
    job = run.JOBS["label_mask.masked.seed1"]
    run.record(job, _done(job, {"label_mask.masked.bc5cdr": 72.0}))
    results = run.load_results()
    assert results["details"]["label_mask_projection9.masked.seed1"] == newer
    assert results["label_mask.masked.bc5cdr"] == 72.0 and "label_mask_projection9.masked.bc5cdr" not in results
    run.list_jobs(run.select(["label_mask.masked"]))
    assert ("recorded runs of no job of this version (kept, in no table): label_mask_projection9.masked.seed1"
            in capsys.readouterr().out)


def test_results_are_means_over_seeds_with_spread_and_runs(accuracy):
    run, _ = accuracy
    jobs = run.JOBS
    # an earlier scheme's run, or one of a job a newer version added: kept, in no key
    details = {"flat.srunear.ncbi_disease": {"status": "done", "seed": 1, "scores": {"flat.srunear.ncbi_disease": 1.0}}}
    for seed, value in ((1, 70.0), (2, 74.0)):
        job = jobs[f"flat_full.srunear.ncbi_disease.seed{seed}"]
        details[job.name] = _done(job, {"flat_full.srunear.ncbi_disease": value})
    for seed in (1, 2):
        for k, name in enumerate(run.MULTITASK_SOURCES):
            if seed == 2 and name == "jnlpba":
                continue  # seed 2 not finished: no average, no BioRED pick
            job = jobs[f"multitask.single.{name}.seed{seed}"]
            known = {"ncbi_disease": ["Disease"], "bc5cdr": ["Chemical", "Disease"], "bc2gm": ["Gene_or_protein"],
                     "linnaeus": ["Species"], "jnlpba": ["Gene_or_protein"]}[name]
            biored = {split: {"per_type": {t: {"f1": (10.0 * k if split == "dev" else 100.0 - k)} for t in known}}
                      for split in ("dev", "test")}
            details[job.name] = _done(job, {f"multitask.single.{name}": 50.0 + k}, biored=biored)
    results = run.aggregate({"flat.srunear.ncbi_disease": 1.0, "details": details})
    assert "flat.srunear.ncbi_disease" not in results and results["details"]["flat.srunear.ncbi_disease"]["status"] == "done"
    assert results["flat_full.srunear.ncbi_disease"] == 72.0
    assert results["flat_full.srunear.ncbi_disease_std"] == pytest.approx(2.83, abs=0.01)
    assert results["flat_full.srunear.ncbi_disease_runs"] == [70.0, 74.0]
    assert results["multitask.single.average_runs"] == [52.0]
    picks = run.biored_single_picks(results, 1)
    # chosen on BioRED dev: bc5cdr (dev 10) over ncbi_disease (dev 0) for Disease, jnlpba (40) over bc2gm (20)
    assert {t: p["model"] for t, p in picks.items()} == {"Chemical": "bc5cdr", "Disease": "bc5cdr",
                                                        "Gene_or_protein": "jnlpba", "Species": "linnaeus"}
    assert results["crosscorpus.single.biored.Gene_or_protein_runs"] == [96.0]  # its *test* F1
    assert run.biored_single_picks(results, 2) == {}


def test_the_queue_waits_for_sweeps_and_claims_and_resumes_only_when_asked(accuracy):
    run, _ = accuracy
    job = run.JOBS["label_mask.masked.seed1"]
    # all rates tie at 50: the smallest encoder rate is chosen, the decoder stage ran there
    results = {"details": {j.name: {"status": "done", "training": {"best_dev_f1": 50.0}, "encoder_learning_rate": 3e-5}
                           for j in run.JOBS.values() if j.lr_group == "flat.srunear" and j.is_sweep}}
    first, waiting = run.next_job([job.name], {"details": {}}, {}, resume=False, retry_failed=False)
    assert first is None and "waits for the flat.srunear sweep" in waiting[0]
    assert run.next_job([job.name], results, {}, False, False)[0] == job
    assert run.next_job([job.name], results, {job.name: {"pid": 1}}, False, False)[0] is None
    (run.job_folder(job) / "state").mkdir(parents=True)  # an interrupted run's checkpoint
    none, waiting = run.next_job([job.name], results, {}, resume=False, retry_failed=False)
    assert none is None and "--resume" in waiting[0]
    assert run.next_job([job.name], results, {}, resume=True, retry_failed=False)[0] == job
    results["details"][job.name] = {"status": "failed", "failures": run.MAX_FAILURES}
    assert run.next_job([job.name], results, {}, True, False)[0] is None
    assert run.next_job([job.name], results, {}, True, True)[0] == job


def test_runs_on_a_gpu_train_in_full_precision_as_on_the_cpu(accuracy):
    run, _ = accuracy
    job = run.JOBS["label_mask.masked.seed2"]
    on_gpu, _ = run.experiment_for(job.config, run.job_overrides(job, run.Rates(3e-4), gpu=True))
    on_cpu, _ = run.experiment_for(job.config, run.job_overrides(job, run.Rates(3e-4), gpu=False))
    assert on_gpu.training.mixed_precision == "no"  # auto would be bf16 on a GPU
    assert on_cpu.training.mixed_precision == "auto"  # full precision there; the checkpoints' stamps unchanged
    assert {k: v for k, v in on_gpu.settings().items() if k != "training.mixed_precision"} == \
        {k: v for k, v in on_cpu.settings().items() if k != "training.mixed_precision"}


def test_jobs_another_machine_finished_are_merged_unless_done_running_or_at_other_rates(accuracy, tmp_path, monkeypatch):
    run, _ = accuracy
    sweep = {j.name: {"status": "done", "training": {"best_dev_f1": 50.0}, "encoder_learning_rate": 3e-5}
             for j in run.JOBS.values() if j.lr_group in ("flat.srunear", "flat.baseline") and j.is_sweep}
    run.save_results({"details": dict(sweep)})  # here every rate ties: the smallest of each is chosen
    jobs = [run.JOBS[f"label_mask.masked.seed{seed}"] for seed in (1, 2, 3)]
    baseline = run.JOBS["flat_full.baseline.bc5cdr.seed2"]
    there = {"details": {**sweep,
                         jobs[0].name: _done(jobs[0], {"label_mask.masked": 70.0}),
                         jobs[1].name: _done(jobs[1], {"label_mask.masked": 72.0}),
                         jobs[2].name: _done(jobs[2], {"label_mask.masked": 90.0}),
                         baseline.name: _done(baseline, {"flat_full.baseline.bc5cdr": 80.0}),
                         "label_mask.full.seed2": {"status": "failed", "failures": 1},
                         "an.old.job": {"status": "done"}, "setup": {"seeds": [1, 2, 3]}}}
    chosen = run.learning_rates(jobs[0], run.load_results())
    assert run.trained_rates(jobs[0], chosen) == (3e-5, 3e-4)
    for name in (jobs[0].name, jobs[1].name):
        there["details"][name].update(encoder_learning_rate=3e-5, decoder_learning_rate=3e-4)
    there["details"][jobs[2].name].update(encoder_learning_rate=3e-5, decoder_learning_rate=run.FILE_DECODER_LR)
    there["details"][jobs[1].name]["machine"] = {"gpu": "NVIDIA H100 80GB HBM3", "cpu": "Xeon", "torch_threads": 1}
    there["details"][baseline.name].update(encoder_learning_rate=3e-5, decoder_learning_rate=None)
    results = run.load_results()
    results["details"][jobs[0].name] = _done(jobs[0], {"label_mask.masked": 71.0})  # done here already
    run.save_results(results)
    monkeypatch.setattr(run, "_alive", lambda pid: pid == 4242)
    run.save_claims({baseline.name: {"pid": 4242, "started": "now"}})  # a driver here runs it
    other = tmp_path / "gpu.json"
    other.write_text(json.dumps(there))
    outcome = run.merge(other)
    assert outcome["merged"] == [jobs[1].name]
    assert outcome["done here"] == [*sweep, jobs[0].name]
    assert outcome["other rates"] == [jobs[2].name] and outcome["running here"] == [baseline.name]
    assert outcome["not done there"] == ["label_mask.full.seed2"] and outcome["unknown job"] == ["an.old.job"]
    merged = run.load_results()
    assert merged["label_mask.masked_runs"] == [71.0, 72.0]  # seed 1 kept as it was here, seed 2 from there
    assert merged["details"][jobs[1].name] == there["details"][jobs[1].name]
    assert "merge" in run.LOG.read_text() and "other rates: 1 (label_mask.masked.seed3)" in run.LOG.read_text()
    tables = importlib.import_module("tables")  # the runs table names the GPU a merged run trained on
    assert tables._machine_cell(merged["details"][jobs[1].name]["machine"]) == "NVIDIA H100 80GB HBM3 (GPU), Xeon, 1 thread(s)"
    assert tables._machine_cell({"gpu": None, "cpu": "EPYC", "torch_threads": 1}) == "EPYC, 1 thread(s)"
    cpu, gpu = ({"training": {"train_s": 1200.0}, "machine": {"gpu": None}},
                {"training": {"train_s": 240.0}, "machine": {"gpu": "H100"}})
    assert tables._train_minutes([cpu, gpu, gpu]) == "20 min (CPU), 4 min (GPU)"  # times of two machines never mixed
    assert tables._train_minutes([cpu]) == "20 min"
    run.save_claims({})
    assert run.merge(other)["merged"] == [baseline.name]  # its driver finished without recording it
    with pytest.raises(SystemExit, match="missing.json is not a readable results file"):
        run.main(["--merge", str(tmp_path / "missing.json")])


def test_accuracy_tables_show_label_mask_and_nested_precision_recall_and_the_flat_budget_check(accuracy):
    run, _ = accuracy
    tables = importlib.import_module("tables")
    details = {}
    for seed, (precision, recall) in ((1, (80.0, 60.0)), (2, (82.0, 64.0))):
        job = run.JOBS[f"label_mask.masked.seed{seed}"]
        test = {"bc5cdr": {"f1": 70.0 + seed, "precision": precision, "recall": recall,
                           "per_type": {"Chemical": {"f1": 75.0}, "Disease": {"f1": 65.0}}}}
        details[job.name] = _done(job, {"label_mask.masked.bc5cdr": 70.0 + seed}, test=test,
                                  training={"train_s": 600.0 * seed, "dev_history": []}, machine={"gpu": None})
    # the label-mask budget check, scored as a finished job records it (its result is not under label_mask.)
    job = run.JOBS[f"{run.LABEL_MASK_BUDGET_CHECK}.masked.seed1"]
    mask_test = {"bc5cdr": {"f1": 73.5, "precision": 79.5, "recall": 68.5,
                            "per_type": {"Chemical": {"f1": 78.0}, "Disease": {"f1": 67.5}}}}
    details[job.name] = _done(job, run.job_scores(job, {"test": mask_test}), test=mask_test,
                              training={"train_s": 3000.0, "dev_history": []}, machine={"gpu": None})
    for system, value in (("srunear", 85.0), ("baseline", 83.5)):
        job = run.JOBS[f"{run.BUDGET_CHECK}.{system}.bc5cdr.seed1"]
        training = {"train_s": 60.0, "dev_history": [], "history": []}
        details[job.name] = _done(job, {f"{run.BUDGET_CHECK}.{system}.bc5cdr": value}, training=training,
                                  machine={"gpu": "H100"})
    for seed, recall in ((1, 20.0), (2, 24.0)):
        job = run.JOBS[f"genia_full.srunear.seed{seed}"]
        nested = {"f1": 30.0, "precision": 50.0, "recall": recall, "recall_any_prediction": recall + 10}
        test = {"genia": {"f1": 74.0, "nested": nested, "per_type": {"DNA": {"f1": 70.0}}}}
        details[job.name] = _done(job, {"genia_full.srunear.all": 74.0, "genia_full.srunear.nested": 30.0}, test=test,
                                  training={"train_s": 600.0, "dev_history": []}, machine={"gpu": None})
    details["genia_full.srunear.seed1"]["test"]["genia"]["nested"]["by_relation"] = {
        "same end, same type": {"support": 150, "recall": 1.0, "recall_any_prediction": 15.0}}
    text = tables.markdown(run.aggregate({"details": details}))
    assert "| relation | gold | SRU-NER (1 run) |" in text  # only the runs that recorded it
    assert "| same end, same type | 150 | 1.00 / 15.00 |" in text
    assert "| SRU-NER | 74.00 ± 0.00 (2) | 30.00 ± 0.00 (2) | 50.00 / 22.00 | 32.00 | 70.00 | 0.00 |" in text
    assert "| (a) one model, A + B, label masks | 71.50 ± 0.71 (2) | 81.00 / 62.00 | 75.00 | 65.00 | 15 min |" in text
    assert "| (a) label masks, budget check: 20 epochs | 73.50 (1 seed) | 79.50 / 68.50 | 78.00 | 67.50 | 50 min |" in text
    assert "masked minus full labels" not in text  # the full-label runs of seed 1 are not in yet
    assert "the halved annotations'" not in text  # nor (c) and (d)
    for result, value in (("label_mask.full", 78.0), (f"{run.LABEL_MASK_BUDGET_CHECK}.full", 79.0)):
        job = run.JOBS[f"{result}.seed1"]
        details[job.name] = _done(job, {f"{result}.bc5cdr": value}, test=mask_test,
                                  training={"train_s": 600.0, "dev_history": []}, machine={"gpu": None})
    job = run.JOBS["label_mask.single_type.seed1"]
    details[job.name] = _done(job, {"label_mask.single_type.bc5cdr": 76.0}, test=mask_test,
                              training={"bc5cdr_half_chemical": {"train_s": 300.0}, "bc5cdr_half_disease": {"train_s": 300.0}},
                              machine={"gpu": None})
    text = tables.markdown(run.aggregate({"details": details}))
    assert "Seed 1, masked minus full labels: -7.00 at 10 epochs, -5.50 at 20 epochs." in text
    assert ("Of the masked model's -6.50 to full labels (means), -2.00 is the halved annotations' (two single-type "
            "models trained on the same annotations, (c)) and -4.50 the one shared model's ((a) minus (c)).") in text
    assert "Projection coefficient" not in text  # its runs are not in yet
    for coefficient, dev_f1, test_f1 in ((1.1, 74.0, 73.0), (1.5, 74.0, 74.5)):  # a tie on dev: the smaller one
        job = run.JOBS[f"{run.projection_name(coefficient)}.masked.seed1"]
        details[job.name] = _done(job, run.job_scores(job, {"test": mask_test}) | {job.result + ".bc5cdr": test_f1},
                                  test=mask_test, training={"train_s": 600.0, "dev_history": [], "best_dev_f1": dev_f1},
                                  machine={"gpu": None})
    details["label_mask.masked.seed1"]["training"]["best_dev_f1"] = 73.0
    text = tables.markdown(run.aggregate({"details": details}))
    assert "| (a) label masks, projection coefficient 1.5 | 74.50 (1 seed) | 79.50 / 68.50 | 78.00 | 67.50 | 10 min |" in text
    assert ("Projection coefficient (seed 1), best dev F1 — 1: 73.00, 1.1: 74.00, 1.5: 74.00; chosen on dev: 1.1 "
            "(against the default's 73.00). Test F1, reported only — 1: 71.00, 1.1: 73.00, 1.5: 74.50 (one seed: a hint, "
            "not a result).") in text
    details["label_mask.masked.seed1"]["training"]["best_dev_f1"] = 75.0  # the default wins on dev
    assert "chosen on dev: 1 (the default). Test F1" in tables.markdown(run.aggregate({"details": details}))
    assert "| bc5cdr, budget check: 10 epochs | 85.00 (1 seed) | 83.50 (1 seed) | (+1.50, one seed) | 1 min (GPU) |" in text


def test_the_multitask_first_budget_is_scored_under_its_own_keys_and_shown_beside_the_seeded_models(accuracy):
    run, _ = accuracy
    tables = importlib.import_module("tables")
    types = ("Chemical", "Disease", "Gene_or_protein", "Species")
    details = {}
    for name, offset in (("multitask.joint.seed1", 10.0), (f"{run.MULTITASK_PILOT}.joint.seed1", 0.0)):
        job = run.JOBS[name]
        recorded = {"test": {corpus: {"f1": 50.0 + offset + i} for i, corpus in enumerate(run.MULTITASK_SOURCES)},
                    "biored": {"test": {"per_type": {t: {"f1": 40.0 + offset + 2 * i} for i, t in enumerate(types)}}}}
        history = [{"average_f1": f} for f in ((40.0, 45.0, 48.0) if offset == 0 else (60.0, 61.0, 61.0))]
        details[name] = _done(job, run.job_scores(job, recorded), **recorded,
                              training={"train_s": 600.0, "dev_history": history}, machine={"gpu": None})
    single = run.JOBS[f"{run.MULTITASK_PILOT}.single.ncbi_disease.seed1"]
    details[single.name] = _done(single, run.job_scores(single, {"test": {"ncbi_disease": {"f1": 83.0}}}),
                                 training={"train_s": 600.0, "dev_history": []}, machine={"gpu": None})
    first = details[f"{run.MULTITASK_PILOT}.joint.seed1"]["scores"]
    # its own keys, so it never enters the mean over the seeds of the 5,000-step joint model
    assert first == {**{f"multitask_8_epochs.joint.{c}": 50.0 + i for i, c in enumerate(run.MULTITASK_SOURCES)},
                     "multitask_8_epochs.joint.average": 52.0,
                     **{f"crosscorpus_8_epochs.joint.biored.{t}": 40.0 + 2 * i for i, t in enumerate(types)},
                     "crosscorpus_8_epochs.joint.biored.average": 43.0}
    assert details[single.name]["scores"] == {"multitask_8_epochs.single.ncbi_disease": 83.0}
    r = run.aggregate({"details": details})
    assert r["multitask.joint.average_runs"] == [62.0] and r["crosscorpus.joint.biored.average_runs"] == [53.0]
    assert "multitask.single.ncbi_disease" not in r and "multitask.single.average" not in r
    text = tables.markdown(r)
    assert "| ncbi_disease | 60.00 (1 seed) | – | – | 50.00 (1 seed) | 83.00 (1 seed) |" in text
    assert "| **average** | 62.00 (1 seed) | – | – | 52.00 (1 seed) | – |" in text
    assert "| Species | 56.00 (1 seed) | – | – | 46.00 (1 seed) |" in text
    assert "joint model 60.0 → 61.0 → 61.0 (epochs 1-3); at the first budget 40.0 → 45.0 → 48.0 (epochs 1-3)" in text


def test_single_models_at_the_joint_models_share_of_steps_have_their_own_keys_and_column(accuracy):
    run, _ = accuracy
    tables = importlib.import_module("tables")
    details = {}
    for i, name in enumerate(run.MULTITASK_SOURCES):
        for prefix, score in (("multitask", 80.0 + i), (run.MULTITASK_SHARE, 70.0 + 2 * i)):
            job = run.JOBS[f"{prefix}.single.{name}.seed1"]
            details[job.name] = _done(job, run.job_scores(job, {"test": {name: {"f1": score}}}),
                                      training={"train_s": 60.0, "dev_history": []}, machine={"gpu": None})
            if job.biored:
                details[job.name]["biored"] = {split: {"per_type": {}} for split in ("dev", "test")}
    share = details[f"{run.MULTITASK_SHARE}.single.bc2gm.seed1"]["scores"]
    assert share == {"multitask_share.single.bc2gm": 74.0}
    partial = run.aggregate({"details": {k: v for k, v in details.items() if "jnlpba" not in k}})
    assert "multitask_share.single.average" not in partial  # an average only over all five corpora
    r = run.aggregate({"details": details})
    # never mixed into the 40-epoch single-corpus models' means
    assert r["multitask.single.bc2gm_runs"] == [82.0] and r["multitask.single.average"] == 82.0
    assert r["multitask_share.single.average_runs"] == [74.0]
    text = tables.markdown(r)
    assert "| bc2gm | – | 82.00 (1 seed) | 74.00 (1 seed) | – | – |" in text
    assert "| **average** | – | 82.00 (1 seed) | 74.00 (1 seed) | – | – |" in text
    assert "single-corpus model at the joint model's share: 1,000 steps" in text


def test_claims_of_drivers_that_died_are_dropped(accuracy):
    import os
    import subprocess

    run, _ = accuracy
    finished = subprocess.Popen(["true"])
    finished.wait()
    run.save_claims({"a": {"pid": finished.pid}, "b": {"pid": os.getpid()}})
    # this test process is no run.py driver (a reused pid does not count), the finished one is gone
    assert run.live_claims() == {}


def test_job_selection_by_prefix_and_unknown_names(accuracy):
    run, _ = accuracy
    assert run.select(["genia_full.srunear"]) == [f"genia_full.srunear.seed{s}" for s in run.SEEDS]
    with pytest.raises(SystemExit, match="no job named 'flat_full.srunear.seed1'"):
        run.main(["--job", "flat_full.srunear.seed1"])
    with pytest.raises(SystemExit, match="'genia_full.baseline_per_type.seed1' is no nested SRU-NER job"):
        run.main(["--add-nested-breakdown", "genia_full.baseline_per_type.seed1"])
    with pytest.raises(SystemExit, match="genia_full.srunear.seed1 is not done"):
        run.main(["--add-nested-breakdown", "genia_full.srunear.seed1"])
    job = run.JOBS["genia_full.srunear.seed2"]
    run.save_results({"details": {job.name: {"status": "done"}}})
    with pytest.raises(SystemExit, match="model is not at .*genia_full.srunear.seed2/best"):
        run.main(["--add-nested-breakdown", job.name])
    with pytest.raises(SystemExit, match="no job matches"):
        run.select(["genia_full.srunear.seed9"])


def test_targets_report_ties_within_the_spread_and_misses(accuracy):
    run, _ = accuracy
    tables = importlib.import_module("tables")
    r = {}
    for key, runs in {"genia_full.srunear.all": [60.0, 62.0], "genia_full.baseline_outermost.all": [58.0, 59.0],
                      "genia_full.baseline_per_type.all": [59.5, 60.5], "genia_full.srunear.nested": [41.0, 43.0],
                      "flat_full.srunear.bc5cdr": [80.0, 82.0], "flat_full.baseline.bc5cdr": [81.5, 82.5],
                      "flat_full.srunear.ncbi_disease": [70.0, 70.2], "flat_full.baseline.ncbi_disease": [75.0, 75.2]}.items():
        import statistics

        r[key], r[f"{key}_std"], r[f"{key}_runs"] = statistics.mean(runs), statistics.stdev(runs), runs
    rows = {row[0]: row for row in tables.targets(r)}
    genia = rows["GENIA all-mention F1 ≥ better flat baseline + 2"]
    assert "baseline_per_type" in genia[1] and "+1.00" in genia[1] and genia[2] == "missed"
    assert rows["GENIA nested-mention F1 ≥ 40"][2] == "met"
    assert tables.compare(r, "flat_full.srunear.bc5cdr", "flat_full.baseline.bc5cdr")[0] == "tie"
    assert rows["bc5cdr: SRU-NER within spread of the BIO baseline or above"][2] == "met"
    assert rows["ncbi_disease: SRU-NER within spread of the BIO baseline or above"][2] == "missed"
    assert tables.mean_std(r, "genia_full.srunear.all") == "61.00 ± 1.41 (2)"
    assert tables.mean_std(r, "multitask.joint.average") == "–"
    for key, runs in {"label_mask.masked.bc5cdr": [72.0, 74.0], "label_mask.unmasked.bc5cdr": [55.0, 57.0],
                      "label_mask.full.bc5cdr": [78.5]}.items():
        r[key], r[f"{key}_std"], r[f"{key}_runs"] = statistics.mean(runs), statistics.stdev(runs) if len(runs) > 1 else 0.0, runs
    rows = {row[0]: row for row in tables.targets(r)}
    assert rows["label masks: masked ≥ unmasked + 10"][1:] == ["73.00 ± 1.41 (2) vs 56.00 ± 1.41 (2): +17.00", "met"]
    assert rows["label masks: masked within 5 of full labels"][1:] == ["73.00 ± 1.41 (2) vs 78.50 (1 seed): -5.50", "–"]
    r["label_mask.full.bc5cdr_runs"] = [78.5, 78.5]  # a second seed: now judged
    assert tables.targets(r)[-1] == ["label masks: masked within 5 of full labels",
                                     "73.00 ± 1.41 (2) vs 78.50 ± 0.00 (2): -5.50", "missed"]
    r["genia_full.srunear.nested_runs"] = [41.0]  # one seed: not judged yet
    assert {row[0]: row for row in tables.targets(r)}["GENIA nested-mention F1 ≥ 40"][2] == "–"


# --------------------------------------------------------------------------- the baselines (baseline.py)


def test_per_type_tagging_keeps_mentions_of_different_types_nested(accuracy):
    import torch

    baseline = importlib.import_module("baseline")
    spans = [(0, 4, "DNA"), (1, 2, "protein"), (2, 3, "DNA"), (5, 6, "protein")]
    per_type = baseline.TagScheme("per_type", ("DNA", "protein"))
    labels = per_type.word_labels(7, spans)
    assert labels[1] == [2, 1] and labels[2] == [2, 0]  # inside DNA / begins protein; the inner DNA is lost
    assert per_type.representable(spans) == 3
    logits = torch.zeros(7, 6)
    for word, codes in enumerate(labels):
        for k, code in enumerate(codes):
            logits[word, 3 * k + code] = 1.0
    assert per_type.decode(logits) == [(0, 4, "DNA"), (1, 2, "protein"), (5, 6, "protein")]
    outermost = baseline.TagScheme("outermost", ("DNA", "protein"))
    assert outermost.representable(spans) == 2
    flat = torch.nn.functional.one_hot(torch.tensor(outermost.word_labels(7, spans)), len(outermost.labels)).float()
    assert outermost.decode(flat) == [(0, 4, "DNA"), (5, 6, "protein")]
    with pytest.raises(ValueError, match="tagging scheme"):
        baseline.TagScheme("nested", ("DNA",))


def test_per_type_loss_averages_over_labelled_words_and_types(accuracy):
    import torch

    baseline = importlib.import_module("baseline")
    scheme = baseline.TagScheme("per_type", ("A", "B"))
    logits = torch.randn(1, 3, 6)
    labels = torch.tensor([[[-100, -100], [1, 0], [2, 2]]])
    expected = torch.stack([torch.nn.functional.cross_entropy(logits[0, w, 3 * k: 3 * k + 3][None], labels[0, w, k][None])
                            for w in (1, 2) for k in (0, 1)]).mean()
    assert torch.allclose(scheme.loss(logits, labels), expected)


def _one_source_experiment(folder):
    import yaml

    from helpers import save_tiny_encoder, write_corpora
    from srunear.experiment import load_experiment

    write_corpora(folder)
    encoder = save_tiny_encoder(folder / "encoder")
    splits = {split: f"diseases/{split}.tsv" for split in ("train", "dev", "test")}
    raw = {"encoder": str(encoder), "training": {"epochs": 2, "batch_size": 8, "seed": 5, "encoder_learning_rate": 1e-3},
           "sources": [{"name": "diseases", "format": "iob", "paths": splits}]}
    (folder / "one.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_experiment(folder / "one.yaml")


@pytest.mark.parametrize("scheme", ["outermost", "per_type"])
def test_an_interrupted_baseline_resumes_to_the_weights_of_an_uninterrupted_run(accuracy, tmp_path, scheme):
    import torch

    baseline = importlib.import_module("baseline")
    experiment = _one_source_experiment(tmp_path)
    whole, _, _, info = baseline.train_baseline(experiment, scheme, tmp_path / "whole", log=lambda m: None)

    class Stop(Exception):
        pass

    def stop_in_epoch_two(message):
        if message.startswith("baseline epoch 2 step"):
            raise Stop

    with pytest.raises(Stop):
        baseline.train_baseline(experiment, scheme, tmp_path / "cut", log=stop_in_epoch_two)
    resumed, _, _, resumed_info = baseline.train_baseline(experiment, scheme, tmp_path / "cut", log=lambda m: None)
    assert resumed_info["resumed_after_epoch"] == 1 and len(resumed_info["history"]) == 2
    assert [h["dev_f1"] for h in resumed_info["history"]] == [h["dev_f1"] for h in info["history"]]
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


# --------------------------------------------------------------------------- BioRED cross-corpus (crosscorpus.py)


BIORED = """123|t|BRCA1 in mice.
123|a|Aspirin helps.
123\t0\t5\tBRCA1\tGeneOrGeneProduct\t672
123\t9\t13\tmice\tOrganismTaxon\t10090
123\t15\t22\tAspirin\tChemicalEntity\tD001241
123\t0\t5\tBRCA1\tSequenceVariant\tx
123\tAssociation\tD001241\t672\tNovel

456|t|Cancer
456|a|in HeLa cells.
456\t0\t6\tCancer\tDiseaseOrPhenotypicFeature\tD009369
456\t10\t14\tHeLa\tCellLine\tCVCL_0030
"""


def test_biored_is_scored_at_character_offsets_on_the_four_mapped_types(accuracy, tmp_path):
    crosscorpus = importlib.import_module("crosscorpus")
    path = tmp_path / "test.pubtator"
    path.write_text(BIORED, encoding="utf-8")
    documents = crosscorpus.biored_documents(path)
    assert [d.text for d in documents] == ["BRCA1 in mice. Aspirin helps.", "Cancer in HeLa cells."]
    assert documents[0].gold == {(0, 5, "Gene_or_protein"), (9, 13, "Species"), (15, 22, "Chemical")}
    assert documents[1].gold == {(0, 6, "Disease")}  # the cell line is not scored
    assert crosscorpus.scored_types(["Disease", "DNA", "Species"]) == ["Disease", "Species"]

    def ner(texts, batch_size):
        assert texts == [d.text for d in documents]
        return [[{"start": 0, "end": 5, "entity_group": "Gene_or_protein"}, {"start": 9, "end": 14, "entity_group": "Species"},
                 {"start": 15, "end": 22, "entity_group": "DNA"}],
                [{"start": 0, "end": 6, "entity_group": "Disease"}]]

    predicted = crosscorpus.tag_documents(ner, documents)
    block = crosscorpus.score_documents(documents, predicted, ["Disease", "Gene_or_protein", "Species"])
    assert block["per_type"]["Species"]["f1"] == 0.0  # off by one character
    assert block["per_type"]["Gene_or_protein"]["f1"] == 100.0 and block["per_type"]["Disease"]["f1"] == 100.0
    assert block["support"] == 3 and block["precision"] == pytest.approx(200 / 3)  # the DNA span is not scored
    with pytest.raises(ValueError, match="predictions for"):
        crosscorpus.score_documents(documents, predicted[:1], ["Disease"])


def test_the_word_split_benchmark_reads_an_experiment_file_on_the_shared_corpora(accuracy, shared_data):
    from srunear.experiment import load_experiment

    sys.modules.pop("pipeline_words", None)
    pipeline_words = importlib.import_module("pipeline_words")
    try:
        for flag in (False, True):
            experiment = load_experiment(pipeline_words.experiment_file(flag, shared_data))
            experiment.check_paths()  # fails, naming the file, when a corpus file is missing
            assert experiment.sources[0].pipeline_words is flag
            assert (experiment.training.max_train_examples, experiment.training.epochs) == (1000, 6)
    finally:
        sys.modules.pop("pipeline_words", None)


def _run_job_at_two_steps(run, job: str, lr_group: str, test_limit: int, overrides: str = "") -> None:
    """``run.py --job JOB`` in its own process, as a driver launches it, after a finished sweep of ``lr_group``
    (encoder rate 3e-5), at two optimiser steps and ``test_limit`` sentences per test set."""
    import os
    import subprocess

    training = {"best_dev_f1": 50.0, "train_s": 60.0, "dev_history": []}
    sweep = {j.name: {"status": "done", "training": training, "encoder_learning_rate": 3e-5}
             for j in run.JOBS.values() if j.lr_group == lr_group and j.is_sweep}
    run.save_results({"details": sweep})
    env = {**os.environ, "SRUNEAR_ACCURACY_TEST_LIMIT": str(test_limit), "SRUNEAR_ACCURACY_OVERRIDES":
           "training.epochs=1;training.steps_per_epoch=2;training.batch_size=4;training.max_eval_examples=4" + overrides}
    done = subprocess.run([sys.executable, str(ACCURACY / "run.py"), "--job", job], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_multitask_job_runs_end_to_end_on_the_shared_corpora_and_scores_biored(accuracy, shared_data):
    """The joint model's job, as a driver launches it (its own process), at a few steps: training on five corpora
    with per-source heads, the five test sets, and BioRED through the pipeline. The code after hours of training."""
    run, _ = accuracy
    job = "multitask.joint.seed1"
    _run_job_at_two_steps(run, job, "flat.srunear", test_limit=4)
    results = run.load_results()
    details = results["details"][job]
    assert details["status"] == "done" and details["sources"] == run.MULTITASK_SOURCES
    assert (details["encoder_learning_rate"], details["decoder_learning_rate"]) == (3e-5, 3e-4)  # the sweep's picks
    assert details["test_sentences"] == {name: 4 for name in run.MULTITASK_SOURCES}
    assert {split: block["documents"] for split, block in details["biored"].items()} == {"dev": 4, "test": 4}
    assert sorted(details["biored"]["test"]["per_type"]) == ["Chemical", "Disease", "Gene_or_protein", "Species"]
    expected = {*(f"multitask.joint.{n}" for n in run.MULTITASK_SOURCES), "multitask.joint.average",
                *(f"crosscorpus.joint.biored.{t}" for t in ("Chemical", "Disease", "Gene_or_protein", "Species")),
                "crosscorpus.joint.biored.average"}
    assert set(details["scores"]) == expected
    assert all(len(results[f"{key}_runs"]) == 1 for key in expected)
    assert run.main(["--tables"]) == 0
    average = results["multitask.joint.average"]
    assert f"| **average** | {average:.2f} (1 seed) | – |" in run.TABLES.read_text(encoding="utf-8")


def test_a_genia_job_runs_end_to_end_and_records_the_threshold_chosen_on_dev(accuracy, shared_data):
    """A GENIA SRU-NER job as a driver launches it, at two steps: the test scores at the default threshold, and the
    threshold chosen on dev with its test scores, recorded as the second SRU-NER row of the GENIA table."""
    run, _ = accuracy
    job = "genia_full.srunear.seed1"
    _run_job_at_two_steps(run, job, "genia.srunear", test_limit=6, overrides=";training.max_train_examples=16")
    results = run.load_results()
    details = results["details"][job]
    choice = details["dev_threshold"]
    assert choice["default"] == 0.5 and set(choice["dev"]) == {f"{t:g}" for t in run.DEV_THRESHOLDS}
    assert choice["chosen"] in run.DEV_THRESHOLDS
    chosen_f1 = choice["dev"][f"{choice['chosen']:g}"]["f1"]
    assert all(chosen_f1 >= row["f1"] for row in choice["dev"].values())
    assert set(details["scores"]) == {"genia_full.srunear.all", "genia_full.srunear.nested",
                                      "genia_full.srunear_dev_threshold.all", "genia_full.srunear_dev_threshold.nested"}
    assert results["genia_full.srunear_dev_threshold.all_runs"] == [round(choice["test"]["genia"]["f1"], 2)]
    assert run.main(["--tables"]) == 0
    assert f"| SRU-NER, threshold chosen on dev ({choice['chosen']:g}) |" in run.TABLES.read_text(encoding="utf-8")


def _bundle_blob(tmp_path) -> bytes:
    """A packed bundle as `offline_machine.pack` makes it, without wheels: the corpora tarball alone."""
    corpus = tmp_path / "corpora" / "data" / "ncbi_disease"
    corpus.mkdir(parents=True)
    (corpus / "train.tsv").write_text("Cancer\tB-Disease\n", encoding="utf-8")
    offline = importlib.import_module("offline_machine")
    return offline.bundle_blob([], offline.corpora_tarball(tmp_path / "corpora" / "data"))


def test_an_offline_machine_bundle_is_ready_only_once_every_part_has_come(accuracy, tmp_path):
    """Parts carried in separate calls gather in the bundle folder; the last one unpacks the corpora."""
    offline = importlib.import_module("offline_machine")
    blob = _bundle_blob(tmp_path)
    parts = offline.write_parts(blob, tmp_path / "packed", part_mib=len(blob) / 3.5 / 2**20)
    assert [p.name for p in parts] == ["part1", "part2", "part3", "part4"]
    bundle, there = tmp_path / "bundle", tmp_path / "there"
    for part in parts[:-1]:
        assert offline.unpack(part, bundle=bundle, data_parent=there) is False
    assert not (there / "data").exists()
    assert offline.unpack(parts[-1], bundle=bundle, data_parent=there) is True
    assert (there / "data" / "ncbi_disease" / "train.tsv").read_text(encoding="utf-8") == "Cancer\tB-Disease\n"
    assert offline.site_folder(bundle).is_dir()


def test_an_offline_machine_gets_every_requirement_of_the_project(accuracy):
    """A requirement neither carried nor in the image fails the jobs there only after training (seqeval did)."""
    import re
    import tomllib

    offline = importlib.import_module("offline_machine")
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower().replace("_", "-") for r in requirements}
    assert names - set(offline.CARRIED) - offline.IN_DEVICE_IMAGE == set()


def test_an_offline_machine_installs_where_datasets_hashes_modules_by_reference(accuracy, tmp_path, monkeypatch):
    """dill pickles a module outside a "site-packages" folder by value; a carried pyarrow then failed every job."""
    from datasets.fingerprint import Hasher

    offline = importlib.import_module("offline_machine")
    for folder, by_reference in ((offline.site_folder(tmp_path / "bundle"), True), (tmp_path / "elsewhere", False)):
        folder.mkdir(parents=True)
        name = f"carried_{folder.name.replace('-', '_')}"
        (folder / f"{name}.py").write_text("import pyarrow\nSTRUCT = pyarrow.lib.MonthDayNano\n", encoding="utf-8")
        monkeypatch.syspath_prepend(str(folder))
        module = importlib.import_module(name)
        if by_reference:
            assert len(Hasher.hash(module)) == 16
        else:
            with pytest.raises(Exception, match="MonthDayNano"):
                Hasher.hash(module)


def test_an_offline_machine_bundle_refuses_parts_of_two_packs(accuracy, tmp_path):
    offline = importlib.import_module("offline_machine")
    blob = _bundle_blob(tmp_path)
    size = len(blob) / 1.5 / 2**20
    first = offline.write_parts(blob, tmp_path / "a", part_mib=size)
    second = offline.write_parts(bytes([blob[0] ^ 1]) + blob[1:], tmp_path / "b", part_mib=size)
    bundle = tmp_path / "bundle"
    assert offline.unpack(first[0], bundle=bundle, data_parent=tmp_path / "there") is False
    with pytest.raises(SystemExit, match="SHA-256 differs"):
        offline.unpack(second[1], bundle=bundle, data_parent=tmp_path / "there")


def test_an_offline_machine_refuses_to_pack_into_the_repository_unignored_or_to_drive_before_unpacking(accuracy, tmp_path):
    offline = importlib.import_module("offline_machine")
    with pytest.raises(SystemExit, match="not ignored by git"):
        offline.main(["pack", "--out", str(REPO_ROOT / "benchmarks" / "bundle_here")])
    assert not (REPO_ROOT / "benchmarks" / "bundle_here").exists()
    with pytest.raises(SystemExit, match="unpack. every part first"):
        offline.drive(["multitask"], drivers=1, seconds=1, out=tmp_path / "out", bundle=tmp_path / "nothing")


def test_an_offline_machine_drive_starts_no_job_when_a_carried_package_fails(accuracy, tmp_path, monkeypatch):
    offline = importlib.import_module("offline_machine")
    offline.site_folder(tmp_path / "bundle").mkdir(parents=True)
    monkeypatch.setattr(offline, "CARRIED", [*offline.CARRIED, "no-such-carried-package"])
    monkeypatch.setattr(offline, "WORK", tmp_path / "work")
    with pytest.raises(SystemExit, match="no job was started(.|\\n)*no_such_carried_package"):
        offline.drive(["no_such_job"], drivers=1, seconds=60, out=tmp_path / "out", bundle=tmp_path / "bundle")
    assert not (tmp_path / "work" / "logs").exists()


def test_an_offline_machine_drive_leaves_few_files_with_every_driver_log_in_one(accuracy, tmp_path, monkeypatch):
    """What comes back from such a machine is a handful of files: the results, and the drivers' logs in one."""
    offline = importlib.import_module("offline_machine")
    offline.site_folder(tmp_path / "bundle").mkdir(parents=True)
    monkeypatch.setattr(offline, "start_mps", lambda: None)
    work = tmp_path / "work"
    monkeypatch.setattr(offline, "WORK", work)
    assert offline.drive(["no_such_job"], drivers=2, seconds=60, out=tmp_path / "out", bundle=tmp_path / "bundle") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["accuracy.json", "job_logs.txt"]
    logs = (tmp_path / "out" / "job_logs.txt").read_text(encoding="utf-8")
    assert "== driver1.log" in logs and "== driver2.log" in logs
    assert logs.count("no job matches ['no_such_job']") == 2
    # the next call on the same warm machine goes on from the results (and checkpoints) the last one left there
    recorded = json.loads((work / "accuracy.json").read_text(encoding="utf-8"))
    recorded["details"]["multitask.joint.seed2"] = {"status": "done", "scores": {"multitask.joint.average": 61.0}}
    (work / "accuracy.json").write_text(json.dumps(recorded), encoding="utf-8")
    assert offline.drive(["no_such_job"], drivers=1, seconds=60, out=tmp_path / "out2", bundle=tmp_path / "bundle") == 0
    again = json.loads((tmp_path / "out2" / "accuracy.json").read_text(encoding="utf-8"))
    assert again["details"]["multitask.joint.seed2"]["status"] == "done"
