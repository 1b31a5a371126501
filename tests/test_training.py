"""Experiment files, and train.py end to end: one process, two processes, resume after a kill, real corpora."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO_ROOT, run_script, save_tiny_encoder, write_experiment

from srunear.experiment import load_experiment, minilm_path
from srunear.training import epoch_examples, sampling_probabilities, warmup_then_decay


def read_metrics(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("encoder"))


# --------------------------------------------------------------------------- experiment files


def test_defaults_overrides_and_relative_paths(tmp_path, tiny_encoder):
    path = write_experiment(tmp_path, tiny_encoder)
    experiment = load_experiment(path, ["training.epochs=5", "training.sampling={genes: 0.7, diseases: 0.3}", "model.threshold=0.4"])
    assert experiment.training.epochs == 5 and experiment.training.batch_size == 4
    assert experiment.training.sampling == {"genes": 0.7, "diseases": 0.3}
    assert experiment.training.encoder_learning_rate == 2e-5 and experiment.training.decoder_learning_rate == 3e-4
    assert experiment.training.weight_decay == 0.001 and experiment.training.patience == 30
    assert experiment.training.adam_betas == (0.9, 0.98) and experiment.training.adam_epsilon == 1e-6
    assert experiment.training.epoch_size == "mean" and load_experiment(path).training.sampling == "uniform"
    assert experiment.model == {"half_context": 8, "threshold": 0.4}
    assert experiment.base_dir == tmp_path.resolve()
    assert experiment.encoder_path() == str(tiny_encoder.resolve())
    experiment.check_paths()
    assert load_experiment(path, ["encoder=minilm"]).encoder_path() == minilm_path()


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainig.epochs=2", r"unknown keys \['trainig'\]"),
        ("training.epoch=2", r"unknown training keys \['epoch'\]"),
        ("model.hidden=3", r"unknown model keys \['hidden'\]"),
        ("training.batch_size=0", "batch_size must be a positive integer"),
        ("training.sampling=sizes", "training.sampling must be"),
        ("training.sampling={genes: 1.0}", "a probability for each source"),
        ("training.epoch_size=all", "epoch_size must be 'mean' or 'total'"),
        ("training.adam_betas=[0.9]", "adam_betas must be two numbers"),
        ("training.adam_betas=[0.9, 1.5]", "adam_betas must be two numbers"),
        ("training.adam_epsilon=0", "adam_epsilon must be a positive number"),
        ("preset=bionlp", r"unknown preset 'bionlp'; known presets: \['genia'\]"),
        ("sources.0.merge_sentences=maybe", "merge_sentences must be auto, true or false"),
        ("sources.0.colour=red", r"unknown keys \['colour'\]"),
        ("sources.5.name=x", "not an index of a list of 2 items"),
        ("training.epochs", "is not key=value"),
    ],
)
def test_clear_errors(tmp_path, tiny_encoder, override, message):
    path = write_experiment(tmp_path, tiny_encoder)
    with pytest.raises(ValueError, match=message):
        load_experiment(path, [override])


def test_missing_corpus_file_is_named(tmp_path, tiny_encoder):
    path = write_experiment(tmp_path, tiny_encoder)
    experiment = load_experiment(path, ["sources.1.paths.dev=nowhere/dev.tsv"])
    with pytest.raises(FileNotFoundError, match=f"'diseases', split 'dev': no file at {tmp_path.resolve()}/nowhere/dev.tsv"):
        experiment.check_paths()
    with pytest.raises(FileNotFoundError, match="no experiment file at"):
        load_experiment(tmp_path / "missing.yaml")


def test_example_files_parse_without_network():
    hub = load_experiment(REPO_ROOT / "examples" / "hub_datasets.yaml")
    assert [s.format for s in hub.sources] == ["hf_token_classification", "bigbio_kb", "bigbio_kb"]
    assert hub.sources[1].hub.name == "bc5cdr_bigbio_kb" and hub.sources[0].hub.splits["dev"] == "validation"
    shared = load_experiment(REPO_ROOT / "examples" / "shared_biomed.yaml")
    assert shared.source_names == ["ncbi_disease", "bc5cdr_chem", "linnaeus"]
    assert shared.base_dir == (REPO_ROOT.parent / "shared" / "data").resolve()
    assert shared.encoder_path() == minilm_path()


def test_sampling_and_schedule():
    assert sampling_probabilities("uniform", {"a": 100, "b": 300, "c": 5}) == pytest.approx([1 / 3] * 3)
    assert sampling_probabilities("inverse_size", {"a": 100, "b": 300}) == pytest.approx([0.75, 0.25])
    assert sampling_probabilities("proportional", {"a": 100, "b": 300}) == pytest.approx([0.25, 0.75])
    assert sampling_probabilities({"b": 1, "a": 3}, {"a": 100, "b": 300}) == pytest.approx([0.75, 0.25])
    factor = warmup_then_decay(warmup_steps=4, total_steps=12)
    assert [round(factor(step), 3) for step in (0, 3, 4, 8, 12)] == [0.25, 1.0, 1.0, 0.5, 0.0]


def test_an_epoch_is_the_mean_source_size_unless_configured():
    from srunear.experiment import TrainingConfig

    sizes = {"a": 100, "b": 300, "c": 5}
    assert epoch_examples(TrainingConfig(), sizes) == 135
    assert epoch_examples(TrainingConfig(epoch_size="total"), sizes) == 405
    assert epoch_examples(TrainingConfig(steps_per_epoch=7, batch_size=4), sizes) == 28


def test_uniform_mixture_draws_each_source_equally_often():
    """The paper's sampler: a source with probability 1/K per draw, whatever its size."""
    import datasets

    from srunear.training import SourceMixture

    sources = {name: datasets.Dataset.from_dict({"source": [name] * size, "i": list(range(size))})
               for name, size in (("small", 20), ("large", 2000))}
    mixture = SourceMixture(sources, sampling_probabilities("uniform", {"small": 20, "large": 2000}), 1010, seed=0)
    counts = {name: 0 for name in sources}
    for epoch in range(2):
        mixture.draw(epoch)
        for name in mixture.epoch_data["source"]:
            counts[name] += 1
    assert len(mixture) == 1010 and sum(counts.values()) == 2020
    assert abs(counts["small"] - 1010) < 100  # binomial(2020, 1/2): std 22
    inverse = SourceMixture(sources, sampling_probabilities("inverse_size", {"small": 20, "large": 2000}), 1010, seed=0)
    assert sum(name == "small" for name in inverse.epoch_data["source"]) > 950


