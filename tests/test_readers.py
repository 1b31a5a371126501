"""Corpus readers: every format into one schema, malformed input named precisely, losses reported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import lost

from tokenization import (
    EXAMPLE_FEATURES,
    CharEntity,
    CorpusFormatError,
    Example,
    ReadReport,
    SourceConfig,
    Span,
    document_examples,
    load_source,
    load_sources,
    map_types,
    read_source,
    resolve_overlaps,
    tags_to_spans,
)
from modeling_srunear.text_segmentation import split_words
from tokenization.cleaning import pipeline_words


@pytest.fixture(autouse=True)
def isolated_datasets_cache(tmp_path, monkeypatch):
    """Keep `load_dataset`'s cache of test files out of the user's cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def entities(example: dict) -> list[tuple[str, str]]:
    """(type, covered words) of every span, easy to read in assertions."""
    return [(s["type"], " ".join(example["tokens"][s["start"] : s["end"]])) for s in example["spans"]]


def assert_offsets_match(example: dict) -> None:
    if example["text"]:
        assert [example["text"][s:e] for s, e in example["offsets"]] == example["tokens"]
    else:
        assert example["offsets"] == []


# --------------------------------------------------------------------------- tags


@pytest.mark.parametrize(
    "tags, expected, repaired",
    [
        (["B-X", "I-X", "O", "B-X", "B-X"], [(0, 2, "X"), (3, 4, "X"), (4, 5, "X")], 0),
        (["I-X", "I-X", "O", "I-Y", "I-X", "B-X", "I-X"], [(0, 2, "X"), (3, 4, "Y"), (4, 5, "X"), (5, 7, "X")], 3),
        (["S-X", "B-Y", "I-Y", "E-Y", "E-Y", "O"], [(0, 1, "X"), (1, 4, "Y"), (4, 5, "Y")], 1),
        (["U-X", "B-X", "L-X"], [(0, 1, "X"), (1, 3, "X")], 0),
        (["O", "O"], [], 0),
    ],
)
def test_tags_to_spans(tags, expected, repaired):
    spans, count = tags_to_spans(tags)
    assert [(s.start, s.end, s.type) for s in spans] == expected
    assert count == repaired


@pytest.mark.parametrize("tag", ["X-FOO", "B-", "B", "b-X", "", "BX"])
def test_invalid_tags(tag):
    with pytest.raises(ValueError, match="invalid tag"):
        tags_to_spans([tag])


# --------------------------------------------------------------------------- IOB files


def iob_source(path: Path, **extra) -> dict:
    return {"name": "toy", "format": "iob", "paths": {"train": str(path)}, **extra}


def test_iob_tab_and_space_columns_docstart_and_iob1(tmp_path):
    path = write(
        tmp_path / "train.tsv",
        "-DOCSTART-\tO\n\n"
        "Aspirin\tB-Chemical\nhelps\tO\nwith\tO\nacute\tB-Disease\npain\tI-Disease\n.\tO\n\n\n"
        "-DOCSTART- -X- O O\n\n"
        "EU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\ncall NN I-NP O\n",  # no final blank line
    )
    rows, report = read_source(iob_source(path), "train")
    assert [r["tokens"] for r in rows] == [["Aspirin", "helps", "with", "acute", "pain", "."], ["EU", "rejects", "German", "call"]]
    assert entities(rows[0]) == [("Chemical", "Aspirin"), ("Disease", "acute pain")]
    assert entities(rows[1]) == [("ORG", "EU"), ("MISC", "German")]
    assert rows[0]["doc_id"] != rows[1]["doc_id"]
    assert rows[0]["text"] == "" and rows[0]["offsets"] == []
    assert report.sentences == 2 and report.documents == 2 and report.entities == 4
    assert report.counts["iob_repaired"] == 2 and "iob_repaired" in report.summary()


def test_iob_missing_tag_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.tsv", "Aspirin\tB-Chemical\n\nhelps\n")
    with pytest.raises(CorpusFormatError, match=r"bad\.tsv:3: expected 'token<TAB>tag'") as caught:
        read_source(iob_source(path), "train")
    assert caught.value.line == 3 and caught.value.where.endswith("bad.tsv")


