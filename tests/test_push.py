"""Publishing to the Hub without network: card metadata, the staged folder, the HfApi calls, train.py end to end."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from helpers import BLOCK_PROJECT_IMPORTS, save_nudged_tiny_model
from huggingface_hub import HfApi, ModelCard, ModelCardData

from srunear.metrics import evaluate_sources
from srunear.push import PushError, card_data, push, stage

TEXT = "BRCA1 mutations cause breast cancer."


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, tokenizer):
    folder = save_nudged_tiny_model(tmp_path_factory.mktemp("model"), tokenizer)
    gold = [[(0, 1, "Gene")], [(1, 2, "Gene")]]
    for split, predicted in (("dev", gold), ("test", [[(0, 1, "Gene")], []])):
        report = evaluate_sources({"genes": (gold, predicted, ["Gene"]), "all": (gold, gold, ["Gene", "Disease"])})
        (folder / f"eval_{split}.json").write_text(json.dumps(report), encoding="utf-8")
    return folder


def test_card_metadata_validates_and_round_trips(model_folder):
    config = json.loads((model_folder / "config.json").read_text())
    config["encoder_name_or_path"] = "michiyasunaga/BioLinkBERT-base"
    reports = {split: json.loads((model_folder / f"eval_{split}.json").read_text()) for split in ("dev", "test")}
    data = card_data(config, reports, "my-model", datasets={"genes": "bigbio/genes"})
    assert isinstance(data, ModelCardData)
    text = f"---\n{data.to_yaml()}\n---\n\n# my-model\n"
    again = ModelCard(text).data
    assert again.to_dict() == data.to_dict()
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "token-classification"
    assert {"srunear", "nested-ner", "biomedical"} <= set(meta["tags"])
    assert meta["base_model"] == "michiyasunaga/BioLinkBERT-base" and meta["datasets"] == ["bigbio/genes"]
    results = {(r.dataset_type, r.dataset_name, r.dataset_split): r.metric_value for r in again.eval_results}
    assert results == {("bigbio/genes", "genes", "dev"): 100.0, ("all", "all", "dev"): 100.0,
                       ("bigbio/genes", "genes", "test"): 66.67, ("all", "all", "test"): 100.0}
    assert meta["model-index"][0]["name"] == "my-model"


def test_local_encoder_path_is_not_a_base_model(model_folder):
    config = {"encoder_name_or_path": str(model_folder)}
    assert card_data(config, {}, "m").base_model is None


REMOTE = textwrap.dedent(
    """
    import json, sys
    from transformers import pipeline
    ner = pipeline("srunear-ner", model=sys.argv[1], trust_remote_code=True)
    assert type(ner).__module__.startswith("transformers_modules"), type(ner).__module__
    print(json.dumps(ner(%(text)r)))
    """
)


def test_staged_folder_loads_with_remote_code_in_a_process_without_the_project(model_folder, tmp_path):
    from transformers import pipeline

    staged = stage(model_folder, "me/tiny-srunear", tmp_path / "staged")
    card = ModelCard.load(staged / "README.md")
    assert card.data.library_name == "transformers" and card.data.model_name == "tiny-srunear"
    assert 'pipeline("srunear-ner", model="me/tiny-srunear", trust_remote_code=True)' in card.text
    assert "Measured on the **test** split" in card.text
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    result = subprocess.run([sys.executable, "-c", BLOCK_PROJECT_IMPORTS + REMOTE % {"text": TEXT}, str(staged)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads([line for line in result.stdout.splitlines() if line.startswith("[")][-1])
    local = pipeline("srunear-ner", model=str(model_folder))(TEXT)
    assert remote and [(e["start"], e["end"], e["entity_group"]) for e in remote] == [
        (e["start"], e["end"], e["entity_group"]) for e in local]


@pytest.fixture
def hub_calls(monkeypatch):
    """Replace the two network calls of HfApi; the upload records what the staged folder held."""
    calls = []

    def create_repo(self, repo_id, **options):
        calls.append(("create_repo", repo_id, options))

    def upload_folder(self, *, repo_id, folder_path, commit_message, **options):
        folder = Path(folder_path)
        files = sorted(p.name for p in folder.iterdir())
        card = ModelCard.load(folder / "README.md")
        calls.append(("upload_folder", repo_id, {"files": files, "commit_message": commit_message, "card": card, **options}))
        return "commit-info"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_push_creates_the_repo_and_uploads_the_staged_folder(model_folder, hub_calls):
    assert push(model_folder, "org/name", private=True, commit_message="first") == "commit-info"
    (create, repo_id, options), (upload, upload_repo, uploaded) = hub_calls
    assert (create, repo_id, options) == ("create_repo", "org/name", {"repo_type": "model", "private": True, "exist_ok": True})
    assert (upload, upload_repo, uploaded["commit_message"], uploaded["repo_type"]) == ("upload_folder", "org/name", "first", "model")
    assert {"model.safetensors", "config.json", "tokenizer_config.json", "README.md", "modeling_srunear.py",
            "pipeline_srunear.py"} <= set(uploaded["files"])
    assert len(uploaded["card"].data.eval_results) == 4


def test_push_refuses_an_incomplete_folder_or_a_bad_id(model_folder, tmp_path, hub_calls):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(model_folder, broken)
    (broken / "pipeline_srunear.py").unlink()
    with pytest.raises(PushError, match="missing pipeline_srunear.py"):
        push(broken, "org/name")
    with pytest.raises(PushError, match="ORG/NAME"):
        push(model_folder, "just-a-name")
    assert hub_calls == []


def test_push_command_line(model_folder, hub_calls, capsys):
    from srunear.push import main

    assert main([str(model_folder), "org/cli", "--dataset", "genes=bigbio/genes"]) == 0
    card = hub_calls[-1][2]["card"]
    assert card.data.datasets == ["bigbio/genes"]
    assert "pushed" in capsys.readouterr().err


# --------------------------------------------------------------------------- brat + BioC train, evaluate, push

WORDS = "the of cells protein binds in patients with cancer aspirin mice tumour".split()


def write_standoff_corpora(folder: Path) -> dict:
    """A brat corpus (Gene) and a BioC XML corpus (Disease), train/dev/test each; the experiment's sources."""
    rng = random.Random(1)
    sources = {"name": "genes", "format": "brat", "paths": {}}, {"name": "diseases", "format": "bioc", "paths": {}}
    for split, size in (("train", 12), ("dev", 4), ("test", 4)):
        documents = []
        for index in range(size):
            words = [rng.choice(WORDS) for _ in range(6)]
            gene, disease = rng.randrange(6), rng.randrange(6)
            words[gene] = "BRCA1"
            words[disease] = "anaemia" if disease != gene else words[disease]
            text = " ".join(words) + "."
            starts = [sum(len(w) + 1 for w in words[:i]) for i in range(6)]
            documents.append((f"{split}{index}", text, starts[gene], words[disease] == "anaemia" and starts[disease]))
        brat = folder / "brat" / split
        brat.mkdir(parents=True)
        for doc_id, text, gene, _ in documents:
            (brat / f"{doc_id}.txt").write_text(text, encoding="utf-8")
            (brat / f"{doc_id}.ann").write_text(f"T1\tGene {gene} {gene + 5}\tBRCA1\n", encoding="utf-8")
        xml = "".join(
            f"<document><id>{doc_id}</id><passage><offset>0</offset><text>{text}</text>"
            + (f'<annotation id="1"><infon key="type">Disease</infon><location offset="{disease}" length="7"/>'
               f"<text>anaemia</text></annotation>" if disease is not False else "")
            + "</passage></document>"
            for doc_id, text, _, disease in documents
        )
        (folder / f"{split}.xml").write_text(f"<collection><source>t</source><date>d</date><key>k</key>{xml}</collection>",
                                             encoding="utf-8")
        sources[0]["paths"][split] = f"brat/{split}"
        sources[1]["paths"][split] = f"{split}.xml"
    return list(sources)


