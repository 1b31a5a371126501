"""brat and BioC corpora: reading through `bioc` with file+line errors, counts of what NER skips, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srunear.exports import TaggedDocument, write_bioc, write_brat
from tokenization import CorpusFormatError, read_source
from tokenization.pubtator import parse_pubtator
from tokenization.bioc_files import read_bioc_documents
from tokenization.brat import brat_pairs, read_brat_document
from tokenization.standoff import Passage

TEXT = "BRCA1 mutations cause breast cancer.\nThe p53 protein binds DNA in HeLa cells.\n"
ANN = "\n".join([
    "T1\tGene 0 5\tBRCA1",
    "T2\tDisease 22 35\tbreast cancer",
    "T3\tDisease 29 35\tcancer",
    "T4\tGene 41 44;53 58\tp53 binds",
    "T5\tBinding 53 58\tbinds",
    "R1\tAssociated Arg1:T1 Arg2:T2",
    "*\tEquiv T1 T4",
    "E1\tBinding:T5 Theme:T4",
    "A1\tNegated T2",
    "M1\tSpeculated E1",
    "#1\tAnnotatorNotes T1\tchecked",
    "N1\tReference T1 HGNC:1100\tBRCA1",
]) + "\n"


def write_brat_doc(folder: Path, name: str, text: str, ann: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(text, encoding="utf-8", newline="")
    (folder / f"{name}.ann").write_text(ann, encoding="utf-8", newline="")
    return folder


def spans_of(rows):
    """(doc, surface text, type) of every span: independent of how sentences were cut."""
    found = []
    for row in rows:
        for span in row["spans"]:
            start, end = row["offsets"][span["start"]][0], row["offsets"][span["end"] - 1][1]
            found.append((row["doc_id"], row["text"][start:end], span["type"]))
    return sorted(found)


# --------------------------------------------------------------------------- brat


def test_brat_source_reads_nested_spans_and_counts_everything_else(tmp_path):
    write_brat_doc(tmp_path / "corpus" / "sub", "d1", TEXT, ANN)
    rows, report = read_source({"name": "b", "format": "brat", "paths": {"train": str(tmp_path / "corpus")}}, "train")
    assert spans_of(rows) == [
        ("sub/d1", "BRCA1", "Gene"), ("sub/d1", "binds", "Binding"), ("sub/d1", "breast cancer", "Disease"),
        ("sub/d1", "cancer", "Disease"), ("sub/d1", "p53 protein binds", "Gene"),
    ]
    assert [row["text"] for row in rows] == ["BRCA1 mutations cause breast cancer.", "The p53 protein binds DNA in HeLa cells."]
    assert {kind: report.counts[kind] for kind in ("discontinuous", "relation", "event", "attribute", "note", "normalization")} == {
        "discontinuous": 1, "relation": 2, "event": 1, "attribute": 2, "note": 1, "normalization": 1}
    summary = report.summary()
    for kind in ("discontinuous", "relation", "event", "attribute", "note", "normalization"):
        assert f"  {kind}: " in summary


def test_brat_paths_may_be_a_list_of_folders_and_files(tmp_path):
    write_brat_doc(tmp_path / "a", "x", "IL-2 binds.\n", "T1\tGene 0 4\tIL-2\n")
    write_brat_doc(tmp_path / "b", "y", "TNF binds.\n", "T1\tGene 0 3\tTNF\n")
    source = {"name": "b", "format": "brat", "paths": {"train": [str(tmp_path / "a"), str(tmp_path / "b" / "y.ann")]}}
    rows, _ = read_source(source, "train")
    assert spans_of(rows) == [("x", "IL-2", "Gene"), ("y", "TNF", "Gene")]


@pytest.mark.parametrize(
    "ann, line, message",
    [
        ("T1\tGene 0 5\tBRCA1\nT2\tGene 70 90\tcells\n", 2, r"outside the text of document 'd' \(length 78\)"),
        ("T1\tGene 0 5\tBRCA2\n", 1, "mention text 'BRCA2' differs from the document text 'BRCA1'"),
        ("T1\tGene 0 5;22 29\tBRCA1 cancer\n", 1, "differs from the document text 'BRCA1 breast '"),
        ("T1\tGene 0 x\tBRCA1\n", 1, "expected 'ID<TAB>TYPE START END"),
        ("T1\tGene 5 5\tBRCA1\n", 1, "START < END"),
        ("T1 Gene 0 5 BRCA1\n", 1, "expected 'ID<TAB>TYPE START END"),
        ("T1\tGene 0 5\tBRCA1\nR1\tRel Arg1T1\n", 2, "expected 'ID<TAB>TYPE ROLE1:ID1"),
        ("N1\tReference T1\tBRCA1\n", 1, "expected 'ID<TAB>TYPE REFID RESOURCE:ENTRY"),
        ("X1\tsomething\n", 1, "expected a brat annotation line starting with one of T R"),
    ],
)
def test_brat_errors_name_the_file_and_line(tmp_path, ann, line, message):
    write_brat_doc(tmp_path, "d", TEXT, ann)
    with pytest.raises(CorpusFormatError, match=message) as caught:
        read_source({"name": "b", "format": "brat", "paths": {"train": str(tmp_path)}}, "train")
    assert caught.value.where == str(tmp_path / "d.ann") and caught.value.line == line


def test_brat_text_without_annotation_file_is_an_error_for_training(tmp_path):
    (tmp_path / "lonely.txt").write_text("text", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="lonely.txt: no annotation file lonely.ann"):
        read_source({"name": "b", "format": "brat", "paths": {"train": str(tmp_path)}}, "train")
    assert brat_pairs([tmp_path], require_ann=False) == [(tmp_path / "lonely.txt", None, "lonely")]


def test_brat_offsets_count_carriage_returns(tmp_path):
    text = "First line.\r\nIL-2 binds.\r\n"
    write_brat_doc(tmp_path, "crlf", text, "T1\tGene 13 17\tIL-2\n")
    rows, _ = read_source({"name": "b", "format": "brat", "paths": {"train": str(tmp_path)}}, "train")
    assert spans_of(rows) == [("crlf", "IL-2", "Gene")]


def test_brat_round_trip_keeps_every_span(tmp_path):
    write_brat_doc(tmp_path / "in", "d1", TEXT, ANN)
    first = read_brat_document(*brat_pairs([tmp_path / "in"])[0])
    entities = [{"entity_group": m.type, "start": m.extent[0], "end": m.extent[1], "score": 0.5} for m in first.mentions
                if len(m.fragments) == 1]
    write_brat(tmp_path / "out", [TaggedDocument(first.id, first.text, entities)])
    assert (tmp_path / "out" / "d1.txt").read_bytes() == (tmp_path / "in" / "d1.txt").read_bytes()
    again = read_brat_document(*brat_pairs([tmp_path / "out"])[0])
    assert [(m.fragments, m.type) for m in again.mentions] == [(((e["start"], e["end"]),), e["entity_group"]) for e in entities]
    assert len(entities) == 4
    assert again.ignored["note"] == len(entities)  # the scores


# --------------------------------------------------------------------------- BioC

BIOC_XML = """<?xml version='1.0' encoding='utf-8'?>
<collection><source>test</source><date>2025</date><key>k</key>
  <document><id>100</id>
    <passage><infon key="type">title</infon><offset>0</offset><text>BRCA1 mutations cause breast cancer.</text>
      <annotation id="1"><infon key="type">Gene</infon><infon key="kind">G</infon><location offset="0" length="5"/><text>BRCA1</text></annotation>
      <annotation id="2"><infon key="type">Disease</infon><infon key="kind">D</infon><location offset="22" length="13"/><text>breast cancer</text></annotation>
    </passage>
    <passage><infon key="type">abstract</infon><offset>37</offset><text>The p53 protein binds DNA.</text>
      <annotation id="3"><infon key="type">Gene</infon><infon key="kind">G</infon><location offset="41" length="3"/><location offset="53" length="5"/><text>p53 binds</text></annotation>
      <relation id="R1"><infon key="type">Bind</infon><node refid="1" role="a"/><node refid="3" role="b"/></relation>
    </passage>
  </document>