def test_iob_invalid_tag_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.tsv", "Aspirin\tB-Chemical\nhelps\tX-FOO\n")
    with pytest.raises(ValueError, match=r"bad\.tsv:2: invalid tag 'X-FOO'"):
        read_source(iob_source(path), "train")


def test_missing_file_and_split(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_source(iob_source(tmp_path / "absent.tsv"), "train")
    with pytest.raises(ValueError, match="no split 'dev'"):
        read_source(iob_source(tmp_path / "absent.tsv"), "dev")


# --------------------------------------------------------------------------- tag map, overlaps, merging


def test_tag_map_rename_merge_drop_and_prefix():
    spans = [Span(0, 1, "GENE"), Span(1, 2, "protein"), Span(2, 3, "DNA"), Span(3, 4, "cell_type")]
    tag_map = {"GENE": "Gene_or_protein", "protein": "Gene_or_protein", "DNA": None}
    kept, dropped = map_types(spans, tag_map)
    assert [s.type for s in kept] == ["Gene_or_protein", "Gene_or_protein", "cell_type"]
    assert dropped == [Span(2, 3, "DNA")]
    kept, dropped = map_types(spans, {**tag_map, "*": None}, prefix="jnlpba")
    assert [s.type for s in kept] == ["jnlpba:Gene_or_protein", "jnlpba:Gene_or_protein"]
    assert len(dropped) == 2


def test_resolve_overlaps_keeps_nesting_drops_same_type_crossing():
    spans = [Span(0, 3, "A"), Span(1, 2, "A"), Span(2, 5, "A"), Span(2, 4, "C"), Span(0, 3, "A"), Span(0, 3, "B")]
    kept, issues = resolve_overlaps(spans)
    assert sorted(kept) == [Span(0, 3, "A"), Span(0, 3, "B"), Span(1, 2, "A"), Span(2, 4, "C")]
    assert issues["crossing"] == [Span(2, 5, "A")]
    assert issues["duplicate"] == [Span(0, 3, "A")]
    assert issues["crossing_other_type"] == [Span(2, 4, "C")]


def test_read_source_reports_drops_crossings_and_long_sentences(tmp_path):
    path = write(
        tmp_path / "train.jsonl",
        json.dumps({"tokens": list("abcdef"), "doc_id": "d1", "entity_mentions": [
            {"start": 0, "end": 3, "entity_type": "GENE"}, {"start": 2, "end": 5, "entity_type": "protein"},
            {"start": 5, "end": 6, "entity_type": "DNA"}]}) + "\n",
    )
    config = {"name": "toy", "format": "jsonl_nested", "paths": {"train": str(path)}, "max_words": 4,
              "tag_map": {"GENE": "Gene_or_protein", "protein": "Gene_or_protein", "DNA": None}}
    dataset, report = load_source(config, "train")
    assert entities(dataset[0]) == [("Gene_or_protein", "a b c")]
    assert report.counts["crossing"] == 1 and report.counts["dropped_type"] == 1 and report.counts["too_long"] == 1
    assert lost(report) == 1
    summary = report.summary()
    for kind in ("crossing", "dropped_type", "too_long", "Gene_or_protein=1"):
        assert kind in summary


def test_reader_keeps_sentences_and_merge_sentences_is_auto_true_or_false(tmp_path):
    """Merging needs the encoder's tokenizer (srunear.splits.fit_split); the reader keeps sentences."""
    lines = [
        {"tokens": ["a", "b"], "doc_id": "d1", "entity_mentions": [{"start": 1, "end": 2, "entity_type": "X"}]},
        {"tokens": ["c", "d", "e"], "doc_id": "d1", "entity_mentions": [{"start": 0, "end": 3, "entity_type": "X"}]},
        {"tokens": ["h"], "doc_id": "d2", "entity_mentions": [{"start": 0, "end": 1, "entity_type": "Y"}]},
    ]
    path = write(tmp_path / "train.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    config = SourceConfig.from_dict({"name": "toy", "format": "jsonl_nested", "paths": {"train": str(path)}})
    rows, report = read_source(config, "train")
    assert [r["tokens"] for r in rows] == [["a", "b"], ["c", "d", "e"], ["h"]]
    assert report.sentences == 3 and report.examples == 3 and report.documents == 2
    assert config.merge_sentences == "auto" and config.merges(report.documents) and not config.merges(1)
    assert SourceConfig("t", "iob", {"train": "x"}, merge_sentences=True).merges(1)
    assert not SourceConfig("t", "iob", {"train": "x"}, merge_sentences=False).merges(5)
    with pytest.raises(ValueError, match="merge_sentences must be auto, true or false"):
        SourceConfig("t", "iob", {"train": "x"}, merge_sentences="maximize")


# --------------------------------------------------------------------------- nested JSON lines


def test_jsonl_nested_keeps_nested_mentions(tmp_path):
    line = {"tokens": ["IL-2", "receptor", "alpha", "gene"], "doc_id": "MEDLINE:1", "sent_id": "MEDLINE:1-0",
            "entity_mentions": [{"start": 0, "end": 4, "entity_type": "DNA", "text": "IL-2 receptor alpha gene"},
                                {"start": 0, "end": 3, "entity_type": "protein", "text": "IL-2 receptor alpha"},
                                {"start": 0, "end": 1, "entity_type": "protein", "text": "IL-2"}]}
    path = write(tmp_path / "dev.jsonl", json.dumps(line) + "\n")
    config = {"name": "genia", "format": "jsonl_nested", "paths": {"dev": str(path)}}
    dataset, report = load_source(dict(config, pipeline_words=False), "dev")
    assert dataset.features == EXAMPLE_FEATURES
    assert sorted(entities(dataset[0])) == [("DNA", "IL-2 receptor alpha gene"), ("protein", "IL-2"), ("protein", "IL-2 receptor alpha")]
    assert dataset[0]["doc_id"] == "MEDLINE:1" and dataset[0]["source"] == "genia"
    assert lost(report) == 0
    # by default the tokens are split as the pipeline splits text, and the spans follow
    dataset, report = load_source(config, "dev")
    assert dataset[0]["tokens"] == ["IL", "-", "2", "receptor", "alpha", "gene"]
    assert sorted(entities(dataset[0])) == [("DNA", "IL - 2 receptor alpha gene"), ("protein", "IL - 2"), ("protein", "IL - 2 receptor alpha")]
    assert lost(report) == 0


def test_jsonl_missing_tokens_names_line(tmp_path):
    good = json.dumps({"tokens": ["a"], "entity_mentions": []})
    bad = json.dumps({"words": ["b"], "entity_mentions": []})
    path = write(tmp_path / "dev.jsonl", f"{good}\n\n{bad}\n")
    with pytest.raises(CorpusFormatError, match=r"dev\.jsonl:3: missing 'tokens'"):
        read_source({"name": "g", "format": "jsonl_nested", "paths": {"dev": str(path)}}, "dev")


def test_jsonl_without_any_tokens_field(tmp_path):
    path = write(tmp_path / "dev.jsonl", json.dumps({"words": ["b"]}) + "\n")
    with pytest.raises(CorpusFormatError, match="no 'tokens' field"):
        read_source({"name": "g", "format": "jsonl_nested", "paths": {"dev": str(path)}}, "dev")


def test_jsonl_entity_beyond_sentence_names_line(tmp_path):
    line = {"tokens": ["a", "b"], "entity_mentions": [{"start": 1, "end": 3, "entity_type": "X"}]}
    path = write(tmp_path / "dev.jsonl", json.dumps({"tokens": ["z"], "entity_mentions": []}) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(CorpusFormatError, match=r"dev\.jsonl:2: mention \[1:3\] must satisfy .* <= 2"):
        read_source({"name": "g", "format": "jsonl_nested", "paths": {"dev": str(path)}}, "dev")


def test_jsonl_not_json(tmp_path):
    path = write(tmp_path / "dev.jsonl", '{"tokens": ["a"]}\n{"tokens": [\n')
    with pytest.raises(CorpusFormatError, match=r"dev\.jsonl:2: expected one JSON object per line"):
        read_source({"name": "g", "format": "jsonl_nested", "paths": {"dev": str(path)}}, "dev")


# --------------------------------------------------------------------------- PubTator

PUBTATOR = (
    "100|t|Aspirin and heart attack.\n"
    "100|a|We gave aspirin to 20 patients. The IL2R gene was found in mice.\n"
    "100\t0\t7\tAspirin\tChemical\tD001241\n"
    "100\t12\t24\theart attack\tDisease\tD009203\n"
    "100\t34\t41\taspirin\tChemical\tD001241\n"
    "100\tAssociation\t4683\tD001241\tNovel\n"
    "100\t62\t64\tIL\tGene\t3559\n"  # inside the word IL2R: unaligned
    "100\t85\t89\tmice\tSpecies\t10090\n"
    "100\t1\t4\tXXX\tChemical\t-\n"  # text at 1..4 is 'spi': mismatch
    "\n"
    "200|t|Second title\n"
    "200|a|\n"
    "200\t0\t6\tSecond\tThing\t-\n"
)


def test_pubtator_document(tmp_path):
    path = write(tmp_path / "dev.pubtator", PUBTATOR)
    rows, report = read_source({"name": "bio", "format": "pubtator", "paths": {"dev": str(path)}}, "dev")
    texts = [r["text"] for r in rows]
    assert texts == ["Aspirin and heart attack.", "We gave aspirin to 20 patients.", "The IL2R gene was found in mice.", "Second title"]
    assert entities(rows[0]) == [("Chemical", "Aspirin"), ("Disease", "heart attack")]
    assert entities(rows[1]) == [("Chemical", "aspirin")]
    assert entities(rows[2]) == [("Species", "mice")]
    assert entities(rows[3]) == [("Thing", "Second")]
    assert [r["doc_id"] for r in rows] == ["100", "100", "100", "200"]
    for row in rows:
        assert_offsets_match(row)
    assert report.documents == 2 and report.counts["unaligned"] == 1 and report.counts["mismatch"] == 1
    assert "'IL'" in report.summary() and lost(report) == 2


def test_pubtator_entity_across_sentence_split_is_kept(tmp_path):
    text = "Infection by S. aureus is common. It spreads."
    path = write(tmp_path / "d.pubtator", f"1|t|Title\n1|a|{text}\n1\t19\t28\tS. aureus\tSpecies\t-\n")
    rows, report = read_source({"name": "bio", "format": "pubtator", "paths": {"dev": str(path)}}, "dev")
    assert ("Species", "S . aureus") in [e for r in rows for e in entities(r)]
    assert lost(report) == 0


@pytest.mark.parametrize(
    "line, message",
    [
        ("100\tabc\t7\tAspirin\tChemical\tD1", r"dev\.pubtator:3: annotation offsets must be integers"),
        ("100\t0\t900\tAspirin\tChemical\tD1", r"dev\.pubtator:3: annotation \[0:900\] outside the text"),
        ("100\t0\t7\tAspirin", r"dev\.pubtator:3: expected 'PMID<TAB>start"),
        ("999\t0\t7\tAspirin\tChemical\tD1", r"dev\.pubtator:3: annotation for PMID '999' outside its document"),
        ("just some words", r"dev\.pubtator:3: expected 'PMID\|t\|title'"),
    ],
)
def test_pubtator_malformed(tmp_path, line, message):
    path = write(tmp_path / "dev.pubtator", f"100|t|Aspirin works.\n100|a|Yes.\n{line}\n")
    with pytest.raises(CorpusFormatError, match=message):
        read_source({"name": "bio", "format": "pubtator", "paths": {"dev": str(path)}}, "dev")


# --------------------------------------------------------------------------- HF token classification

TAG_NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TOKEN_CLASSIFICATION = {"id": ["0", "1"], "tokens": [["John", "Smith", "lives", "in", "New", "York"], ["Hi"]],
                        "ner_tags": [[1, 2, 0, 0, 3, 4], [0]]}


def token_classification_dataset() -> datasets.Dataset:
    features = datasets.Features({"id": datasets.Value("string"), "tokens": datasets.List(datasets.Value("string")),
                                  "ner_tags": datasets.List(datasets.ClassLabel(names=TAG_NAMES))})
    return datasets.Dataset.from_dict(TOKEN_CLASSIFICATION, features=features)


def test_hf_token_classification_local_parquet(tmp_path):
    path = tmp_path / "train.parquet"
    token_classification_dataset().to_parquet(path)
    dataset, report = load_source({"name": "conll", "format": "hf_token_classification", "paths": {"train": str(path)}},
                                  "train")
    assert entities(dataset[0]) == [("PER", "John Smith"), ("LOC", "New York")]
    assert dataset[1]["spans"] == [] and report.sentences == 2


def test_hf_token_classification_json_needs_label_names(tmp_path):
    path = tmp_path / "train.jsonl"
    datasets.Dataset.from_dict(TOKEN_CLASSIFICATION).to_json(path)
    config = {"name": "conll", "format": "hf_token_classification", "paths": {"train": str(path)}}
    with pytest.raises(CorpusFormatError, match="label_names"):
        read_source(config, "train")
    rows, _ = read_source({**config, "label_names": TAG_NAMES}, "train")
    assert entities(rows[0]) == [("PER", "John Smith"), ("LOC", "New York")]


def test_hf_token_classification_from_hub(monkeypatch):
    """The Hub path calls load_dataset(path, name, split=...) and reads the ClassLabel names."""
    calls = []

    def fake_load_dataset(path, name=None, *, split, revision=None, cache_dir=None):
        calls.append((path, name, split, revision))
        return token_classification_dataset()

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    config = {"name": "conll", "format": "hf_token_classification",
              "hub": {"path": "someone/conll", "name": "en", "splits": {"dev": "validation"}},
              "tag_map": {"LOC": "Location"}, "prefix_types": True}
    dataset, _ = load_source(config, "dev")
    assert calls == [("someone/conll", "en", "validation", None)]
    assert entities(dataset[0]) == [("conll:PER", "John Smith"), ("conll:Location", "New York")]


def test_hf_token_classification_length_mismatch(tmp_path):
    path = tmp_path / "train.parquet"
    bad = {"tokens": [["a", "b"]], "ner_tags": [[0]]}
    features = datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                  "ner_tags": datasets.List(datasets.ClassLabel(names=TAG_NAMES))})
    datasets.Dataset.from_dict(bad, features=features).to_parquet(path)
    with pytest.raises(CorpusFormatError, match=r"row 1: 2 tokens but 1 tags"):
        read_source({"name": "c", "format": "hf_token_classification", "paths": {"train": str(path)}}, "train")


# --------------------------------------------------------------------------- BigBio KB

TITLE = "BRCA1 and breast cancer."
ABSTRACT = "Loss of BRCA1 and BRCA2 genes raises risk. Tumour cells grow."
BIGBIO = {
    "id": ["0"],
    "document_id": ["PMID1"],
    "passages": [[
        {"id": "p0", "type": "title", "text": [TITLE], "offsets": [[0, len(TITLE)]]},
        {"id": "p1", "type": "abstract", "text": [ABSTRACT], "offsets": [[len(TITLE) + 1, len(TITLE) + 1 + len(ABSTRACT)]]},
    ]],
    "entities": [[
        {"id": "e0", "type": "Gene", "text": ["BRCA1"], "offsets": [[0, 5]], "normalized": []},
        {"id": "e1", "type": "Disease", "text": ["breast cancer"], "offsets": [[10, 23]], "normalized": [{"db_name": "MESH", "db_id": "D001943"}]},
        # "BRCA1 ... genes" and "BRCA2 genes": discontinuous, kept as the overall extent
        {"id": "e2", "type": "Gene", "text": ["BRCA1", "genes"], "offsets": [[33, 38], [49, 54]], "normalized": []},
        {"id": "e3", "type": "Cell", "text": ["mour"], "offsets": [[70, 74]], "normalized": []},  # inside 'Tumour'
    ]],
}


def test_bigbio_kb_local_json(tmp_path):
    path = tmp_path / "train.jsonl"
    datasets.Dataset.from_dict(BIGBIO).to_json(path)
    rows, report = read_source({"name": "bb", "format": "bigbio_kb", "paths": {"train": str(path)}}, "train")
    assert [r["text"] for r in rows] == [TITLE, "Loss of BRCA1 and BRCA2 genes raises risk.", "Tumour cells grow."]
    assert entities(rows[0]) == [("Gene", "BRCA1"), ("Disease", "breast cancer")]
    assert entities(rows[1]) == [("Gene", "BRCA1 and BRCA2 genes")]
    assert entities(rows[2]) == []
    assert report.counts["discontinuous"] == 1 and report.counts["unaligned"] == 1
    for row in rows:
        assert_offsets_match(row)


def test_bigbio_kb_from_hub_and_errors(monkeypatch):
    broken = {**BIGBIO, "entities": [[{"id": "e9", "type": "Gene", "text": ["x"], "offsets": [[80, 900]], "normalized": []}]]}
    sources = iter([datasets.Dataset.from_dict(BIGBIO), datasets.Dataset.from_dict(broken)])
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: next(sources))
    config = {"name": "bb", "format": "bigbio_kb", "hub": {"path": "bigbio/x", "name": "x_bigbio_kb", "splits": {"train": "train"}}}
    dataset, _ = load_source(config, "train")
    assert dataset.num_rows == 3
    with pytest.raises(CorpusFormatError, match=r"bigbio/x\[x_bigbio_kb\]/train: row 1: entity 'e9' \[80:900\] outside"):
        read_source(config, "train")