def test_optimiser_uses_the_papers_adam_settings(tmp_path, tiny_encoder):
    from srunear.splits import load_split
    from srunear.training import build_model, build_optimizer

    path = write_experiment(tmp_path, tiny_encoder)
    for overrides, betas, eps in (([], (0.9, 0.98), 1e-6),
                                  (["training.adam_betas=[0.9, 0.999]", "training.adam_epsilon=1.0e-8"], (0.9, 0.999), 1e-8)):
        experiment = load_experiment(path, overrides)
        model = build_model(experiment, load_split(experiment, "train"), load_split(experiment, "dev"))
        optimizer = build_optimizer(model, experiment.training)
        assert [(g["betas"], g["eps"]) for g in optimizer.param_groups] == [(betas, eps)] * 2
        assert [g["lr"] for g in optimizer.param_groups] == [2e-5, 3e-4]
        assert all(g["weight_decay"] == 0.001 for g in optimizer.param_groups)  # biases included, as the paper


def test_genia_preset_fills_in_what_the_file_does_not_set(tmp_path, tiny_encoder):
    path = write_experiment(tmp_path, tiny_encoder)
    experiment = load_experiment(path, ["preset=genia", "sources.1.merge_sentences=true"])
    assert experiment.preset == "genia"
    assert experiment.model == {"action_space_dim": 10, "half_context": 8, "token_multiplier": 10.0,
                                "train_token_multiplier": True}  # the file's half_context wins
    assert experiment.training.encoder_learning_rate == 3e-5 and experiment.training.decoder_learning_rate == 3e-4
    assert [s.merge_sentences for s in experiment.sources] == [False, True]  # measured: merging off (ablations)
    explicit = load_experiment(path, ["preset=genia", "training.encoder_learning_rate=1.0e-4"])
    assert explicit.training.encoder_learning_rate == 1e-4
    assert load_experiment(path).model == {"half_context": 8} and load_experiment(path).preset is None


def test_genia_benchmark_uses_the_preset_on_the_whole_corpus():
    experiment = load_experiment(REPO_ROOT / "benchmarks" / "accuracy" / "genia_full.yaml")
    assert experiment.preset == "genia"
    assert experiment.model["action_space_dim"] == 10 and experiment.model["half_context"] == 240
    assert experiment.model["token_multiplier"] == 10 and experiment.model["train_token_multiplier"] is True
    assert experiment.sources[0].merge_sentences is False  # the preset, as the GENIA ablation measured
    assert experiment.training.max_train_examples is None and experiment.training.max_eval_examples is None
    assert experiment.sources[0].paths["train"].endswith("genia_nested/train.jsonl")