</collection>
"""


def bioc_json_text() -> str:
    """The same collection as BioC JSON, without the optional keys that PubTator3 files sometimes leave out."""
    passages = [
        {"offset": 0, "infons": {"type": "title"}, "text": "BRCA1 mutations cause breast cancer.", "annotations": [
            {"id": "1", "infons": {"type": "Gene", "kind": "G"}, "text": "BRCA1", "locations": [{"offset": 0, "length": 5}]},
            {"id": "2", "infons": {"type": "Disease", "kind": "D"}, "text": "breast cancer",
             "locations": [{"offset": 22, "length": 13}]}]},
        {"offset": 37, "text": "The p53 protein binds DNA.", "annotations": [
            {"id": "3", "infons": {"type": "Gene", "kind": "G"}, "text": "p53 binds",
             "locations": [{"offset": 41, "length": 3}, {"offset": 53, "length": 5}]}],
         "relations": [{"id": "R1", "infons": {"type": "Bind"}, "nodes": [{"refid": "1", "role": "a"}]}]},
    ]
    return json.dumps({"source": "test", "documents": [{"id": "100", "passages": passages}]}, indent=1)


@pytest.fixture(params=["xml", "json"])
def bioc_file(request, tmp_path) -> Path:
    path = tmp_path / f"corpus.{request.param}"
    path.write_text(BIOC_XML if request.param == "xml" else bioc_json_text(), encoding="utf-8")
    return path


def test_bioc_source_reads_passages_and_reports_relations(bioc_file):
    rows, report = read_source({"name": "c", "format": "bioc", "paths": {"train": str(bioc_file)}}, "train")
    assert spans_of(rows) == [("100", "BRCA1", "Gene"), ("100", "breast cancer", "Disease"), ("100", "p53 protein binds", "Gene")]
    assert [row["text"] for row in rows] == ["BRCA1 mutations cause breast cancer.", "The p53 protein binds DNA."]
    assert report.counts["relation"] == 1 and report.counts["discontinuous"] == 1


def test_bioc_type_infon_is_configurable(bioc_file):
    rows, _ = read_source({"name": "c", "format": "bioc", "type_infon": "kind", "paths": {"train": str(bioc_file)}}, "train")
    assert {t for _, _, t in spans_of(rows)} == {"G", "D"}
    with pytest.raises(CorpusFormatError, match="annotation '1' of document '100' has no 'colour' infon") as caught:
        read_source({"name": "c", "format": "bioc", "type_infon": "colour", "paths": {"train": str(bioc_file)}}, "train")
    assert caught.value.line == (5 if bioc_file.suffix == ".xml" else 15)


@pytest.mark.parametrize(
    "old, new, line, message",
    [
        ('<location offset="22" length="13"/>', '<location offset="22" length="63"/>', 6, r"\[22:85\] lies outside the text"),
        ("<text>breast cancer</text>", "<text>ovarian cancer</text>", 6, "mention text 'ovarian cancer' differs"),
        ('<location offset="0" length="5"/>', '<location length="5"/>', 5, "<location> needs an integer 'offset' attribute"),
        ("<offset>37</offset>", "<offset>x</offset>", 8, "<passage> needs an integer <offset>, got 'x'"),
        ("</document>", "</documen>", 12, "not well-formed XML"),
    ],
)
def test_bioc_xml_errors_name_the_line(tmp_path, old, new, line, message):
    path = tmp_path / "bad.xml"
    assert old in BIOC_XML
    path.write_text(BIOC_XML.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=message) as caught:
        list(read_bioc_documents(path))
    assert caught.value.where == str(path) and caught.value.line == line


def test_bioc_json_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(bioc_json_text().replace('"length": 13', '"length": 63'), encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="lies outside the text") as caught:
        list(read_bioc_documents(path))
    assert caught.value.line == 29 and path.read_text().splitlines()[28].strip() == '"id": "2",'
    broken = json.loads(bioc_json_text())
    del broken["documents"][0]["passages"][1]["offset"]
    path.write_text(json.dumps(broken, indent=1), encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"document 1 \(id '100'\): no 'offset' key") as caught:
        list(read_bioc_documents(path))
    assert caught.value.line == 5
    path.write_text('{"documents": [\n{"id": "1",,}]}', encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="not valid JSON") as caught:
        list(read_bioc_documents(path))
    assert caught.value.line == 2
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="expected BioC XML"):
        list(read_bioc_documents(path))


@pytest.mark.parametrize("kind", ["xml", "json"])
def test_bioc_round_trip_keeps_passages_and_spans(bioc_file, tmp_path, kind):
    first = list(read_bioc_documents(bioc_file))
    tagged = [TaggedDocument(d.id, d.text, [{"entity_group": m.type, "start": m.extent[0], "end": m.extent[1], "score": 0.25}
                                            for m in d.mentions], d.passages, d.infons) for d in first]
    out = tmp_path / f"out.{kind}"
    write_bioc(out, tagged, kind)
    again = list(read_bioc_documents(out))
    assert [(d.id, d.text, d.passages) for d in again] == [(d.id, d.text, d.passages) for d in first]
    assert [d.passages[0].infons for d in again] == [{"type": "title"}]
    assert [sorted((m.extent, m.type) for m in d.mentions) for d in again] == [
        sorted((m.extent, m.type) for m in d.mentions) for d in first]


def test_pubtator_to_bioc_and_back_keeps_every_offset(tmp_path):
    title, abstract = "BRCA1 and  TP53 ", "Mutations cause breast cancer."  # title ends with a space: offsets shift if stripped
    text = f"{title} {abstract}"
    annotations = [(0, 5, "Gene"), (11, 15, "Gene"), (33, 46, "Disease"), (40, 46, "Disease")]
    lines = [f"7|t|{title}", f"7|a|{abstract}"] + [f"7\t{s}\t{e}\t{text[s:e]}\t{t}\tID" for s, e, t in annotations]
    pubtator = tmp_path / "in.pubtator"
    pubtator.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    [document] = parse_pubtator(pubtator)
    passages = [Passage(0, document.title, {"type": "title"}), Passage(len(document.title) + 1, document.abstract, {"type": "abstract"})]
    entities = [{"entity_group": e.type, "start": e.start, "end": e.end, "score": 1.0} for _, e, _ in document.annotations]
    write_bioc(tmp_path / "out.xml", [TaggedDocument(document.pmid, document.text, entities, passages)], "xml")
    [bioc_document] = read_bioc_documents(tmp_path / "out.xml")
    assert bioc_document.text == text
    assert sorted((m.extent[0], m.extent[1], m.type) for m in bioc_document.mentions) == sorted(annotations)
    assert [(p.offset, p.text) for p in bioc_document.passages] == [(0, title), (len(title) + 1, abstract)]


# --------------------------------------------------------------------------- why our PubTator parser stays


def test_bioc_pubtator_gets_cases_wrong_that_our_parser_gets_right(tmp_path):
    """Keep `parse_pubtator`: `bioc.pubtator` strips lines (shifting offsets after a title ending in a
    space) and reads a five-column annotation (no concept id) as a relation, losing the entity."""
    import bioc.pubtator

    path = tmp_path / "case.pubtator"
    title = "IL-2 "
    abstract = "binds p53."
    path.write_text(f"9|t|{title}\n9|a|{abstract}\n9\t12\t15\tp53\tGene\n9\tAssociation\tA\tB\tNovel\n\n", encoding="utf-8")
    [theirs] = bioc.pubtator.load(path.open(encoding="utf-8"))
    assert theirs.title == "IL-2"  # stripped: "title + ' ' + abstract" is one character shorter
    assert theirs.annotations == [] and len(theirs.relations) == 2  # the entity became a relation
    [ours] = parse_pubtator(path)
    assert ours.title == title
    assert [(e.start, e.end, e.type, ours.text[e.start:e.end]) for _, e, _ in ours.annotations] == [(12, 15, "Gene", "p53")]