# --------------------------------------------------------------------------- configuration


def test_config_rejects_typos_and_unknown_formats():
    with pytest.raises(ValueError, match="unknown keys"):
        SourceConfig.from_dict({"name": "x", "format": "iob", "paths": {"train": "a"}, "tagmap": {}})
    with pytest.raises(ValueError, match="unknown format"):
        SourceConfig.from_dict({"name": "x", "format": "conllu", "paths": {"train": "a"}})
    with pytest.raises(ValueError, match="give `paths`"):
        SourceConfig.from_dict({"name": "x", "format": "iob"})


def test_load_sources_concatenates_with_reports(tmp_path):
    a = write(tmp_path / "a.tsv", "x\tB-GENE\n")
    b = write(tmp_path / "b.tsv", "y\tB-protein\n")
    tag_map = {"GENE": "Gene_or_protein", "protein": "Gene_or_protein"}
    configs = [{"name": "a", "format": "iob", "paths": {"train": "a.tsv"}, "tag_map": tag_map},
               {"name": "b", "format": "iob", "paths": {"train": "b.tsv", "dev": "b.tsv"}, "tag_map": tag_map}]
    dataset, reports = load_sources(configs, "train", base_dir=tmp_path)
    assert dataset["source"] == ["a", "b"]
    assert [s["type"] for row in dataset["spans"] for s in row] == ["Gene_or_protein", "Gene_or_protein"]
    assert set(reports) == {"a", "b"} and all(isinstance(r, ReadReport) for r in reports.values())
    dataset, reports = load_sources(configs, "dev", base_dir=tmp_path)
    assert dataset["source"] == ["b"] and set(reports) == {"b"}


