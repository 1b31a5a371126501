"""The accuracy benchmarks' scoring and tables: the parts of the long runs that run after hours of training."""

from __future__ import annotations

import importlib
import sys

import pytest

from tests.helpers import REPO_ROOT

ACCURACY = REPO_ROOT / "benchmarks" / "accuracy"


@pytest.fixture()
def accuracy(monkeypatch, tmp_path):
    """benchmarks/accuracy/run.py and ablations.py, with their results and work folders in tmp_path."""
    monkeypatch.setenv("SRUNEAR_ACCURACY_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("SRUNEAR_ACCURACY_RESULTS", str(tmp_path / "accuracy.json"))
    monkeypatch.setenv("SRUNEAR_ABLATION_RESULTS", str(tmp_path / "ablations.json"))
    monkeypatch.syspath_prepend(str(ACCURACY))
    monkeypatch.syspath_prepend(str(ACCURACY.parent))
    for name in ("run", "ablations"):
        sys.modules.pop(name, None)
    run = importlib.import_module("run")
    ablations = importlib.import_module("ablations")
    yield run, ablations
    for name in ("run", "ablations"):
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