def test_label_masks_false_makes_every_source_annotate_every_type(tmp_path, tiny_encoder):
    from srunear.splits import load_split
    from srunear.training import build_model

    path = write_experiment(tmp_path, tiny_encoder)
    for masks, expected in ((True, {"genes": ["Gene"], "diseases": ["Disease"]}),
                            (False, {"genes": ["Disease", "Gene"], "diseases": ["Disease", "Gene"]})):
        experiment = load_experiment(path, [f"training.label_masks={str(masks).lower()}"])
        assert experiment.training.label_masks is masks
        model = build_model(experiment, load_split(experiment, "train"), load_split(experiment, "dev"))
        assert {name: sorted(types) for name, types in model.config.sources.items()} == expected
        assert sorted(model.config.entity_types) == ["Disease", "Gene"]
    with pytest.raises(ValueError, match="label_masks must be true or false"):
        load_experiment(path, ["training.label_masks=maybe"])


# --------------------------------------------------------------------------- training runs


def test_one_process_end_to_end(tmp_path, tiny_encoder):
    import torch

    from modeling_srunear import SRUNERModel
    from srunear.prediction import predict_spans
    from transformers import AutoTokenizer

    config = write_experiment(tmp_path, tiny_encoder)
    output = tmp_path / "out"
    result = run_script(sys.executable, "train.py", str(config), "--output-dir", str(output), "training.epochs=3")
    assert "genes [train]: 1 documents, 40 sentences" in result.stdout  # read reports first
    assert "| genes | Gene |" in result.stdout and "best epoch" in result.stdout
    metrics = read_metrics(output)
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert set(metrics[0]["sources"]) == {"genes", "diseases"}
    assert set(metrics[0]["sources"]["genes"]["types"]) <= {"Gene"}  # each source scored on its own types
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    assert not (output / "best.tmp").exists() and not (output / "state.tmp").exists()
    card = (output / "best" / "README.md").read_text()
    assert "trust_remote_code=True" in card and "| genes |" in card and "{{" not in card
    assert (output / "best" / "pipeline_srunear.py").exists()
    model = SRUNERModel.from_pretrained(output / "best")
    assert model.config.sources == {"genes": ["Gene"], "diseases": ["Disease"]}
    tokenizer = AutoTokenizer.from_pretrained(output / "best")
    spans = predict_spans(model, tokenizer, [{"tokens": ["BRCA1", "binds"]}, {"tokens": ["x"] * 600}])
    assert len(spans) == 2 and all(0 <= s[0] < s[1] <= 600 for s in spans[1])  # too long: predicted in pieces
    assert json.loads((output / "state" / "trainer_state.json").read_text())["epoch"] == 3
    assert torch.is_grad_enabled()


def test_sentences_over_the_limit_are_split_not_dropped(tmp_path, tiny_encoder):
    config = write_experiment(tmp_path, tiny_encoder)
    output = tmp_path / "out"
    result = run_script(sys.executable, "train.py", str(config), "--output-dir", str(output), "--max-steps", "2",
                        "training.epochs=1", "model.max_subword_tokens=10")
    examples = re.search(r"genes \[train\]: 1 documents, 40 sentences -> (\d+) examples", result.stdout)
    assert examples and int(examples.group(1)) > 40  # the long ones became several pieces
    assert "split:" in result.stdout and "cut_mention" not in result.stdout and "dropped" not in result.stdout
    (metrics,) = read_metrics(output)
    for name, entity_type in (("genes", "Gene"), ("diseases", "Disease")):  # one mention per dev sentence
        assert metrics["sources"][name]["types"][entity_type]["support"] == 10


def test_two_processes(tmp_path, tiny_encoder):
    from modeling_srunear import SRUNERModel

    config = write_experiment(tmp_path, tiny_encoder)
    output = tmp_path / "out"
    # `accelerate launch --num_processes 2 --cpu` starts a single process in accelerate 1.x; torchrun
    # (or `accelerate launch --multi_gpu`) with ACCELERATE_USE_CPU=1 gives two gloo processes on CPU.
    torchrun = Path(sys.executable).with_name("torchrun")
    run_script(str(torchrun), "--standalone", "--nproc_per_node", "2", "train.py", str(config),
               "--output-dir", str(output), "--max-steps", "3", env={"ACCELERATE_USE_CPU": "1"}, timeout=180)
    assert (output / "state" / "random_states_1.pkl").is_file()  # the second process took part
    assert [m["step"] for m in read_metrics(output)] == [3]
    SRUNERModel.from_pretrained(output / "best")


def comparable(metrics: list[dict]) -> list[dict]:
    return [{key: value for key, value in m.items() if key != "time"} for m in metrics]


