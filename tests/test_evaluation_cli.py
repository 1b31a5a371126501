"""evaluate.py: scores a trained model per source, on each source's own types, with unrepresentable gold as misses."""

from __future__ import annotations

import json
import sys

import yaml
from helpers import run_script, save_nudged_tiny_model, save_tiny_encoder, write_experiment

from srunear.metrics import markdown_table


def test_evaluate_cli_writes_report_and_table(tmp_path):
    encoder = save_tiny_encoder(tmp_path / "encoder")
    config = write_experiment(tmp_path, encoder, epochs=1)
    run_script(sys.executable, "train.py", str(config), "--output-dir", str(tmp_path / "out"))

    # A third source the model never saw, in a format with character offsets: one entity does not
    # start at a word boundary, so the reader drops it and the evaluation must count it as a miss.
    text = "Aspirin helps. The xBRCA1 gene binds."
    record = {"document_id": "d1", "passages": [{"id": "p", "text": [text], "offsets": [[0, len(text)]]}],
              "entities": [{"id": "e1", "type": "Chemical", "text": ["Aspirin"], "offsets": [[0, 7]]},
                           {"id": "e2", "type": "Gene", "text": ["BRCA1"], "offsets": [[20, 25]]}]}
    (tmp_path / "extra.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    experiment = yaml.safe_load(config.read_text())
    experiment["sources"].append({"name": "extra", "format": "bigbio_kb", "paths": {"test": "extra.jsonl"}})
    config.write_text(yaml.safe_dump(experiment), encoding="utf-8")

    output = tmp_path / "eval" / "test.json"
    result = run_script(sys.executable, "evaluate.py", str(tmp_path / "out" / "best"), str(config),
                        "--split", "test", "--output", str(output), "--batch-size", "4", "--model-card")
    report = json.loads(output.read_text())
    assert set(report) == {"sources", "average_f1", "decoding_threshold"} and report["decoding_threshold"] == 0.5
    assert list(report["sources"]) == ["genes", "diseases", "extra"]
    assert set(report["sources"]["genes"]["types"]) <= {"Gene"}  # the model's sources decide the types
    assert report["sources"]["genes"]["types"]["Gene"]["support"] == 10
    for block in report["sources"].values():
        assert set(block["micro"]) == {"precision", "recall", "f1"}
        assert all(0 <= v <= 100 for v in block["micro"].values())
    assert "unaligned: 1" in result.stdout
    extra = report["sources"]["extra"]
    assert extra["types"]["Chemical"]["support"] == 1  # an unknown source is scored on its mapped types
    assert extra["micro"]["recall"] <= 50.0  # the dropped Gene counts as a miss: 2 gold in all
    table = output.with_suffix(".md").read_text()
    assert table == markdown_table(report) and table in result.stdout
    card = (tmp_path / "out" / "best" / "README.md").read_text()
    assert "Measured on the **test** split" in card and table.strip() in card
    assert "| best epoch |" in card  # the training summary saved by train.py is kept


# --------------------------------------------------------------------------- refusing what cannot be scored


def evaluate_main(*argv: str) -> int:
    """evaluate.py's main in this process; it must leave the process as it found it."""
    import torch

    from srunear.evaluation import main

    status = main(list(argv))
    assert torch.is_grad_enabled()
    return status


def test_a_folder_that_is_not_an_srunear_model_is_refused(tmp_path, capsys):
    bert = save_tiny_encoder(tmp_path / "bert")
    config = write_experiment(tmp_path, bert)
    output = tmp_path / "report.json"
    capsys.readouterr()
    assert evaluate_main(str(bert), str(config), "--output", str(output)) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bert} holds a 'bert' model, not an SRU-NER ('srunear') model; give a folder saved by train.py (e.g. OUTPUT/best)\n"
    assert not output.exists()


def test_a_model_with_missing_or_unexpected_weights_is_refused(tmp_path, tokenizer, capsys):
    from safetensors.torch import load_file, save_file

    folder = save_nudged_tiny_model(tmp_path / "model", tokenizer)
    weights = load_file(folder / "model.safetensors")
    removed = sorted(weights)[-1]
    weights["extra.weight"] = weights.pop(removed)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    config = write_experiment(tmp_path, folder)
    output = tmp_path / "report.json"
    capsys.readouterr()
    assert evaluate_main(str(folder), str(config), "--output", str(output)) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"error: {folder} does not hold a complete SRU-NER model: missing weights {removed}; "
                          "unexpected weights extra.weight;")
    assert not output.exists()