# --------------------------------------------------------------------------- real corpora


def source(shared_data: Path, name: str, fmt: str, split: str, file: str, **extra) -> dict:
    return {"name": name, "format": fmt, "paths": {split: str(shared_data / name / file)}, **extra}


@pytest.mark.parametrize(
    "name, split, sentences",
    [("ncbi_disease", "train", 5424), ("ncbi_disease", "test", 940), ("bc5cdr", "dev", 4581), ("bc2gm", "dev", 2519)],
)
def test_real_iob_sentence_counts(shared_data, name, split, sentences):
    rows, report = read_source(source(shared_data, name, "iob", split, f"{split}.tsv"), split)
    assert report.sentences == len(rows) == sentences
    assert report.entities > 0 and report.counts["iob_repaired"] == 0  # these files are clean IOB2


def test_real_conll_iob1_normalised(shared_data):
    rows, report = read_source(source(shared_data, "conll2003", "iob", "test", "test.txt"), "test")
    assert len(rows) == 3453 and report.documents == 231  # -DOCSTART- lines are not sentences
    assert report.counts["iob_repaired"] > 0 and "iob_repaired" in report.summary()
    assert set(report.type_counts) == {"PER", "LOC", "ORG", "MISC"}
    # Each repaired I- entity is a span starting at an I- tag: count them straight from the file.
    lines = (shared_data / "conll2003" / "test.txt").read_text(encoding="utf-8").splitlines()
    tags = [line.split()[-1] if line.strip() and not line.startswith("-DOCSTART-") else "O" for line in lines]
    i_starts = sum(1 for prev, tag in zip(["O"] + tags, tags) if tag.startswith("I-") and prev[2:] != tag[2:])
    assert report.counts["iob_repaired"] == i_starts


