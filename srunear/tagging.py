"""Tag many documents with a saved SRU-NER model: resumable, shardable; JSON lines, PubTator, brat, BioC or HTML out.

    python tag.py MODEL_DIR INPUT... --output OUT [--format jsonl|pubtator|brat|bioc-xml|bioc-json|html]
                  [--input-format auto|text|jsonl|pubtator|bioc|brat] [--lines] [--threshold X] [--batch-size N] [--debug]

Everything that can be checked without the model is checked before it is loaded: the
options, the model folder's type, that the output can be written, and every input document
(ids, format, encoding). Progress is counted in characters, so a single long document
shows how far it has got.

Inputs are plain-text files (one document per file, or one per non-blank line with ``--lines``;
the id is the file stem, or ``stem:line``), JSON lines (``{"id": ..., "text": ...}``; the keys
are configurable), PubTator files (title and abstract; the text is ``title + " " + abstract``),
BioC XML or JSON collections (the passages at their offsets; annotations already there are not
read) or brat folders (every ``.txt`` below the folder; the id is its path below it without
``.txt``). Every entity's ``start``/``end`` are character offsets into that document text.

Documents go to the pipeline a few batches at a time (it orders a group's sentences by length,
so batches carry little padding); output is appended one document at a time and flushed as its
group finishes, so a run that is stopped (Ctrl-C, a killed job) loses at most the group in
progress and can simply be started again with the same arguments: documents already complete
in the output are skipped, and a record cut off half-way is removed before appending. Document
ids must therefore be unique across the inputs (checked before anything is tagged).

Several processes (``accelerate launch tag.py ...``, or ``--num-shards K --shard-index I`` by
hand) each tag the documents whose input position ``n`` has ``n % K == I`` into their own file
``OUT.partI-of-K`` (resumable on its own). When every part is complete, the parts are merged
into ``OUT`` in input order: by the main process under accelerate, otherwise by whichever
process finishes last. The part files are kept, so re-running a finished job only re-merges.

Output formats (brat, BioC and HTML are written from a JSON lines journal, ``OUT.records.jsonl``,
which is what is resumed and sharded; the output is written from it, atomically, once every
document is tagged):

* ``jsonl``: one ``{"id", "text", "entities": [{entity_group, score, word, start, end}]}`` per line.
* ``pubtator``: ``ID|t|title``, ``ID|a|abstract``, then ``ID<TAB>start<TAB>end<TAB>mention<TAB>type<TAB>score``
  per entity and a blank line. A document that did not come from PubTator is written with its
  whole text as the title and an empty abstract. Line breaks and tabs are written as spaces
  (in titles, abstracts and mentions alike), which keeps every offset valid and every mention
  equal to its slice of the written text.
* ``brat``: ``OUT`` is a folder with ``ID.txt`` (the text, unchanged) and ``ID.ann`` (a T line per
  entity, its score as an ``AnnotatorNotes`` note) per document.
* ``bioc-xml`` / ``bioc-json``: one BioC collection; each document keeps its BioC passages (PubTator
  input: title and abstract; other input: one passage), each entity an annotation with infons
  ``type`` and ``score`` and its document offset.
* ``html``: one self-contained page, the documents one after another under a legend of types
  with counts (see ``srunear.display``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srunear.cli import command_line
from srunear.tag_inputs import INPUT_FORMATS, Document, TaggingError, check_format, pubtator_passages, read_documents
from srunear.tag_records import RECORD_OUTPUTS, check_id, format_record, read_records, recover_output
from srunear.tag_shards import merge_parts, part_path, resolve_shards, share_cores

__all__ = ["TagResult", "export_documents", "journal_path", "main", "tag_files"]

OUTPUT_FORMATS = (*RECORD_OUTPUTS, "brat", "bioc-xml", "bioc-json", "html")  # the others: written from a journal
GROUP_BATCHES = 4  # documents are handed to the pipeline this many batches at a time


@dataclass
class TagResult:
    """What a call of ``tag_files`` did."""

    output: Path  # the file this process wrote (OUT, or its part file when sharded)
    total: int  # documents in this process's shard
    skipped: int  # already complete in the output (resumed)
    tagged: int  # tagged now
    merged: bool = False  # whether this process wrote the merged OUT
    exported: bool = False  # whether this process wrote a brat, BioC or HTML output from the journal



# --------------------------------------------------------------------------- tagging


def _infer_output_format(output: Path) -> str:
    """From the output name: .pubtator, .xml (BioC XML), .bioc.json (BioC JSON), .html; else JSON lines."""
    name = output.name.lower()
    if ".pubtator" in name:
        return "pubtator"
    for suffix, output_format in ((".xml", "bioc-xml"), (".bioc.json", "bioc-json"), (".html", "html"), (".htm", "html")):
        if name.endswith(suffix):
            return output_format
    return "jsonl"


def journal_path(output: str | Path) -> Path:
    """The JSON lines file that brat, BioC and HTML outputs are tagged into (and resumed from)."""
    output = Path(output)
    return output.with_name(f"{output.name}.records.jsonl")


def export_documents(output: Path, output_format: str, documents: Iterable[Document], records: dict[str, bytes]) -> int:
    """Write ``output`` as brat, BioC or HTML from the journal's records, in input order."""
    from srunear.exports import TaggedDocument, write_bioc, write_brat
    from srunear.files import atomic_write

    def tagged() -> Iterator[TaggedDocument]:
        for document in documents:
            entities = json.loads(records[document.id])["entities"]
            passages = document.passages or (pubtator_passages(document) if document.title is not None else ())
            yield TaggedDocument(document.id, document.text, entities, passages, document.infons)

    if output_format == "brat":
        if output.exists() and not output.is_dir():
            raise TaggingError(f"brat output {output} is a file; give a folder")
        return write_brat(output, tagged())
    if output_format in ("bioc-xml", "bioc-json"):
        return write_bioc(output, tagged(), output_format.split("-")[1])
    from srunear.display import render_page

    items = [(item.id, item.text, item.entities) for item in tagged()]
    atomic_write(output, render_page(items, title=f"srunear: {output.stem}"))
    return len(items)