def test_types_the_model_does_not_predict_count_as_misses(tmp_path, tokenizer, capsys):
    folder = save_nudged_tiny_model(tmp_path / "model", tokenizer)  # predicts Gene, Disease, Chemical
    (tmp_path / "species.tsv").write_text("Mice\tB-Species\nbind\tO\n\nE.\tB-Species\ncoli\tI-Species\ngrows\tO\n",
                                          encoding="utf-8")
    config = tmp_path / "species.yaml"
    config.write_text(yaml.safe_dump({"encoder": str(folder), "sources": [  # "genes" is a source the model knows
        {"name": "genes", "format": "iob", "paths": {"test": "species.tsv"}}]}), encoding="utf-8")
    output = tmp_path / "report.json"
    assert evaluate_main(str(folder), str(config), "--output", str(output)) == 0
    block = json.loads(output.read_text())["sources"]["genes"]
    assert block["unpredicted_types"] == {"Species": 2}
    assert block["types"]["Species"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert "Gene" in block["types"]  # the types the model learnt for this source are still scored
    assert "warning: source 'genes' annotates Species (2 mentions), which the model does not predict; they count as misses" \
        in capsys.readouterr().err


def test_a_decoding_threshold_chosen_on_the_command_line_reaches_the_decoder(tmp_path, tokenizer, capsys):
    folder = save_nudged_tiny_model(tmp_path / "model", tokenizer)  # its Gene actions have probability 0.73
    (tmp_path / "genes.tsv").write_text("BRCA1\tB-Gene\nbinds\tO\n", encoding="utf-8")
    config = tmp_path / "genes.yaml"
    config.write_text(yaml.safe_dump({"encoder": str(folder), "sources": [
        {"name": "genes", "format": "iob", "paths": {"dev": "genes.tsv"}}]}), encoding="utf-8")
    assert evaluate_main(str(folder), str(config), "--split", "dev") == 0
    assert "decoded at threshold 0.5 (the model's)" in capsys.readouterr().out
    assert evaluate_main(str(folder), str(config), "--split", "dev", "--threshold", "0.8") == 0
    assert "decoded at threshold 0.8 (--threshold)" in capsys.readouterr().out
    at_default = json.loads((folder / "eval_dev.json").read_text())
    at_high = json.loads((folder / "eval_dev_threshold0.8.json").read_text())  # beside it, not over it
    assert at_default["sources"]["genes"]["types"]["Gene"]["recall"] == 100.0
    assert at_high["sources"]["genes"]["types"]["Gene"]["recall"] == 0.0 and at_high["decoding_threshold"] == 0.8
    assert json.loads((folder / "config.json").read_text())["threshold"] == 0.5  # the saved model is untouched
    for bad in ("1.5", "0"):
        assert evaluate_main(str(folder), str(config), "--split", "dev", "--threshold", bad) == 2
        assert "--threshold must be a probability strictly between 0 and 1" in capsys.readouterr().err
    assert evaluate_main(str(folder), str(config), "--split", "dev", "--threshold", "0.4", "--model-card") == 2
    assert "--model-card describes the saved model" in capsys.readouterr().err


def test_user_errors_are_one_line_and_debug_shows_the_traceback(tmp_path):
    import os
    import subprocess

    from helpers import REPO_ROOT

    missing = tmp_path / "missing.yaml"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    plain = subprocess.run([sys.executable, "evaluate.py", str(tmp_path), str(missing)], cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.splitlines()[-1] == f"error: no experiment file at {missing}"
    for extra, debug_env in ((["--debug"], {}), ([], {"SRUNEAR_DEBUG": "1"})):
        debug = subprocess.run([sys.executable, "evaluate.py", str(tmp_path), str(missing), *extra], cwd=REPO_ROOT,
                               env={**env, **debug_env}, capture_output=True, text=True, timeout=120)
        assert debug.returncode == 1 and "Traceback" in debug.stderr and "FileNotFoundError" in debug.stderr