def test_real_gene_types_merged_across_corpora(shared_data):
    tag_map = {"GENE": "Gene_or_protein", "protein": "Gene_or_protein", "DNA": None, "RNA": None,
               "cell_line": None, "cell_type": None}
    configs = [source(shared_data, "bc2gm", "iob", "dev", "dev.tsv", tag_map=tag_map),
               source(shared_data, "jnlpba", "iob", "dev", "dev.tsv", tag_map=tag_map)]
    dataset, reports = load_sources(configs, "dev")
    assert {s["type"] for row in dataset["spans"] for s in row} == {"Gene_or_protein"}
    assert reports["jnlpba"].counts["dropped_type"] > 0
    # JNLPBA's README count (1,939) includes its 200 -DOCSTART- blocks.
    assert reports["jnlpba"].sentences == 1939 - 200 and reports["jnlpba"].documents == 200


def test_real_genia_nested(shared_data):
    dataset, report = load_source(source(shared_data, "genia_nested", "jsonl_nested", "dev", "dev.jsonl"), "dev")
    assert dataset.num_rows == 1765 and lost(report) == 0
    nested = sum(
        1
        for row in dataset["spans"]
        for a in row
        if any((b["start"], b["end"]) != (a["start"], a["end"]) and b["start"] <= a["start"] and a["end"] <= b["end"] for b in row)
    )
    assert nested == 444  # README: 444 dev mentions lie inside another


