"""tag.py with BioC and brat inputs, and brat, BioC XML/JSON and HTML outputs: offsets, resume, shards."""

import json

import pytest

from srunear.tag_inputs import TaggingError, detect_input_format, read_documents
from srunear.tag_shards import part_path
from srunear.tagging import journal_path, main, tag_files
from tokenization.bioc_files import read_bioc_documents
from tokenization.brat import brat_pairs, read_brat_document

PASSAGE_TITLE = "BRCA1 mutations cause cancer."
PASSAGE_BODY = "The p53 protein binds DNA."


@pytest.fixture
def inputs(tmp_path):
    """A BioC XML collection (two passages with a gap), a BioC JSON one, a brat folder and a PubTator file."""
    folder = tmp_path / "in"
    (folder / "brat" / "sub").mkdir(parents=True)
    offset = len(PASSAGE_TITLE) + 3
    (folder / "c.xml").write_text(
        "<?xml version='1.0' encoding='utf-8'?><collection><source>s</source><date>d</date><key>k</key>"
        f"<document><id>x1</id><infon key='journal'>J</infon><passage><infon key='type'>title</infon><offset>0</offset>"
        f"<text>{PASSAGE_TITLE}</text></passage><passage><offset>{offset}</offset><text>{PASSAGE_BODY}</text></passage>"
        "</document></collection>", encoding="utf-8")
    (folder / "c.json").write_text(json.dumps({"documents": [
        {"id": "j1", "passages": [{"offset": 0, "text": "IL-2 and TNF alpha."}]}]}, indent=1), encoding="utf-8")
    (folder / "brat" / "b1.txt").write_text("First line.\r\nIL-6 binds.\n", encoding="utf-8", newline="")
    (folder / "brat" / "sub" / "b2.txt").write_text("p53 <b>bold</b> & more.", encoding="utf-8")
    (folder / "p.pubtator").write_text(f"7|t|{PASSAGE_TITLE} \n7|a|{PASSAGE_BODY}\n\n", encoding="utf-8")
    return [folder / "c.xml", folder / "c.json", folder / "brat", folder / "p.pubtator"]


def test_input_detection_and_documents(inputs, tmp_path):
    assert [detect_input_format(p) for p in inputs] == ["bioc", "bioc", "brat", "pubtator"]
    one_line = tmp_path / "one.json"
    one_line.write_text('{"documents": []}\n', encoding="utf-8")
    records = tmp_path / "records.json"
    records.write_text('{"id": 1, "text": "x"}\n', encoding="utf-8")
    assert detect_input_format(one_line) == "bioc" and detect_input_format(records) == "jsonl"
    documents = list(read_documents(inputs))
    assert [d.id for d in documents] == ["x1", "j1", "b1", "sub/b2", "7"]
    assert documents[0].text == f"{PASSAGE_TITLE}   {PASSAGE_BODY}"
    assert [(p.offset, p.infons) for p in documents[0].passages] == [(0, {"type": "title"}), (len(PASSAGE_TITLE) + 3, {})]
    assert documents[0].infons == {"journal": "J"}
    assert documents[2].text == "First line.\r\nIL-6 binds.\n"


def entities_by_document(ner, inputs):
    return {d.id: [(e["start"], e["end"], e["entity_group"]) for e in ner(d.text)] for d in read_documents(inputs)}


def test_brat_output_reads_back_with_the_same_spans(ner, inputs, tmp_path):
    out = tmp_path / "tagged"
    result = tag_files(ner, inputs, out, output_format="brat", progress=False)
    assert result.exported and result.tagged == 5 and result.output == journal_path(out)
    expected = entities_by_document(ner, inputs)
    assert any(expected.values())
    read_back = {doc_id: read_brat_document(text, ann, doc_id) for text, ann, doc_id in brat_pairs([out])}
    assert sorted(read_back) == sorted(expected)
    for doc_id, document in read_back.items():
        assert sorted((m.extent[0], m.extent[1], m.type) for m in document.mentions) == sorted(expected[doc_id])
        assert document.ignored["note"] == len(expected[doc_id])  # one score note per entity
    assert (out / "b1.txt").read_bytes() == (inputs[2] / "b1.txt").read_bytes()


