"""pipeline("srunear-ner"): inputs, offsets, long texts, batching, options, both ways of loading."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
from helpers import BLOCK_PROJECT_IMPORTS
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling_srunear.pipeline_srunear import DEFAULT_BATCH_SIZE
from modeling_srunear.text_segmentation import split_words




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
    chunks = [chunk for chunk, _ in ner.encoded_chunks(text, split)]
    assert len(chunks) > 5
    assert [w for chunk in chunks for w in chunk] == split  # every word, in order, once
    limit = ner.model.config.max_subword_tokens - ner.tokenizer.num_special_tokens_to_add()
    for chunk in chunks:
        assert len(ner.tokenizer([w for w, _, _ in chunk], is_split_into_words=True, add_special_tokens=False)["input_ids"]) <= limit
    check_offsets(text, ner(text))


def test_threshold_and_entity_type_options(ner):
    everything = ner(TEXT)
    top = max(e["score"] for e in everything)
    assert ner(TEXT, threshold=top) == [e for e in everything if e["score"] >= top]
    assert all(e["entity_group"] == "Gene" for e in ner(TEXT, entity_types=["Gene"]))
    assert len(ner(TEXT, entity_types=["Gene"])) == sum(e["entity_group"] == "Gene" for e in everything)
    with pytest.raises(ValueError, match="unknown entity types"):
        ner(TEXT, entity_types=["Planet"])


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), -0.1, 1.01, "0.5", True])
def test_a_threshold_outside_0_to_1_is_refused(ner, threshold):
    with pytest.raises(ValueError, match=r"threshold must be a number from 0 to 1 .*got " + re.escape(repr(threshold))):
        ner(TEXT, threshold=threshold)


def test_one_entity_type_as_a_string_is_one_type_not_its_letters(ner):
    assert ner(TEXT, entity_types="Gene") == ner(TEXT, entity_types=["Gene"])
    with pytest.raises(ValueError, match=r"unknown entity types \['Chem'\]"):
        ner(TEXT, entity_types="Chem")
    with pytest.raises(ValueError, match="non-empty list"):
        ner(TEXT, entity_types=[])


def test_a_string_with_is_split_into_words_is_refused(ner):
    with pytest.raises(TypeError, match="expects a list of words .*got a string"):
        ner("a plain string", is_split_into_words=True)


@pytest.mark.parametrize("inputs, split, message", [
    (["IL-2", 5, "promoter"], True, r"word 1 is 5 \(int\)"),
    (["IL-2", None], True, r"word 1 is None"),
    ([["IL-2", "binds"], ["p53", 5]], True, r"item 1, word 1 is 5"),
    ([["IL-2"], "p53 binds"], True, r"word 0 is \['IL-2'\]"),
    ([["IL-2"], None], True, r"item 1 of the input list is None .*expected a list of words"),
    (["p53 binds.", 5], False, r"item 1 of the input list is 5 \(int\); expected a string"),
    ([None], False, r"item 0 of the input list is None"),
])
def test_non_string_items_are_named_by_position(ner, inputs, split, message):
    with pytest.raises(TypeError, match=message):
        ner(inputs, is_split_into_words=split)


def test_an_empty_list_gives_an_empty_list(ner):
    assert ner([]) == [] and ner([], is_split_into_words=True) == [] and ner(()) == []


def test_a_lone_surrogate_is_refused_with_its_position(ner):
    text = "p53 binds \ud800 DNA"
    with pytest.raises(ValueError, match=r"lone surrogate U\+D800 at character 10"):
        ner(text)
    with pytest.raises(ValueError, match="lone surrogate U\\+DC00 at character 4"):
        ner([TEXT, "IL-2\udc00"])
    with pytest.raises(ValueError, match="lone surrogate"):
        ner(["p53", "\udfff"], is_split_into_words=True)


def test_a_document_is_batched_by_default_with_the_same_entities(ner, monkeypatch):
    text = " ".join(f"Sentence {i} names BRCA{i} here." for i in range(40))
    one_by_one = ner(text, batch_size=1)
    assert len(list(ner.encoded_chunks(text, split_words(text)))) == 40
    sizes, characters = [], []
    forward = ner._forward

    def counting(model_inputs, **options):
        sizes.append(len(model_inputs["is_last"]) if isinstance(model_inputs["is_last"], list) else 1)
        return forward(model_inputs, **options)

    monkeypatch.setattr(ner, "_forward", counting)
    assert ner(text, progress=characters.append) == one_by_one
    assert sizes == [DEFAULT_BATCH_SIZE, 40 - DEFAULT_BATCH_SIZE]  # 40 sentences in two forward passes
    assert sum(characters) == len(text)  # progress accounts for every character once


def test_a_list_is_batched_by_length_and_answered_in_input_order(ner, monkeypatch):
    lengths = [3, 40, 1, 25, 9, 33, 2, 17]
    texts = [" ".join(f"BRCA{i}" if i % 4 == 0 else "word" for i in range(n)) + "." for n in lengths]
    one_by_one = [ner(t) for t in texts]
    widths = []
    forward = ner._forward

    def recording(model_inputs, **options):
        widths.append(model_inputs["input_ids"].shape[-1])
        return forward(model_inputs, **options)

    monkeypatch.setattr(ner, "_forward", recording)
    assert ner(texts, batch_size=3) == one_by_one
    chunks = sum(len(list(ner.encoded_chunks(t, split_words(t)))) for t in texts)
    assert len(widths) == -(-chunks // 3)  # every chunk of every text in full batches of 3
    assert widths == sorted(widths) and widths[0] < widths[-1] // 2  # short chunks together, long ones together


def test_progress_counts_every_character_of_every_text(ner):
    texts = [TEXT, "", "   ", " ".join(["gene"] * 120)]
    characters = []
    ner(texts, batch_size=3, progress=characters.append)
    assert sum(characters) == sum(map(len, texts))


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