def test_resume_after_kill_gives_the_same_run(tmp_path, tiny_encoder):
    from safetensors.torch import load_file

    config = write_experiment(tmp_path, tiny_encoder)
    overrides = ["training.epochs=3", "training.steps_per_epoch=25"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_script(sys.executable, "train.py", str(config), "--output-dir", str(straight), *overrides, env={"OMP_NUM_THREADS": "1"})

    # One thread: CPU kernels may sum in a different order run to run with several threads.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "train.py", str(config), "--output-dir", str(killed), *overrides],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = killed / "state" / "trainer_state.json"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        if state_file.is_file() and json.loads(state_file.read_text())["epoch"] >= 1:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    epochs_done = json.loads(state_file.read_text())["epoch"]
    assert 1 <= epochs_done < 3, "the run must be killed between epochs 1 and 3"

    run_script(sys.executable, "train.py", str(config), "--output-dir", str(killed), "--resume", *overrides, env={"OMP_NUM_THREADS": "1"})
    assert comparable(read_metrics(killed)) == comparable(read_metrics(straight))
    recorded = json.loads(state_file.read_text())["settings"]
    assert recorded["training.epochs"] == 3 and recorded["training.steps_per_epoch"] == 25
    for folder in ("best", "state"):
        a, b = load_file(straight / folder / "model.safetensors"), load_file(killed / folder / "model.safetensors")
        assert a.keys() == b.keys()
        for name in a:
            assert (a[name] - b[name]).abs().max() <= 1e-6, name


def test_real_corpora_few_steps(tmp_path, tiny_encoder, shared_data):
    splits = lambda name: {s: str(shared_data / name / f"{s}.tsv") for s in ("train", "dev")}  # noqa: E731
    experiment = {
        "encoder": str(tiny_encoder),
        "model": {"half_context": 8},
        "training": {"epochs": 1, "batch_size": 4, "steps_per_epoch": 3, "max_train_examples": 12, "max_eval_examples": 8},
        "sources": [
            {"name": "ncbi_disease", "format": "iob", "paths": splits("ncbi_disease")},
            {"name": "bc5cdr_chem", "format": "iob", "paths": splits("bc5cdr_chem")},
            {"name": "linnaeus", "format": "iob", "paths": splits("linnaeus")},
        ],
    }
    config = tmp_path / "real.yaml"
    config.write_text(yaml.safe_dump(experiment), encoding="utf-8")
    run_script(sys.executable, "train.py", str(config), "--output-dir", str(tmp_path / "out"))
    (metrics,) = read_metrics(tmp_path / "out")
    assert set(metrics["sources"]) == {"ncbi_disease", "bc5cdr_chem", "linnaeus"}
    for name, entity_type in (("ncbi_disease", "Disease"), ("bc5cdr_chem", "Chemical"), ("linnaeus", "Species")):
        block = metrics["sources"][name]
        assert set(block["types"]) <= {entity_type}, block  # scored only on the type it annotates
        assert 0 <= block["micro"]["f1"] <= 100


def test_mixed_precision_no_may_be_written_unquoted_in_yaml():
    from srunear.experiment import TrainingConfig, apply_overrides

    assert apply_overrides({"training": {}}, ["training.mixed_precision=no"])["training"]["mixed_precision"] is False
    assert TrainingConfig(mixed_precision=False).mixed_precision == "no"  # what YAML made of `no`
    with pytest.raises(ValueError, match="mixed_precision must be"):
        TrainingConfig(mixed_precision=True)


def test_mixed_precision_auto_is_full_precision_without_a_bf16_gpu(monkeypatch):
    import torch

    from srunear.training import resolve_mixed_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_mixed_precision("auto") == "no"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_mixed_precision("auto") == "bf16"
    assert resolve_mixed_precision("fp16") == "fp16"


KILL_BETWEEN_RENAMES = """
import json, os, signal, sys
from pathlib import Path
from transformers import AutoTokenizer
from modeling_srunear import SRUNERModel
import srunear.training as training

output = Path(sys.argv[1])
rename = Path.rename

def rename_then_die(self, target):
    moved = rename(self, target)
    if self.name == "best":  # the old best/ is aside as best.old/, the new one not yet in place
        os.kill(os.getpid(), signal.SIGKILL)
    return moved

Path.rename = rename_then_die
model = SRUNERModel.from_pretrained(output / "best")
tokenizer = AutoTokenizer.from_pretrained(output / "best")
last = json.loads((output / "metrics.jsonl").read_text().splitlines()[-1])
report = {"sources": last["sources"], "average_f1": last["average_f1"]}
training.save_best(model, tokenizer, output, report, training.TrainerState(epoch=1, best_f1=report["average_f1"], best_epoch=1))
"""


def test_killed_between_the_renames_that_replace_best_the_model_stays_loadable(tmp_path, tiny_encoder):
    from modeling_srunear import SRUNERModel
    from srunear.loading import load_model

    config = write_experiment(tmp_path, tiny_encoder)
    output = tmp_path / "out"
    run_script(sys.executable, "train.py", str(config), "--output-dir", str(output), "training.epochs=1")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    killed = subprocess.run([sys.executable, "-c", KILL_BETWEEN_RENAMES, str(output)], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (output / "best").exists() and (output / "best.tmp").is_dir()
    SRUNERModel.from_pretrained(output / "best.old")  # the predecessor is whole
    with pytest.raises(FileNotFoundError, match=r"the previous model is at .*best\.old .*train\.py --resume"):
        load_model(output / "best")  # what evaluate.py and tag.py say

    run_script(sys.executable, "train.py", str(config), "--output-dir", str(output), "training.epochs=1", "--resume")
    assert not (output / "best.old").exists()
    load_model(output / "best")


def run_failing(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    return subprocess.run(args, cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=120)


def test_user_errors_are_one_line_without_traceback_unless_debugging(tmp_path, tiny_encoder):
    config = write_experiment(tmp_path, tiny_encoder)
    train_file = tmp_path / "genes" / "train.tsv"
    train_file.write_text("\n\n", encoding="utf-8")
    result = run_failing(sys.executable, "train.py", str(config), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"error: {train_file.resolve()}: the file is empty; expected 'token<TAB>tag' lines, a blank line after each sentence"
    )
    debug = run_failing(sys.executable, "train.py", str(config), "--output-dir", str(tmp_path / "out"), "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "CorpusFormatError" in debug.stderr

    train_file.write_bytes("Aspirin\tB-Chemical\n\ncaf\u00e9\tO\n".encode("latin-1"))
    result = run_failing(sys.executable, "train.py", str(config), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: {train_file.resolve()}:3: not UTF-8 at byte 0xe9 (column 4); "
        "re-encode it as UTF-8, e.g. iconv -f latin1 -t utf8 train.tsv > train.utf8.tsv"
    )


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("encoder: minilm\nsources:\n  - name: x\n   format: iob\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{path}:4: not valid YAML: expected <block end>, but found"):
        load_experiment(path)
    with pytest.raises(ValueError, match=r"^override 'training.sampling=\{a: 1': not valid YAML"):
        load_experiment(REPO_ROOT / "examples" / "shared_biomed.yaml", ["training.sampling={a: 1"])
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("encoder: minilm\n# caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^{latin}:2: not UTF-8 at byte 0xe9"):
        load_experiment(latin)
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + (REPO_ROOT / "examples" / "shared_biomed.yaml").read_bytes())
    assert load_experiment(bom).source_names == ["ncbi_disease", "bc5cdr_chem", "linnaeus"]


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    from srunear.training import check_resume_settings

    recorded = load_experiment(write_experiment(tmp_path, "unused"), ["training.epochs=5"]).settings()
    assert recorded["training.epochs"] == 5 and recorded["model.half_context"] == 8
    check_resume_settings(recorded, dict(recorded), tmp_path)  # the same run
    check_resume_settings({}, recorded, tmp_path)  # a checkpoint of an earlier version, which recorded none
    harmless = {**recorded, "training.eval_batch_size": 7, "training.patience": 2}
    check_resume_settings(recorded, harmless, tmp_path)
    longer = {**recorded, "training.epochs": 10, "training.seed": 4}
    with pytest.raises(ValueError, match=r"training\.epochs: 5 in the checkpoint, 10 now; training\.seed: .*new --output-dir"):
        check_resume_settings(recorded, longer, tmp_path)
    # a setting added since the checkpoint was written: no change at its default, a change at any other value
    older = {key: value for key, value in recorded.items() if key != "training.eval_subset"}
    assert recorded["training.eval_subset"] == "first"
    check_resume_settings(older, recorded, tmp_path)
    with pytest.raises(ValueError, match=r"training\.eval_subset: None in the checkpoint, 'spread' now"):
        check_resume_settings(older, {**recorded, "training.eval_subset": "spread"}, tmp_path)
    with pytest.raises(ValueError, match=r"training\.epochs: None in the checkpoint, 5 now"):  # not new: it was lost
        check_resume_settings({k: v for k, v in recorded.items() if k != "training.epochs"}, recorded, tmp_path)