def check_writable(path: Path) -> None:
    """Fail now, not after the model is loaded, when ``path`` cannot be appended to (a trial leaves no file)."""
    if path.is_dir():
        raise TaggingError(f"the output {path} is a folder; give a file name")
    try:
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):
            pass
        if not existed:
            path.unlink()
    except OSError as error:
        raise TaggingError(f"cannot write the output {path}: {error.strerror or error}") from None


def check_model_folder(model: Any, entity_types: Sequence[str] | None) -> None:
    """The folder must hold an SRU-NER model that predicts ``entity_types``: read from its config, not loaded."""
    from modeling_srunear.pipeline_srunear import check_entity_types

    from srunear.loading import check_model_type

    if isinstance(model, (str, os.PathLike)):
        config = check_model_type(model)
        if entity_types is not None:
            check_entity_types(entity_types, config.get("entity_types") or [])


def _load_pipeline(model: Any, device: Any, trust_remote_code: bool):
    import modeling_srunear  # noqa: F401  (registers the "srunear-ner" task)
    from transformers import AutoTokenizer, pipeline

    from srunear.loading import load_model

    if not isinstance(model, (str, os.PathLike)):
        return model  # already a pipeline
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if trust_remote_code:  # the folder's own code builds the model
        return pipeline("srunear-ner", model=str(model), device=device, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    return pipeline("srunear-ner", model=load_model(model), tokenizer=tokenizer, device=device)


def _reports_progress(ner: Any) -> bool:
    """Whether the pipeline takes a ``progress`` callback (an older saved pipeline may not)."""
    import inspect

    return "progress" in inspect.signature(ner._sanitize_parameters).parameters


def _check_text(document: Document) -> None:
    from modeling_srunear.pipeline_srunear import check_encodable

    try:
        check_encodable(document.text)
    except ValueError as error:
        raise TaggingError(f"{document.where}: {error}") from None


def tag_files(
    model: Any,
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    output_format: str | None = None,
    input_format: str = "auto",
    lines: bool = False,
    id_key: str = "id",
    text_key: str = "text",
    batch_size: int | None = None,
    threshold: float | None = None,
    entity_types: Sequence[str] | None = None,
    return_sources: bool = False,
    num_shards: int | None = None,
    shard_index: int | None = None,
    device: Any = None,
    trust_remote_code: bool = False,
    progress: bool = True,
) -> TagResult:
    """Tag every document of ``inputs`` into ``output``, resuming what is already there.

    ``model`` is a model folder (or Hub id) or an ``srunear-ner`` pipeline. ``output_format``
    defaults to ``pubtator`` when the output name contains ``.pubtator``, else ``jsonl``.
    Without ``num_shards``/``shard_index``, an ``accelerate launch`` provides them.
    """
    output = Path(output)
    output_format = output_format or _infer_output_format(output)
    if output_format in RECORD_OUTPUTS:
        records_path, record_format = output, output_format
    else:
        records_path, record_format = journal_path(output), "jsonl"
    check_format(output_format, OUTPUT_FORMATS, "output")
    if not inputs:
        raise TaggingError("no input files given")
    if batch_size is not None and batch_size < 1:
        raise TaggingError(f"batch size must be at least 1, got {batch_size}")
    if threshold is not None:
        from modeling_srunear.pipeline_srunear import check_threshold

        check_threshold(threshold)
    index, count, state = resolve_shards(num_shards, shard_index)
    target = records_path if count == 1 else part_path(records_path, index, count)
    check_writable(target)
    if records_path != output:
        check_writable(output)

    def documents() -> Iterator[Document]:
        return read_documents(inputs, input_format, lines, id_key, text_key)

    # First pass: validate every input and fix the order, before any model is loaded.
    ids: list[str] = []
    seen: dict[str, str] = {}
    characters: dict[str, int] = {}
    for document in documents():
        check_id(document.id, output_format, document.where)
        _check_text(document)
        if document.id in seen:
            raise TaggingError(
                f"document id {document.id!r} appears twice ({seen[document.id]} and {document.where}); ids must be "
                "unique so that an interrupted run can resume: rename the files or give the records distinct ids"
            )
        seen[document.id] = document.where
        ids.append(document.id)
        characters[document.id] = len(document.text)
    check_model_folder(model, entity_types)

    mine = ids[index::count]
    done = recover_output(target, record_format)
    mine_set = set(mine)
    foreign = [identifier for identifier in done if identifier not in mine_set]
    if foreign:
        raise TaggingError(
            f"{target} holds documents that are not among the inputs (e.g. {foreign[0]!r}); "
            "it belongs to another run: choose another --output or remove it"
        )
    todo = len(mine) - len(done)
    result = TagResult(output=target, total=len(mine), skipped=len(done), tagged=0)

    if todo:
        ner = _load_pipeline(model, device if device is not None or state is None else state.device, trust_remote_code)
        share_cores(count, ner.device)
        from modeling_srunear.pipeline_srunear import DEFAULT_BATCH_SIZE

        call_options: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
        if threshold is not None:
            call_options["threshold"] = threshold
        if entity_types is not None:
            call_options["entity_types"] = entity_types  # a string is one type
        if return_sources:
            call_options["return_sources"] = True  # JSON lines keep each entity's "sources"
        pending: deque[Document] = deque()

        def groups() -> Iterator[list[str]]:
            """The documents to tag, a few batches' worth at a time: the pipeline orders each group's
            sentences by length (little padding), and each finished group is written before the next."""
            group: list[str] = []
            for position, document in enumerate(documents()):
                if position % count == index and document.id not in done:
                    pending.append(document)
                    group.append(document.text)
                    if len(group) == GROUP_BATCHES * (batch_size or DEFAULT_BATCH_SIZE):
                        yield group
                        group = []
            if group:
                yield group

        from tqdm.auto import tqdm

        description = "tagging" if count == 1 else f"tagging shard {index + 1}/{count}"
        with target.open("ab") as handle, tqdm(
            total=sum(characters[i] for i in mine), initial=sum(characters[i] for i in done), unit="char",
            unit_scale=True, desc=description, position=index if count > 1 else None, disable=not progress,
            file=sys.stderr,
        ) as bar:
            by_chunk = _reports_progress(ner)
            if by_chunk:
                call_options["progress"] = bar.update
            for group in groups():
                for entities in ner(group, **call_options):
                    document = pending.popleft()
                    handle.write(format_record(document, entities, record_format))
                    handle.flush()
                    result.tagged += 1
                    bar.set_postfix(docs=f"{result.skipped + result.tagged}/{result.total}", refresh=False)
                    if not by_chunk:
                        bar.update(len(document.text))

    if count > 1:
        if state is not None:
            state.wait_for_everyone()
            if state.is_main_process:
                result.merged = merge_parts(records_path, ids, count, record_format)
        else:
            result.merged = merge_parts(records_path, ids, count, record_format)
            if not result.merged and progress:
                print(f"shard {index} of {count} is complete; {output} will be written when the other shards finish",
                      file=sys.stderr)
    if output_format not in RECORD_OUTPUTS and (count == 1 or result.merged):
        export_documents(output, output_format, documents(), read_records(records_path, record_format)[0])
        result.exported = True
    return result


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tag.py",
        description="Tag documents with a saved SRU-NER model (resumable; shards under accelerate launch).",
    )
    parser.add_argument("model", metavar="MODEL_DIR", help="saved model folder (or Hub id)")
    parser.add_argument("inputs", metavar="INPUT", nargs="+", help="text, JSON lines, PubTator or BioC files, or brat folders")
    parser.add_argument("--output", "-o", required=True, help="output file (brat: folder); resumable")
    parser.add_argument("--format", choices=OUTPUT_FORMATS,
                        help="output format (default from OUT: .pubtator, .xml = bioc-xml, .bioc.json = bioc-json, .html; else jsonl)")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default="auto", help="default: from each file's name and first line")
    parser.add_argument("--lines", action="store_true", help="plain text: one document per non-blank line (id stem:line)")
    parser.add_argument("--id-key", default="id", help="JSON lines: key of the document id (default: id; absent: stem:line)")
    parser.add_argument("--text-key", default="text", help="JSON lines: key of the document text (default: text)")
    parser.add_argument("--batch-size", type=int, help="sentences per forward pass (default: the pipeline's, 32)")
    parser.add_argument("--threshold", type=float, help="keep entities scoring at least this")
    parser.add_argument("--entity-types", nargs="+", metavar="TYPE", help="keep only these entity types")
    parser.add_argument("--sources", action="store_true",
                        help="JSON lines: add each entity's training sources whose heads found it, with their scores")
    parser.add_argument("--num-shards", type=int, help="split the documents into K shards (default: accelerate's process count)")
    parser.add_argument("--shard-index", type=int, help="the shard this process tags (default: accelerate's process index)")
    parser.add_argument("--device", help="e.g. cpu, cuda, cuda:1 (default: accelerate's device, else cuda if available)")
    parser.add_argument("--trust-remote-code", action="store_true", help="run the model folder's own code (without this package's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


@command_line(build_parser)
def main(args: argparse.Namespace) -> int:
    result = tag_files(
        args.model, args.inputs, args.output, output_format=args.format, input_format=args.input_format,
        lines=args.lines, id_key=args.id_key, text_key=args.text_key, batch_size=args.batch_size,
        threshold=args.threshold, entity_types=args.entity_types, return_sources=args.sources, num_shards=args.num_shards,
        shard_index=args.shard_index, device=args.device, trust_remote_code=args.trust_remote_code,
        progress=not args.no_progress,
    )
    print(
        f"{result.output}: {result.tagged} documents tagged, {result.skipped} already done, {result.total} in all"
        + (f"; merged into {args.output}" if result.merged else "")
        + (f"; wrote {args.output}" if result.exported else ""),
        file=sys.stderr,
    )
    return 0