def test_real_biored_documents(shared_data):
    rows, report = read_source(source(shared_data, "biored", "pubtator", "dev", "dev.pubtator"), "dev")
    annotations = sum(
        1 for line in (shared_data / "biored" / "dev.pubtator").read_text(encoding="utf-8").splitlines()
        if line.count("\t") >= 5 and line.split("\t")[1].isdigit()
    )
    assert report.documents == 100
    assert report.entities + lost(report) == annotations  # every annotation is kept or counted
    assert 0 < report.counts["unaligned"] <= 0.01 * annotations and "unaligned" in report.summary()
    assert report.counts["mismatch"] == 0
    for row in rows:
        assert_offsets_match(row)


# --------------------------------------------------------------------------- char offsets to words, as a property


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_document_examples_keep_or_count_every_entity(data):
    pieces = st.sampled_from(["Aspirin", "IL-2R", "E. coli", "cells", ".", " ", "  ", "(", ")", "5.", "Tumour", "\u03b1"])
    text = "".join(data.draw(st.lists(pieces, min_size=1, max_size=30)))
    bounds = st.integers(0, len(text))
    pairs = data.draw(st.lists(st.tuples(bounds, bounds).filter(lambda p: p[0] < p[1]), max_size=6))
    chars = [CharEntity(start, end, "T") for start, end in pairs]
    report = ReadReport("prop", "test")
    examples = document_examples(text, [(0, len(text))], chars, source="prop", doc_id="d", report=report)
    kept = [(example, span) for example in examples for span in example.spans]
    assert len(kept) + report.counts["unaligned"] == len(chars)
    wanted = {(text[s:e].strip(), "T") for s, e in pairs}
    for example, span in kept:
        start, end = example.offsets[span.start][0], example.offsets[span.end - 1][1]
        assert (text[start:end], span.type) in wanted
    for example in examples:
        assert [text[s:e] for s, e in example.offsets] == example.tokens


