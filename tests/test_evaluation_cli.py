"""evaluate.py: scores a trained model per source, on each source's own types, with unrepresentable gold as misses."""

from __future__ import annotations

import json
import sys

import yaml
from test_training import run_script, save_tiny_encoder, write_experiment

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
    assert set(report) == {"sources", "average_f1"}
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
