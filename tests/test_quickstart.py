"""The quick start trains on the bundled sample corpus and finds real entities in the sample text."""

from srunear.quickstart import main
from srunear.sample_corpus import SAMPLE_SOURCES, SAMPLE_TEXT, SAMPLE_TYPES, sample_examples


def test_sample_corpus_has_partial_and_full_sources_nesting_and_unannotated_mentions():
    from srunear.sample_corpus import CHEMICALS

    examples = sample_examples()
    assert {e["source"] for e in examples} == set(SAMPLE_SOURCES)
    for example in examples:
        annotated = set(SAMPLE_SOURCES[example["source"]])
        assert {t for _, _, t in example["spans"]} <= annotated
    spans = [(s, e, t) for ex in examples for s, e, t in ex["spans"]]
    nested = [a for a in spans for b in spans if a != b and b[0] <= a[0] and a[1] <= b[1]]
    assert nested, "protein names inside DNA mentions"
    assert set(SAMPLE_TYPES) == {t for _, _, t in spans}
    # the partial sources leave the other source's mentions unannotated: what label masks are for
    gene_sentences = [e for e in examples if e["source"] == "genes_dna"]
    assert any(set(e["tokens"]) & set(CHEMICALS) for e in gene_sentences)
    full = [e for e in examples if e["source"] == "all_types"]
    assert full and {t for e in full for _, _, t in e["spans"]} == set(SAMPLE_TYPES)


def test_quickstart_trains_saves_reloads_and_finds_entities(tmp_path, capsys):
    entities = main(["--output-dir", str(tmp_path / "quickstart")])
    assert (tmp_path / "quickstart" / "model.safetensors").exists()
    assert (tmp_path / "quickstart" / "pipeline_srunear.py").exists()
    for entity in entities:
        assert SAMPLE_TEXT[entity["start"] : entity["end"]] == entity["word"]
    found = {(e["word"], e["entity_group"]) for e in entities}
    # the trained model must find real entities of both sources in the unseen sample text
    assert ("Cisplatin", "Chemical") in found
    assert {"NF-kappa B", "IL-2", "STAT3", "c-Jun"} & {w for w, t in found if t == "Protein"}
    assert "wall time" in capsys.readouterr().out