def test_brat_and_bioc_corpora_train_evaluate_and_push(tmp_path, hub_calls):
    from helpers import REPO_ROOT
    from helpers import save_tiny_encoder

    from srunear.training import main as train_main

    encoder = save_tiny_encoder(tmp_path / "encoder")
    experiment = {"encoder": str(encoder), "model": {"half_context": 8}, "sources": write_standoff_corpora(tmp_path),
                  "training": {"epochs": 1, "batch_size": 4, "seed": 3}}
    config = tmp_path / "standoff.yaml"
    config.write_text(yaml.safe_dump(experiment), encoding="utf-8")
    output = tmp_path / "out"
    assert train_main([str(config), "--output-dir", str(output), "--push-to-hub", "org/standoff", "--hub-private"]) == 0
    best = output / "best"
    assert json.loads((best / "config.json").read_text())["sources"] == {"genes": ["Gene"], "diseases": ["Disease"]}
    assert {"dev", "test"} <= {p.stem.removeprefix("eval_") for p in best.glob("eval_*.json")}
    (_, repo_id, options), (_, _, uploaded) = hub_calls
    assert repo_id == "org/standoff" and options["private"] is True
    assert {(r.dataset_name, r.dataset_split) for r in uploaded["card"].data.eval_results} == {
        ("genes", "dev"), ("diseases", "dev"), ("genes", "test"), ("diseases", "test")}

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run([sys.executable, "evaluate.py", str(best), str(config), "--split", "test",
                             "--output", str(tmp_path / "scores.json")], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert set(scores["sources"]) == {"genes", "diseases"}