# --------------------------------------------------------------------------- pipeline words

_TOKENS = st.sampled_from(["IL-2", "c-fos", "NF-kappa", "B", "(", ")", "p53", "5.5", "alpha/beta", "don't", "--",
                           "\u03b1-actin", "T", "cells", ",", ".", "x", "IL-2R(alpha)", "\u00b0C", "2'-O"])


@st.composite
def tokenized_examples(draw):
    tokens = draw(st.lists(_TOKENS, min_size=1, max_size=12))
    spans = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(tokens) - 1))
        end = draw(st.integers(start + 1, len(tokens)))
        spans.append(Span(start, end, draw(st.sampled_from(["A", "B"]))))
    text = " ".join(tokens)
    offsets, cursor = [], 0
    for token in tokens:
        offsets.append((cursor, cursor + len(token)))
        cursor += len(token) + 1
    return Example(tokens, spans, "src", "doc", text, offsets)


@settings(max_examples=200, deadline=None)
@given(tokenized_examples())
def test_pipeline_words_keep_every_span_and_offset(example):
    split = pipeline_words(example)
    assert [w for w, _, _ in split_words(" ".join(example.tokens))] == split.tokens  # what the pipeline sees
    for old, new in zip(example.spans, split.spans):
        assert new.end > new.start and new.type == old.type
        assert "".join(split.tokens[new.start : new.end]) == "".join(example.tokens[old.start : old.end])
    for word, (start, end) in zip(split.tokens, split.offsets):
        assert example.text[start:end] == word
    again = pipeline_words(split)
    assert again.tokens == split.tokens and again.spans == split.spans and again.offsets == split.offsets


