"""pipeline("srunear-ner"): inputs, offsets, long texts, batching, options, both ways of loading."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import BLOCK_PROJECT_IMPORTS, save_nudged_tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import pipeline




@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, tokenizer):
    return save_nudged_tiny_model(tmp_path_factory.mktemp("model"), tokenizer)


@pytest.fixture(scope="module")
def ner(model_folder):
    return pipeline("srunear-ner", model=str(model_folder))


TEXT = "BRCA1 mutations cause breast cancer. The p53 protein binds DNA after cisplatin treatment."


def check_offsets(text, entities):
    for entity in entities:
        assert text[entity["start"] : entity["end"]] == entity["word"]
        assert set(entity) == {"entity_group", "score", "word", "start", "end"}
    keys = [(e["start"], -e["end"]) for e in entities]
    assert keys == sorted(keys)


def test_string_input_finds_entities_with_exact_offsets(ner):
    entities = ner(TEXT)
    assert entities, "the nudged model should find Gene spans"
    check_offsets(TEXT, entities)


def test_list_of_strings_and_batching_give_the_same_entities(ner):
    texts = [TEXT, "", "Short one.", TEXT + " " + TEXT]
    one_by_one = [ner(t) for t in texts]
    batched = ner(texts, batch_size=3)
    assert len(batched) == len(texts)
    for single, many in zip(one_by_one, batched):
        assert [(e["start"], e["end"], e["entity_group"]) for e in single] == [
            (e["start"], e["end"], e["entity_group"]) for e in many
        ]
        assert all(abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(single, many))


def test_pre_split_words(ner):
    words = ["The", "p53", "protein", "binds", "DNA"]
    entities = ner(words, is_split_into_words=True)
    check_offsets(" ".join(words), entities)
    both = ner([words, words[:2]], is_split_into_words=True)
    assert both[0] == entities


@pytest.mark.parametrize("text", ["", "   ", "\t\n", "...!?", "  p53\tbinds\n\nDNA  ", "Ünïcödé p53 — 北京 🧬 binds."])
def test_awkward_texts(ner, text):
    check_offsets(text, ner(text))


def test_long_text_is_split_into_windows_and_nothing_is_lost(ner):
    words = [f"gene{i}" for i in range(200)]  # one "sentence", far over the 24-token limit
    text = " ".join(words)
    from modeling_srunear.text_segmentation import split_words

    split = split_words(text)
    chunks = list(ner.chunk_words(text, split))
    assert len(chunks) > 5
    assert [w for chunk in chunks for w in chunk] == split  # every word, in order, once
    limit = ner.model.config.max_subword_tokens - ner.tokenizer.num_special_tokens_to_add()
    for chunk in chunks:
        assert len(ner.tokenizer([w for w, _, _ in chunk], is_split_into_words=True, add_special_tokens=False)["input_ids"]) <= limit
    check_offsets(text, ner(text))


def test_threshold_and_entity_type_options(ner):
    everything = ner(TEXT)
    assert ner(TEXT, threshold=1.01) == []
    assert all(e["entity_group"] == "Gene" for e in ner(TEXT, entity_types=["Gene"]))
    assert len(ner(TEXT, entity_types=["Gene"])) == sum(e["entity_group"] == "Gene" for e in everything)
    with pytest.raises(ValueError, match="unknown entity types"):
        ner(TEXT, entity_types=["Planet"])


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_offsets_hold_for_any_text(ner, text):
    check_offsets(text, ner(text))


REMOTE_PIPELINE = textwrap.dedent(
    """
    import json, sys
    from transformers import pipeline
    ner = pipeline("srunear-ner", model=sys.argv[1], trust_remote_code=True)
    assert type(ner).__module__.startswith("transformers_modules"), type(ner).__module__
    print(json.dumps(ner(%(text)r)))
    """
)


def test_pipeline_with_trust_remote_code_in_a_process_without_the_project(ner, model_folder, tmp_path):
    elsewhere = tmp_path / "copy"
    shutil.copytree(model_folder, elsewhere)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    script = BLOCK_PROJECT_IMPORTS + REMOTE_PIPELINE % {"text": TEXT}
    result = subprocess.run([sys.executable, "-c", script, str(elsewhere)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads([line for line in result.stdout.splitlines() if line.startswith("[")][-1])
    local = ner(TEXT)
    assert [(e["start"], e["end"], e["entity_group"]) for e in remote] == [(e["start"], e["end"], e["entity_group"]) for e in local]


def test_per_source_heads_of_one_type_come_back_as_one_entity(ner, model_folder):
    """The nudged model's "genes" and "all" Gene heads both find every word: one Gene entity each."""
    from modeling_srunear import SRUNERModel

    model = SRUNERModel.from_pretrained(model_folder)
    assert model.config.per_source_heads and "genes$Gene" in model.config.head_names
    text = "p53 binds DNA"
    entities = ner(text)
    assert [(e["word"], e["entity_group"]) for e in entities] == [("p53", "Gene"), ("binds", "Gene"), ("DNA", "Gene")]
    with_sources = ner(text, return_sources=True)
    for entity in with_sources:
        assert set(entity["sources"]) == {"all", "genes"}
        assert entity["score"] == max(entity["sources"].values())
