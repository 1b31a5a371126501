"""Batch tagging (tag.py): input formats, exact offsets, resume after a kill or a cut record, shards, errors."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from helpers import REPO_ROOT

from srunear.tag_inputs import Document, TaggingError, detect_input_format, read_documents
from srunear.tag_records import format_record, read_records, recover_output
from srunear.tag_shards import merge_parts, part_path
from srunear.tagging import main, tag_files
from tokenization.pubtator import parse_pubtator
from tokenization.schema import CorpusFormatError


SENTENCES = [
    "BRCA1 mutations cause breast cancer.",
    "The p53 protein binds DNA after cisplatin treatment.",
    "Ünïcödé p53 — 北京 🧬 binds IL-2.",
    "",
    "TNF alpha\tand IL-6 are cytokines.",
]


@pytest.fixture
def inputs(tmp_path):
    """One file of each input format; 13 documents in all."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "many.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    records = [{"id": f"j{i}", "text": s} for i, s in enumerate(SENTENCES)]
    records += [{"id": "nl", "text": "BRCA1 mutations\r\ncause breast\ncancer."}, {"text": "No id here: p53."}]
    (folder / "docs.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    (folder / "abstracts.pubtator").write_text(
        "111|t|BRCA1 in breast cancer\n111|a|The p53 protein binds DNA.\n111\t0\t5\tBRCA1\tGene\n\n"
        "222|t|A title only\n222|a|\n\n",
        encoding="utf-8",
    )
    return [folder / "docs.jsonl", folder / "abstracts.pubtator", folder / "many.txt"]


def run(ner, inputs, output, **options):
    options.setdefault("lines", True)
    options.setdefault("batch_size", 1)
    options.setdefault("progress", False)
    return tag_files(ner, inputs, output, **options)


def jsonl_records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


EXPECTED_IDS = ["j0", "j1", "j2", "j3", "j4", "nl", "docs:7", "111", "222", "many:1", "many:2", "many:3", "many:5"]


def test_read_documents_ids_texts_and_formats(inputs):
    documents = list(read_documents(inputs, lines=True))
    assert [d.id for d in documents] == EXPECTED_IDS
    by_id = {d.id: d for d in documents}
    assert by_id["111"].text == "BRCA1 in breast cancer The p53 protein binds DNA."
    assert by_id["222"].text == "A title only "
    assert by_id["many:5"].text == SENTENCES[4]
    assert [detect_input_format(p) for p in inputs] == ["jsonl", "pubtator", "text"]
    whole = list(read_documents([inputs[2]]))  # without --lines a file is one document, kept exactly
    assert [(d.id, d.text) for d in whole] == [("many", "\n".join(SENTENCES) + "\n")]