@pytest.mark.parametrize("output_format", ["bioc-xml", "bioc-json"])
def test_bioc_output_keeps_passages_offsets_and_scores(ner, inputs, tmp_path, output_format):
    out = tmp_path / ("out.xml" if output_format == "bioc-xml" else "out.bioc.json")
    tag_files(ner, inputs, out, progress=False)  # the format comes from the name
    documents = {d.id: d for d in read_bioc_documents(out)}
    originals = {d.id: d for d in read_documents(inputs)}
    assert list(documents) == list(originals)
    for doc_id, document in documents.items():
        assert document.text == originals[doc_id].text
        expected = entities_by_document(ner, inputs)[doc_id]
        assert sorted((m.extent[0], m.extent[1], m.type) for m in document.mentions) == sorted(expected)
    assert [(p.offset, p.text) for p in documents["7"].passages] == [(0, f"{PASSAGE_TITLE} "), (len(PASSAGE_TITLE) + 2, PASSAGE_BODY)]
    assert documents["x1"].infons == {"journal": "J"} and documents["x1"].passages[0].infons == {"type": "title"}
    raw = out.read_text(encoding="utf-8")
    assert ('key="score"' in raw) if output_format == "bioc-xml" else ('"score": "' in raw)


def test_html_output_is_one_page_with_every_document(ner, inputs, tmp_path):
    out = tmp_path / "page.html"
    tag_files(ner, inputs, out, progress=False)
    page = out.read_text(encoding="utf-8")
    assert page.count('class="srunear-document"') == 5
    assert page.count("&lt;") == 2 and page.count("&gt;") == 2 and "&amp;" in page and "<b>" not in page
    found = sum(len(v) for v in entities_by_document(ner, inputs).values())
    assert page.count('class="srunear-label"') == found > 0


def test_document_outputs_resume_from_the_journal(ner, inputs, tmp_path):
    out = tmp_path / "out.xml"
    first = tag_files(ner, inputs[:1], out, progress=False)
    assert first.tagged == 1
    again = tag_files(ner, inputs, out, progress=False)
    assert (again.skipped, again.tagged) == (1, 4) and again.exported
    assert [d.id for d in read_bioc_documents(out)] == ["x1", "j1", "b1", "sub/b2", "7"]
    journal = journal_path(out).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in journal] == ["x1", "j1", "b1", "sub/b2", "7"]


def test_document_outputs_shard_then_write_once_complete(ner, inputs, tmp_path):
    out = tmp_path / "tagged"
    first = tag_files(ner, inputs, out, output_format="brat", num_shards=2, shard_index=0, progress=False)
    assert not first.exported and not out.exists()
    assert part_path(journal_path(out), 0, 2).is_file()
    second = tag_files(ner, inputs, out, output_format="brat", num_shards=2, shard_index=1, progress=False)
    assert second.merged and second.exported
    assert sorted(doc_id for _, _, doc_id in brat_pairs([out])) == ["7", "b1", "j1", "sub/b2", "x1"]


def test_brat_output_refuses_ids_that_are_not_file_names(ner, tmp_path):
    source = tmp_path / "docs.jsonl"
    source.write_text(json.dumps({"id": "../escape", "text": "p53"}) + "\n", encoding="utf-8")
    with pytest.raises(TaggingError, match="'../escape': brat output names files after document ids"):
        tag_files(ner, [source], tmp_path / "out", output_format="brat", progress=False)


def test_command_line_writes_bioc_json(ner, model_folder, inputs, tmp_path, capsys, monkeypatch):
    import srunear.tagging as tagging

    monkeypatch.setattr(tagging, "_load_pipeline", lambda *args: ner)
    out = tmp_path / "cli.json"
    assert main([str(model_folder), *map(str, inputs), "--output", str(out), "--format", "bioc-json", "--no-progress"]) == 0
    assert f"wrote {out}" in capsys.readouterr().err
    assert [d.id for d in read_bioc_documents(out)] == ["x1", "j1", "b1", "sub/b2", "7"]
