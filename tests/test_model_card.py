"""The model card: template markers all filled, sections present, sources and metrics tables rendered."""

import re

import pytest
import yaml
from helpers import REPO_ROOT, tiny_config

from srunear.metrics import evaluate_sources, markdown_table
from srunear.model_card import PLACEHOLDER, TEMPLATE_PATH, fill_template, render_model_card, write_model_card

SECTIONS = [
    "## Intended use",
    "## Sources and entity types",
    "## Training on partially annotated corpora: label masks",
    "## Training",
    "## Evaluation",
    "## Limitations",
    "## How to load",
    "## Citation",
]


@pytest.fixture
def report():
    gold = [[(0, 1, "Gene"), (2, 4, "Disease")], [(1, 2, "Chemical")]]
    predicted = [[(0, 1, "Gene"), (2, 3, "Disease")], [(1, 2, "Chemical")]]
    return evaluate_sources({
        "genes": (gold, predicted, ["Gene"]),
        "diseases": (gold, predicted, ["Disease", "Chemical"]),
    })


def front_matter(text):
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_template_is_the_repository_root_file():
    assert TEMPLATE_PATH == REPO_ROOT / "model_card.md" and TEMPLATE_PATH.is_file()


def test_written_card_has_everything_and_no_placeholder(tmp_path, report):
    config = tiny_config(encoder_name_or_path="sentence-transformers/all-MiniLM-L6-v2")
    path = write_model_card(tmp_path / "my-model", config, metrics_report=report,
                            training_summary={"epochs": 3, "sources": ["genes", "diseases"]}, model_id="me/my-model")
    assert path == tmp_path / "my-model" / "README.md"
    text = path.read_text(encoding="utf-8")
    assert not PLACEHOLDER.search(text) and "{{" not in text
    meta = front_matter(text)
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "token-classification"
    assert meta["license"] == "apache-2.0" and meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert {"nested-ner", "biomedical"} <= set(meta["tags"])
    positions = [text.index(section + "\n") for section in SECTIONS]
    assert positions == sorted(positions)
    assert markdown_table(report).strip() in text
    assert "| `diseases` | Disease, Chemical |" in text and "| `genes` | Gene |" in text
    assert "| epochs | 3 |" in text and '| sources | ["genes", "diseases"] |' in text
    assert "# my-model" in text
    assert 'pipeline("srunear-ner", model="me/my-model", trust_remote_code=True)' in text
    assert 'AutoModel.from_pretrained("me/my-model", trust_remote_code=True)' in text
    assert "arXiv:2507.18542" in text and "BioNLP 2025" in text
    assert "pysbd" in text.lower() and "entity linking" in text and "(405 subword tokens" in text
    assert "(bert, 1 layer, hidden size 32)" in text
    assert not list(path.parent.glob(".*tmp"))  # the temporary file was renamed away


def test_card_without_metrics_or_summary_and_with_a_local_encoder(tmp_path):
    config = tiny_config(encoder_name_or_path=str(tmp_path))  # a local path is no Hub base_model
    text = write_model_card(tmp_path, config).read_text(encoding="utf-8")
    assert "base_model" not in front_matter(text)
    assert "No evaluation results were recorded" in text and "No training summary was recorded" in text
    assert not PLACEHOLDER.search(text)


def test_inserted_text_is_never_substituted_again(tmp_path):
    config = tiny_config(sources={"{{license}}": ["Gene"], "a|b": ["Disease"]})
    text = render_model_card(config, training_summary="Trained with {{metrics}} in the notes.", license="mit")
    assert "`{{license}}`" in text and "Trained with {{metrics}} in the notes." in text
    assert "| `a\\|b` | Disease |" in text and front_matter(text)["license"] == "mit"


def test_every_template_marker_is_known_and_filled():
    markers = set(PLACEHOLDER.findall(TEMPLATE_PATH.read_text(encoding="utf-8")))
    assert {"sources_table", "metrics", "training", "model_id", "license"} <= markers
    with pytest.raises(ValueError, match="markers without values"):
        fill_template("{{a}} {{b}}", {"a": "1"})
    with pytest.raises(ValueError, match=re.escape("values without markers ['b']")):
        fill_template("{{a}}", {"a": "1", "b": "2"})


def test_missing_template_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model card template not found"):
        render_model_card(tiny_config(), template=tmp_path / "nowhere.md")