# --------------------------------------------------------------------------- encodings and empty files

BOM = b"\xef\xbb\xbf"


def test_a_byte_order_mark_is_dropped_by_every_reader(tmp_path):
    iob = tmp_path / "bom.tsv"
    iob.write_bytes(BOM + "-DOCSTART-\tO\n\nIL-2\tB-Gene\nbinds\tO\n".encode("utf-8"))
    rows, report = read_source(iob_source(iob), "train")
    assert [row["tokens"] for row in rows] == [["IL", "-", "2", "binds"]]  # the BOM hid the -DOCSTART- before
    assert report.documents == 1 and rows[0]["doc_id"] == "toy:train:1"
    pubtator = tmp_path / "bom.pubtator"
    pubtator.write_bytes(BOM + "7|t|Aspirin works.\n7|a|\n7\t0\t7\tAspirin\tChemical\t-\n".encode("utf-8"))
    rows, _ = read_source({"name": "p", "format": "pubtator", "paths": {"train": str(pubtator)}}, "train")
    assert rows[0]["doc_id"] == "7" and entities(rows[0]) == [("Chemical", "Aspirin")]
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(BOM + b'{"tokens": ["a"], "entity_mentions": []}\n{"tokens": [\n')
    with pytest.raises(CorpusFormatError, match=r"bom\.jsonl:2: expected one JSON object per line"):  # not line 1
        read_source({"name": "g", "format": "jsonl_nested", "paths": {"train": str(jsonl)}}, "train")


@pytest.mark.parametrize("name, source", [
    ("train.tsv", {"format": "iob"}),
    ("train.pubtator", {"format": "pubtator"}),
    ("train.jsonl", {"format": "jsonl_nested"}),
])
def test_a_file_that_is_not_utf8_names_its_line_and_byte(tmp_path, name, source):
    path = tmp_path / name
    lines = {"train.tsv": "IL-2\tB-Gene\n\ncaf\u00e9\tO\n", "train.pubtator": "1|t|Title\n1|a|caf\u00e9\n",
             "train.jsonl": '{"tokens": ["a"]}\n{"tokens": ["caf\u00e9"]}\n'}[name]
    path.write_bytes(lines.encode("latin-1"))
    line = {"train.tsv": 3, "train.pubtator": 2, "train.jsonl": 2}[name]
    column = {"train.tsv": 4, "train.pubtator": 8, "train.jsonl": 17}[name]
    stem = name.split(".")[0]
    with pytest.raises(CorpusFormatError, match=re.escape(
        f"{path}:{line}: not UTF-8 at byte 0xe9 (column {column}); re-encode it as UTF-8, "
        f"e.g. iconv -f latin1 -t utf8 {name} > {stem}.utf8{path.suffix}"
    )):
        read_source({"name": "s", "paths": {"train": str(path)}, **source}, "train")


@pytest.mark.parametrize("format_, name, content, message", [
    ("iob", "train.tsv", "", "the file is empty; expected 'token<TAB>tag' lines, a blank line after each sentence"),
    ("iob", "train.tsv", "\n \n", "the file is empty; expected 'token<TAB>tag' lines"),
    ("iob", "train.tsv", "-DOCSTART-\tO\n\n", "no sentences found; expected 'token<TAB>tag' lines"),
    ("jsonl_nested", "train.jsonl", "", "the file is empty; expected one JSON object per line with 'tokens'"),
    ("pubtator", "train.pubtator", "\ufeff\n", "the file is empty; expected 'PMID|t|title'"),
])
def test_an_empty_file_is_named_with_what_was_expected(tmp_path, format_, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(CorpusFormatError, match=re.escape(f"{path}: {message}")):
        load_source({"name": "s", "format": format_, "paths": {"train": str(path)}}, "train")