def test_detect_input_format_by_content(tmp_path):
    (tmp_path / "a.dat").write_text('\n{"text": "x"}\n', encoding="utf-8")
    (tmp_path / "b.txt").write_text("9|t|Title\n9|a|Abstract\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("Just prose | with a bar.\n", encoding="utf-8")
    assert [detect_input_format(tmp_path / n) for n in ("a.dat", "b.txt", "c.txt")] == ["jsonl", "pubtator", "text"]


def test_jsonl_output_offsets_are_exact(ner, inputs, tmp_path):
    output = tmp_path / "out.jsonl"
    result = run(ner, inputs, output, batch_size=4)
    assert (result.total, result.skipped, result.tagged) == (13, 0, 13)
    records = jsonl_records(output)
    assert [r["id"] for r in records] == EXPECTED_IDS
    assert sum(len(r["entities"]) for r in records) > 0, "the nudged model should find spans"
    for record in records:
        for entity in record["entities"]:
            assert record["text"][entity["start"] : entity["end"]] == entity["word"]
            assert set(entity) == {"entity_group", "score", "word", "start", "end"}


def test_sources_option_names_the_heads_that_found_each_entity(ner, inputs, tmp_path):
    output = tmp_path / "out.jsonl"
    run(ner, inputs, output, batch_size=4, return_sources=True)
    entities = [entity for record in jsonl_records(output) for entity in record["entities"]]
    assert entities and all(set(entity["sources"]) == {"all", "genes"} for entity in entities)  # both Gene heads


def test_pubtator_output_reads_back_with_valid_offsets(ner, inputs, tmp_path):
    output = tmp_path / "out.pubtator"
    run(ner, inputs, output)
    reference = {d.id: d for d in read_documents(inputs, lines=True)}
    documents = list(parse_pubtator(output))
    assert [d.pmid for d in documents] == EXPECTED_IDS
    assert sum(len(d.annotations) for d in documents) > 0
    for document in documents:
        original = reference[document.pmid]
        if original.title is not None:
            assert (document.title, document.abstract) == (original.title, original.abstract)
        else:  # the whole text as title; line breaks became spaces, so offsets still hold
            assert document.title == "".join(" " if c in "\r\n\t" else c for c in original.text)
            assert document.abstract == ""
        for _, entity, mention in document.annotations:
            assert document.text[entity.start : entity.end] == mention
    lines = output.read_bytes().decode("utf-8").split("\n")
    assert "nl|t|BRCA1 mutations  cause breast cancer." in lines and "nl|a|" in lines
    assert all(len(line.split("\t")) == 6 for line in lines if "\t" in line)


def test_threshold_and_entity_types(ner, inputs, tmp_path):
    run(ner, inputs, tmp_path / "all.jsonl")
    everything = jsonl_records(tmp_path / "all.jsonl")
    top = max(e["score"] for r in everything for e in r["entities"])
    run(ner, inputs, tmp_path / "top.jsonl", threshold=top)
    assert [r["entities"] for r in jsonl_records(tmp_path / "top.jsonl")] == [
        [e for e in r["entities"] if e["score"] >= top] for r in everything
    ]
    run(ner, inputs, tmp_path / "genes.jsonl", entity_types=["Gene"])
    assert {e["entity_group"] for r in jsonl_records(tmp_path / "genes.jsonl") for e in r["entities"]} == {"Gene"}
    run(ner, inputs, tmp_path / "gene.jsonl", entity_types="Gene")  # one type, not four letters
    assert jsonl_records(tmp_path / "gene.jsonl") == jsonl_records(tmp_path / "genes.jsonl")


@pytest.mark.parametrize("options, message", [
    ({"threshold": float("nan")}, "threshold must be a number from 0 to 1"),
    ({"threshold": 2}, "threshold must be a number from 0 to 1"),
    ({"entity_types": "Planet"}, r"unknown entity types \['Planet'\]"),
])
def test_bad_options_are_refused_before_the_model_is_loaded(model_folder, inputs, tmp_path, monkeypatch, options, message):
    import srunear.tagging as tagging

    monkeypatch.setattr(tagging, "_load_pipeline", lambda *args: pytest.fail("the model was loaded"))
    with pytest.raises(ValueError, match=message):
        tag_files(model_folder, inputs, tmp_path / "out.jsonl", lines=True, progress=False, **options)


@pytest.mark.parametrize("output_format", ["jsonl", "pubtator"])
def test_every_prefix_of_an_output_reads_back_as_its_complete_records(tmp_path, output_format):
    documents = [Document(f"d{i}", text) for i, text in enumerate(SENTENCES[:3])]
    entity = {"entity_group": "Gene", "score": 0.5, "word": "p53", "start": 0, "end": 3}
    records = [format_record(d, [entity] * i, output_format) for i, d in enumerate(documents)]
    data = b"".join(records)
    ends = [sum(len(r) for r in records[: i + 1]) for i in range(len(records))]
    path = tmp_path / "out"
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        found, valid = read_records(path, output_format)
        complete = [end for end in ends if end <= cut]
        assert list(found) == [d.id for d in documents[: len(complete)]]
        assert valid == (complete[-1] if complete else 0)
        assert b"".join(found.values()) == data[:valid]


@pytest.mark.parametrize("output_format", ["jsonl", "pubtator"])
def test_resume_after_a_record_cut_mid_write(ner, inputs, tmp_path, output_format):
    reference = tmp_path / f"reference.{output_format}"
    run(ner, inputs, reference, output_format=output_format)
    data = reference.read_bytes()
    records, _ = read_records(reference, output_format)
    lengths = [len(r) for r in records.values()]
    # cut inside the 4th record and inside the multi-byte characters of a later one
    cuts = [sum(lengths[:3]) + 7, data.index("北".encode()) + 1, len(data) - 1]
    for cut in cuts:
        output = tmp_path / f"resumed-{cut}.{output_format}"
        output.write_bytes(data[:cut])
        result = run(ner, inputs, output, output_format=output_format)
        assert result.skipped + result.tagged == 13 and result.tagged > 0
        assert output.read_bytes() == data, f"resuming after a cut at byte {cut} changed the output"
    again = run(ner, inputs, output, output_format=output_format)
    assert (again.skipped, again.tagged) == (13, 0)
    assert output.read_bytes() == data


KILLABLE = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, %(repo)r)
    import srunear.tagging as tagging
    original = tagging.format_record
    def slow(*args):
        time.sleep(0.25)
        return original(*args)
    tagging.format_record = slow
    sys.exit(tagging.main(sys.argv[1:]))
    """
)


def test_killed_run_resumes_without_loss_or_duplicates(ner, model_folder, inputs, tmp_path):
    reference = tmp_path / "reference.jsonl"
    run(ner, inputs, reference)
    output = tmp_path / "killed.jsonl"
    argv = [str(model_folder), *map(str, inputs), "--output", str(output), "--lines", "--batch-size", "1",
            "--no-progress", "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", KILLABLE % {"repo": str(REPO_ROOT)}, *argv], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if output.exists() and len(read_records(output, "jsonl")[0]) >= 3:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[1].decode()[-3000:]
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    written = len(read_records(output, "jsonl")[0])
    assert 3 <= written < 13
    result = run(ner, inputs, output)
    assert result.skipped == written and result.tagged == 13 - written
    resumed, expected = jsonl_records(output), jsonl_records(reference)
    assert [r["id"] for r in resumed] == EXPECTED_IDS
    for got, want in zip(resumed, expected):
        assert got["text"] == want["text"]
        assert [(e["start"], e["end"], e["entity_group"]) for e in got["entities"]] == [
            (e["start"], e["end"], e["entity_group"]) for e in want["entities"]
        ]
        assert all(abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(got["entities"], want["entities"]))


@pytest.mark.parametrize("output_format", ["jsonl", "pubtator"])
def test_two_shards_then_merge_in_input_order(ner, inputs, tmp_path, output_format):
    reference = tmp_path / "reference"
    run(ner, inputs, reference, output_format=output_format)
    output = tmp_path / "sharded"
    first = run(ner, inputs, output, output_format=output_format, num_shards=2, shard_index=0)
    assert first.output == part_path(output, 0, 2) and first.output.name == "sharded.part0-of-2"
    assert not first.merged and not output.exists()
    assert list(read_records(first.output, output_format)[0]) == EXPECTED_IDS[0::2]
    second = run(ner, inputs, output, output_format=output_format, num_shards=2, shard_index=1)
    assert second.merged and (second.total, second.tagged) == (6, 6)
    assert output.read_bytes() == reference.read_bytes()
    again = run(ner, inputs, output, output_format=output_format, num_shards=2, shard_index=0)
    assert (again.tagged, again.skipped, again.merged) == (0, 7, True)
    assert output.read_bytes() == reference.read_bytes()


def test_merge_waits_for_incomplete_shards(ner, inputs, tmp_path):
    output = tmp_path / "out.jsonl"
    run(ner, inputs, output, num_shards=3, shard_index=2)
    ids = [d.id for d in read_documents(inputs, lines=True)]
    assert not merge_parts(output, ids, 3, "jsonl") and not output.exists()
    part = part_path(output, 0, 3)
    part.write_bytes(b'{"id": "whole", "text": "cut off')  # a shard killed mid-record is not complete
    assert not merge_parts(output, ids, 3, "jsonl")


def test_an_empty_shard_is_complete(ner, tmp_path):
    source = tmp_path / "one.txt"
    source.write_text("p53 binds DNA.", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    empty = run(ner, [source], output, num_shards=2, shard_index=1)
    assert empty.total == 0 and part_path(output, 1, 2).exists() and not empty.merged
    full = run(ner, [source], output, num_shards=2, shard_index=0)
    assert full.merged and [r["id"] for r in jsonl_records(output)] == ["one:1"]


def test_missing_input_file_is_reported(ner, tmp_path):
    with pytest.raises(TaggingError, match="input file not found: .*nowhere.txt"):
        run(ner, [tmp_path / "nowhere.txt"], tmp_path / "out.jsonl")


@pytest.mark.parametrize("name, content, error, message", [
    ("bad.jsonl", '{"id": "a", "text": "fine"}\n\n{"id": "b", "text": \n', TaggingError, r"bad\.jsonl:3: malformed JSON line"),
    ("bad.jsonl", '{"id": "a", "body": "x"}\n', TaggingError, r"bad\.jsonl:1: no 'text' key"),
    ("bad.pubtator", "1|t|Title\n1|a|Abstract\n1\t0\t5\tTitle\n", CorpusFormatError, r"bad\.pubtator:3: expected 'PMID<TAB>start"),
    ("bad.pubtator", "1|t|Title\n1|a|Abstract\nnot pubtator at all\n", CorpusFormatError, r"bad\.pubtator:3: expected 'PMID\|t\|title'"),
])
def test_malformed_input_names_file_and_line(ner, tmp_path, name, content, error, message):
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=message):
        run(ner, [source], tmp_path / f"out{source.suffix}")


def test_json_lines_text_key_is_configurable(tmp_path):
    source = tmp_path / "other.jsonl"
    source.write_text('{"id": "a", "body": "x"}\n', encoding="utf-8")
    assert [d.text for d in read_documents([source], text_key="body")] == ["x"]


def test_duplicate_ids_and_foreign_outputs_are_refused(ner, inputs, tmp_path):
    with pytest.raises(TaggingError, match="appears twice"):
        run(ner, [inputs[0], inputs[0]], tmp_path / "out.jsonl")
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"id": "elsewhere", "text": "", "entities": []}\n', encoding="utf-8")
    with pytest.raises(TaggingError, match="not among the inputs"):
        run(ner, inputs, foreign)
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json at all\n", encoding="utf-8")
    with pytest.raises(TaggingError, match=r"garbage\.jsonl:1: not a JSON lines record"):
        run(ner, inputs, garbage)


def test_recover_output_truncates_only_the_incomplete_tail(tmp_path):
    path = tmp_path / "out.jsonl"
    complete = b'{"id": "a", "text": "", "entities": []}\n'
    path.write_bytes(complete + b'{"id": "b", "te')
    assert list(recover_output(path, "jsonl")) == ["a"]
    assert path.read_bytes() == complete
    assert recover_output(tmp_path / "new" / "out.jsonl", "jsonl") == {} and (tmp_path / "new" / "out.jsonl").exists()


def test_command_line_errors_exit_cleanly(tmp_path, capsys):
    assert main([str(tmp_path), str(tmp_path / "missing.txt"), "--output", str(tmp_path / "o.jsonl"), "--no-progress"]) == 2
    assert "error: input file not found" in capsys.readouterr().err
    source = tmp_path / "x.txt"
    source.write_text("p53", encoding="utf-8")
    assert main([str(tmp_path), str(source), "-o", str(tmp_path / "o.jsonl"), "--num-shards", "2"]) == 2
    assert "--shard-index" in capsys.readouterr().err


def test_command_line_tags_into_pubtator(model_folder, inputs, tmp_path, capsys):
    output = tmp_path / "cli.pubtator"
    assert main([str(model_folder), *map(str, inputs), "-o", str(output), "--lines", "--no-progress", "--device", "cpu"]) == 0
    assert [d.pmid for d in parse_pubtator(output)] == EXPECTED_IDS
    assert "13 documents tagged" in capsys.readouterr().err


def never_load(monkeypatch):
    import srunear.tagging as tagging

    monkeypatch.setattr(tagging, "_load_pipeline", lambda *args: pytest.fail("the model was loaded"))


@pytest.mark.parametrize("where", ["under_a_file", "a_folder"])
def test_an_unwritable_output_is_refused_before_anything_is_loaded(model_folder, inputs, tmp_path, capsys, monkeypatch, where):
    never_load(monkeypatch)
    (tmp_path / "plain.txt").write_text("x", encoding="utf-8")
    output = tmp_path / "plain.txt" / "out.jsonl" if where == "under_a_file" else tmp_path
    assert main([str(model_folder), *map(str, inputs), "-o", str(output), "--lines", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write the output {output}" if where == "under_a_file" else f"error: the output {output} is a folder")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_input_problems_are_named_before_the_model_is_loaded(model_folder, tmp_path, capsys, monkeypatch):
    never_load(monkeypatch)
    surrogate = tmp_path / "bad.jsonl"
    surrogate.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": "p53 \\ud800 binds"}\n', encoding="utf-8")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("fine\ncaf\u00e9 p53\n".encode("latin-1"))
    bom = tmp_path / "bom.pubtator"
    bom.write_bytes(b"\xef\xbb\xbf" + "1|t|Title\n1|a|Abstract\n\n".encode("utf-8"))
    for source, message in ((surrogate, rf"error: {surrogate}:2: the text holds a lone surrogate U\+D800 at character 4"),
                            (latin, rf"error: {latin}:2: not UTF-8 at byte 0xe9 \(column 4\); re-encode it as UTF-8")):
        assert main([str(model_folder), str(source), "-o", str(tmp_path / "o.jsonl"), "--no-progress"]) == 2
        assert re.match(message, capsys.readouterr().err)
    assert [d.id for d in read_documents([bom])] == ["1"]  # a byte order mark does not hide the header


def test_a_folder_that_is_not_an_srunear_model_is_refused(tmp_path, inputs, capsys, monkeypatch):
    from helpers import save_tiny_encoder

    never_load(monkeypatch)
    bert = save_tiny_encoder(tmp_path / "bert")
    assert main([str(bert), *map(str, inputs), "-o", str(tmp_path / "o.jsonl"), "--lines", "--no-progress"]) == 2
    assert "holds a 'bert' model, not an SRU-NER ('srunear') model" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not an SRU-NER"):
        main([str(bert), *map(str, inputs), "-o", str(tmp_path / "o.jsonl"), "--lines", "--no-progress", "--debug"])


def test_progress_is_counted_in_characters_within_a_long_document(ner, tmp_path, monkeypatch):
    import tqdm.auto

    updates = []

    class Recording(tqdm.auto.tqdm):
        def update(self, n=1):
            updates.append(n)
            return super().update(n)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    text = " ".join(f"Sentence {i} names BRCA{i}." for i in range(12))
    source = tmp_path / "long.txt"
    source.write_text(text, encoding="utf-8")
    run(ner, [source], tmp_path / "out.jsonl", lines=False, batch_size=4, progress=True)
    assert len(updates) == 3 and sum(updates) == len(text)  # one update per batch of sentences, not per document


def test_shards_on_one_cpu_split_its_cores(monkeypatch):
    import torch

    from srunear.tag_shards import share_cores

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    share_cores(2, torch.device("cpu"))
    share_cores(16, torch.device("cpu"))
    share_cores(1, torch.device("cpu"))  # one process keeps torch's choice
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # accelerate: 4 of the shards on this machine
    share_cores(8, torch.device("cpu"))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice wins
    share_cores(2, torch.device("cpu"))
    assert calls == [4, 1, 2]
