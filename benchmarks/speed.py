"""Speed benchmark of SRU-NER on CPU: decoder scaling, pipeline inference, training.

Run from the repository root:

    python benchmarks/speed.py            # full run (a few minutes on 2 cores)
    python benchmarks/speed.py --quick    # smoke run (lengths 16 and 64, fewer repeats)

Writes ``benchmarks/results/speed.json``, ``speed.md`` and ``decoder_scaling.png``
(atomically: temp file then ``os.replace``). See ``benchmarks/README.md`` for the method.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Threads that spin-wait at OpenMP barriers stall badly when the cores are shared with
# other processes: on a busy machine run with OMP_WAIT_POLICY=PASSIVE. On an idle one the
# default (spinning) is what users get, and is faster for the decoder's small operations.

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import modeling_srunear  # noqa: E402  (registers the pipeline)
from modeling_srunear import PAPER_SETTINGS, SRUNERConfig, SRUNERDataCollator, SRUNERModel, encode_spans, save_pipeline  # noqa: E402
from modeling_srunear import incremental_srunear  # noqa: E402
from modeling_srunear.decoder_srunear import SRUNERDecoder, action_vocabulary  # noqa: E402
from modeling_srunear.policies_srunear import TeacherForcing, decoding_policy  # noqa: E402
from modeling_srunear.modeling_srunear import gold_action_tensor, run_decoder  # noqa: E402
from modeling_srunear.transition_system import EOA, SHIFT  # noqa: E402
from srunear.experiment import minilm_path  # noqa: E402
from srunear.optimization import parameter_groups  # noqa: E402
from report import atomic_write, save_figure  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DATA = ROOT.parent / "shared" / "data" / "ncbi_disease"
THREADS = 2
HIDDEN = 384
ENTITY_TYPES = [f"T{i}" for i in range(5)]


# ---------------------------------------------------------------- helpers


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu_model": cpu,
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load,
        "device": "cpu",
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


# ---------------------------------------------------------------- 1. decoder scaling

def random_nested_spans(n: int, rng: random.Random, density: float = 0.12) -> list[tuple[int, int, str]]:
    """Random spans, nested or disjoint within a type (never crossing), across 5 types."""
    spans: list[tuple[int, int, str]] = []
    for _ in range(max(1, int(n * density))):
        entity_type = rng.choice(ENTITY_TYPES)
        start = rng.randrange(n)
        end = min(n, start + rng.choice([1, 1, 2, 2, 3, 4, 6]))
        candidate = (start, end, entity_type)
        ok = candidate not in spans
        for s, e, t in spans:
            if t == entity_type and (s < start < e < end or start < s < end < e):
                ok = False
                break
        if ok:
            spans.append(candidate)
    return spans


def decoder_inputs(n: int, batch: int, seed: int):
    """Memory slots ``[CLS, n words, SEP]`` of random vectors, their validity and gold actions of random nested spans."""
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    vocab = action_vocabulary(SRUNERConfig(entity_types=ENTITY_TYPES))
    sequences = [encode_spans(random_nested_spans(n, rng), n, vocab) for _ in range(batch)]
    gold = gold_action_tensor(sequences, len(vocab), padding=0.0)
    slots = torch.randn(batch, n + 2, HIDDEN, generator=generator)
    valid = torch.ones(batch, n + 2, dtype=torch.bool)
    num_words = torch.full((batch,), n, dtype=torch.long)
    return slots, valid, num_words, gold


def make_decoder(implementation: str, seed: int = 0) -> SRUNERDecoder:
    """A decoder initialised as the model initialises it (the paper's scheme), latent vectors made non-zero."""
    config = SRUNERConfig(entity_types=ENTITY_TYPES, decoder_implementation=implementation)
    torch.manual_seed(seed)
    decoder = SRUNERDecoder(config, HIDDEN)
    with torch.no_grad():
        decoder.position_embeddings.weight.normal_(0.0, 1.0)
        decoder.action_embeddings.weight.normal_(0.0, 1.0)
        decoder.latent_vectors.normal_(0.0, 0.05)  # zero at initialisation, which would make attention uniform
    return decoder


def teacher_forced_loss(decoder: SRUNERDecoder, slots, valid, num_words, gold) -> tuple[torch.Tensor, int]:
    """Binary cross-entropy of every step against its gold row; returns (loss, number of steps)."""
    policy = TeacherForcing(gold, torch.zeros(gold.shape[0], gold.shape[2], dtype=torch.bool))
    logits = run_decoder(decoder, policy, slots, valid, num_words)
    targets = torch.cat([gold[rows, index] for rows, index, _ in policy.records])
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets), len(policy.records)


def decode_steps(decoder: SRUNERDecoder, slots, valid, num_words) -> int:
    """Decoding by the config's rule (the default reads every word: steps >= words, as a trained model takes)."""
    policy = decoding_policy(decoder.config, num_words, action_vocabulary(decoder.config).num_types)
    run_decoder(decoder, policy, slots, valid, num_words)
    return len(policy.records)


class _StateMeter:
    """Peak bytes of what the incremental decoder keeps for its backward pass (unique storages).

    Autograd's saved-tensor hooks do not see these (the Function keeps them on its context),
    so the run's memory buffer and its per-step records are counted after every step.
    """

    peak = 0

    @classmethod
    def install(cls):
        original = incremental_srunear._Run.step

        def step(self, *args):
            logits = original(self, *args)
            seen, total = set(), 0
            tensors = [self.memory, *self.logits, *(t for record in self.steps for t in record.values())]
            for tensor in tensors:
                storage = tensor.untyped_storage()
                if storage.data_ptr() not in seen:
                    seen.add(storage.data_ptr())
                    total += storage.nbytes()
            cls.peak = max(cls.peak, total)
            return logits

        incremental_srunear._Run.step = step
        return original


def saved_activation_bytes(fn) -> tuple[int, object]:
    """Run ``fn`` and sum the bytes of the unique storages autograd saves for backward."""
    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = max(storages.get(storage.data_ptr(), 0), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn()
    return sum(storages.values()), result


def decoder_runner(implementation: str, n: int, batch: int, mode: str):
    """``run()`` (one training step or one decoding, returns the step count) and ``measure_memory()``."""
    decoder = make_decoder(implementation)
    slots, valid, num_words, gold = decoder_inputs(n, batch, seed=n)
    if mode == "train":
        decoder.train()

        def run():
            loss, steps = teacher_forced_loss(decoder, slots, valid, num_words, gold)
            loss.backward()
            decoder.zero_grad(set_to_none=True)
            return steps
    else:
        decoder.eval()

        def run():
            with torch.no_grad():
                return decode_steps(decoder, slots, valid, num_words)

    def measure_memory():
        original = _StateMeter.install()
        _StateMeter.peak = 0
        try:
            if mode == "train":
                saved, _ = saved_activation_bytes(lambda: teacher_forced_loss(decoder, slots, valid, num_words, gold))
            else:
                saved = 0
                with torch.no_grad():
                    decode_steps(decoder, slots, valid, num_words)
        finally:
            incremental_srunear._Run.step = original
        return saved + _StateMeter.peak, _StateMeter.peak

    return run, measure_memory


def decoder_pair(n: int, batch: int, mode: str, repeats: int, warmup: int) -> list[dict]:
    """Both implementations on the same inputs, timed alternately so background load hits both alike."""
    runners = {impl: decoder_runner(impl, n, batch, mode) for impl in ("incremental", "naive")}
    times = {impl: [] for impl in runners}
    step_counts = {}
    for _ in range(warmup):
        for impl, (run, _) in runners.items():
            step_counts[impl] = run()
    for _ in range(repeats):
        for impl, (run, _) in runners.items():
            start = time.perf_counter()
            step_counts[impl] = run()
            times[impl].append(time.perf_counter() - start)
    rows = []
    for impl, (_, measure_memory) in runners.items():
        saved, state = measure_memory()
        seconds, steps = statistics.median(times[impl]), step_counts[impl]
        rows.append({
            "words": n, "batch": batch, "implementation": impl, "mode": mode,
            "seconds_per_batch": seconds, "all_seconds": times[impl], "steps": steps,
            "ms_per_step": 1000 * seconds / steps,
            "ms_per_sentence": 1000 * seconds / batch,
            "saved_activation_mib": saved / 2**20,
            "memory_state_peak_mib": state / 2**20,
        })
    return rows


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_rss_child(implementation: str, n: int, batch: int, mode: str) -> None:
    """In a fresh process: print the peak resident memory (MiB) one decoder run adds to the process.

    After the setup and a warm-up run, freed memory is handed back (``malloc_trim``) and the kernel's
    high-water mark is reset (``/proc/self/clear_refs``, Linux >= 4.0); the run's peak is
    then ``VmHWM`` minus the resident memory before it.
    """
    import ctypes

    torch.set_num_threads(THREADS)
    run, _ = decoder_runner(implementation, n, batch, mode)
    run()  # one-time allocations (thread pools, kernel workspaces) belong to no particular run
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    run()
    print((_status_kib("VmHWM") - before) / 1024)


def peak_rss_mib(implementation: str, n: int, batch: int, mode: str) -> float | None:
    """Peak resident memory one decoder run adds, measured in a fresh process (None where Linux's
    ``/proc`` cannot reset the high-water mark)."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import speed; "
            f"speed.peak_rss_child({implementation!r}, {n}, {batch}, {mode!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  peak RSS not measured ({done.stderr.strip().splitlines()[-1:]})", flush=True)
        return None
    return float(done.stdout.strip().splitlines()[-1])


def decoder_agreement(n: int = 24, batch: int = 4) -> dict:
    """Max |logit difference| of naive vs incremental, same weights, teacher-forced and free, eval mode."""
    decoder = make_decoder("naive").eval()
    slots, valid, num_words, gold = decoder_inputs(n, batch, seed=7)
    out = {}
    with torch.no_grad():
        for name in ("teacher_forced", "inference"):
            logits, steps = [], []
            for implementation in ("naive", "incremental"):
                decoder.config.decoder_implementation = implementation
                policy = (TeacherForcing(gold, torch.zeros(batch, gold.shape[2], dtype=torch.bool)) if name == "teacher_forced"
                          else decoding_policy(decoder.config, num_words, action_vocabulary(decoder.config).num_types))
                logits.append(run_decoder(decoder, policy, slots, valid, num_words))
                steps.append([r[0].tolist() for r in policy.records])
            same = steps[0] == steps[1]
            out[name] = float((logits[0] - logits[1]).abs().max()) if same else float("nan")
            out[name + "_same_steps"] = same
    return out


def run_decoder_benchmark(lengths, batch: int, quick: bool) -> list[dict]:
    rows = []
    for n in lengths:
        repeats = 2 if quick else (3 if n >= 256 else 7)
        warmup = 1 if n < 256 else 0  # the code paths are warm from the shorter lengths by then
        for mode in ("train", "infer"):
            for row in decoder_pair(n, batch, mode, repeats, warmup):
                row["peak_rss_mib"] = peak_rss_mib(row["implementation"], n, batch, mode)
                rows.append(row)
                print(f"  decoder {mode:5s} n={n:4d} {row['implementation']:11s} {row['ms_per_step']:8.3f} ms/step "
                      f"{row['ms_per_sentence']:9.2f} ms/sent steps={row['steps']:4d} "
                      f"saved={row['saved_activation_mib']:9.2f} MiB state={row['memory_state_peak_mib']:7.2f} MiB "
                      f"peak RSS +{row['peak_rss_mib']} MiB",
                      flush=True)
    return rows


# ---------------------------------------------------------------- 2./3. real data

def read_ncbi(split: str, limit: int) -> list[dict]:
    from tokenization import read_source

    path = DATA / f"{split}.tsv"
    if not path.exists():
        raise SystemExit(f"real-data benchmarks need {path} (see ../shared/data/README.md); it is absent")
    rows, _ = read_source({"name": "ncbi_disease", "format": "iob", "paths": {split: str(path)}}, split)
    return rows[:limit]


def bio_batch(tokenizer, examples: list[dict]) -> dict:
    encoding = tokenizer([e["tokens"] for e in examples], is_split_into_words=True, padding=True,
                         truncation=True, max_length=512, return_tensors="pt")
    labels = torch.full(encoding["input_ids"].shape, -100, dtype=torch.long)
    for i, example in enumerate(examples):
        tags = [0] * len(example["tokens"])
        for span in example["spans"]:
            start, end = int(span["start"]), int(span["end"])
            tags[start] = 1
            for k in range(start + 1, end):
                tags[k] = 2
        previous = None
        for position, word in enumerate(encoding.word_ids(i)):
            if word is not None and word != previous:
                labels[i, position] = tags[word]
            previous = word
    batch = dict(encoding)
    batch["labels"] = labels
    return batch


def train_passes(model, batches: list[dict], optimizer, passes: int) -> list[float]:
    """Sentences/s of each pass over the batches (forward+backward+AdamW step); one warm-up step first."""
    model.train()
    sentences = sum(len(b["input_ids"]) for b in batches)

    def step(batch):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach().item()

    step(batches[0])
    rates = []
    for _ in range(passes):
        start = time.perf_counter()
        for batch in batches:
            step(batch)
        rates.append(sentences / (time.perf_counter() - start))
    return rates


def run_training_benchmark(train_examples: list[dict], batch_size: int, passes: int, workdir: Path):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    srunear = SRUNERModel.from_encoder(path, ["Disease"], {"ncbi_disease": ["Disease"]})
    collator = SRUNERDataCollator(tokenizer, srunear.config)
    chunks = [train_examples[i : i + batch_size] for i in range(0, len(train_examples), batch_size)]
    sr_batches = [collator(chunk) for chunk in chunks]
    sr_opt = torch.optim.AdamW(parameter_groups(srunear, encoder_lr=5e-5, decoder_lr=1e-3, weight_decay=0.01))  # AdamW's default decay
    tc = AutoModelForTokenClassification.from_pretrained(path, num_labels=3)
    tc_batches = [bio_batch(tokenizer, chunk) for chunk in chunks]
    tc_opt = torch.optim.AdamW(tc.parameters(), lr=5e-5)
    sr_rates, tc_rates = [], []
    for _ in range(passes):  # interleaved so background load hits both alike
        sr_rates += train_passes(srunear, sr_batches, sr_opt, 1)
        tc_rates += train_passes(tc, tc_batches, tc_opt, 1)
        print(f"  train pass: srunear {sr_rates[-1]:.2f} sent/s, token-classification {tc_rates[-1]:.2f} sent/s", flush=True)
    sr_folder, tc_folder = workdir / "srunear", workdir / "token_classification"
    srunear.eval()
    save_pipeline(srunear, tokenizer, sr_folder)
    tc.save_pretrained(tc_folder)
    tokenizer.save_pretrained(tc_folder)
    steps_taken = len(sr_batches) * passes + passes
    return {
        "sentences": len(train_examples), "batch_size": batch_size, "passes": passes,
        "srunear_sentences_per_s": statistics.median(sr_rates), "srunear_all": sr_rates,
        "token_classification_sentences_per_s": statistics.median(tc_rates), "token_classification_all": tc_rates,
        "srunear_optimizer_steps_before_saving": steps_taken,
    }, sr_folder, tc_folder


def _pipelines(sr_folder: Path, tc_folder: Path):
    from transformers import pipeline

    sr = pipeline("srunear-ner", model=str(sr_folder), device="cpu")
    tc = pipeline("token-classification", model=str(tc_folder), aggregation_strategy="simple", device="cpu")
    return sr, tc


def _alternate(sr, tc, texts: list[str], batch_size: int, repeats: int, label: str) -> tuple[list[float], list[float]]:
    """Seconds per pass of each pipeline over ``texts``, passes alternating so that load hits both alike."""
    sr(texts[:batch_size], batch_size=batch_size)
    tc(texts[:batch_size], batch_size=batch_size)
    sr_seconds, tc_seconds = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        sr(texts, batch_size=batch_size)
        sr_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        tc(texts, batch_size=batch_size)
        tc_seconds.append(time.perf_counter() - start)
        print(f"  {label} batch {batch_size}: srunear {len(texts) / sr_seconds[-1]:.1f} sent/s, "
              f"token-classification {len(texts) / tc_seconds[-1]:.1f} sent/s", flush=True)
    return sr_seconds, tc_seconds


def run_inference_benchmark(test_examples: list[dict], sr_folder: Path, tc_folder: Path, batch_sizes, repeats: int):
    texts = [" ".join(e["tokens"]) for e in test_examples]
    sr, tc = _pipelines(sr_folder, tc_folder)
    by_batch = {}
    for batch_size in batch_sizes:
        sr_seconds, tc_seconds = _alternate(sr, tc, texts, batch_size, repeats, "inference")
        by_batch[str(batch_size)] = {
            "srunear_sentences_per_s": len(texts) / statistics.median(sr_seconds),
            "token_classification_sentences_per_s": len(texts) / statistics.median(tc_seconds),
            "srunear_all_s": sr_seconds, "token_classification_all_s": tc_seconds,
            "ratio": statistics.median(tc_seconds) / statistics.median(sr_seconds),
        }
    found = sum(len(o) for o in sr(texts, batch_size=16))
    # how realistic are the decoder's actions? steps per sentence vs the gold sequence length
    model = sr.model
    collator = SRUNERDataCollator(sr.tokenizer, model.config)
    sample = test_examples[:64]
    with torch.no_grad():
        out = model(**{k: v for k, v in collator([{"tokens": e["tokens"]} for e in sample]).items()})
    vocab = action_vocabulary(model.config)
    taken = int(out.step_mask.sum())
    gold = sum(len(encode_spans([(s["start"], s["end"], s["type"]) for s in e["spans"]], len(e["tokens"]), vocab)) for e in sample)
    return {
        "sentences": len(texts), "repeats": repeats, "by_batch_size": by_batch,
        "mean_words": statistics.mean(len(e["tokens"]) for e in test_examples),
        "srunear_entities_found": found,
        "srunear_decoder_steps_per_sentence_64": taken / len(sample),
        "gold_steps_per_sentence_64": gold / len(sample),
    }


BUSY = "import torch\na = torch.randn(1024, 1024)\nwhile True:\n    a = torch.tanh(a @ a)\n"


def run_contention_benchmark(test_examples: list[dict], sr_folder: Path, tc_folder: Path, batch_size: int, repeats: int):
    """Each pipeline's time over the same sentences alone, then with a CPU-bound process (a matmul loop
    on torch's default threads) beside it; slowdown = with / alone."""
    texts = [" ".join(e["tokens"]) for e in test_examples]
    sr, tc = _pipelines(sr_folder, tc_folder)
    alone = _alternate(sr, tc, texts, batch_size, repeats, "alone")
    busy = subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2.0)
        loaded = _alternate(sr, tc, texts, batch_size, repeats, "beside a busy process")
    finally:
        busy.kill()
        busy.wait()
    return {
        "sentences": len(texts), "batch_size": batch_size, "repeats": repeats, "busy_process": BUSY,
        "srunear_alone_s": alone[0], "token_classification_alone_s": alone[1],
        "srunear_loaded_s": loaded[0], "token_classification_loaded_s": loaded[1],
        "contention_slowdown_srunear": statistics.median(loaded[0]) / statistics.median(alone[0]),
        "contention_slowdown_token_classification": statistics.median(loaded[1]) / statistics.median(alone[1]),
    }


def _tag_inputs(folder: Path, ncbi_lines: int) -> dict[str, tuple[Path, list[str], int]]:
    """BioRED test (PubTator abstracts) and NCBI-Disease test+dev sentences as one-per-line text."""
    biored = DATA.parent / "biored" / "test.pubtator"
    abstracts = sum(1 for line in biored.read_text(encoding="utf-8").splitlines() if "|t|" in line)
    sentences = [" ".join(e["tokens"]) for split in ("test", "dev") for e in read_ncbi(split, ncbi_lines)][:ncbi_lines]
    lines = folder / "ncbi_sentences.txt"
    lines.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return {"biored_test": (biored, [], abstracts), "ncbi_sentences": (lines, ["--lines"], len(sentences))}


def run_tag_benchmark(model_folder: Path, workdir: Path, ncbi_lines: int) -> dict:
    """tag.py end to end (start-up and model loading included): one process, then two shards at once."""
    result = {}
    for name, (path, options, documents) in _tag_inputs(workdir, ncbi_lines).items():
        timings = {}
        for shards in (1, 2):
            output = workdir / f"{name}_{shards}.jsonl"
            commands = [[sys.executable, str(ROOT / "tag.py"), str(model_folder), str(path), *options, "--output", str(output),
                         "--no-progress"] + ([] if shards == 1 else ["--num-shards", "2", "--shard-index", str(i)])
                        for i in range(shards)]
            start = time.perf_counter()
            processes = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in commands]
            errors = [p.communicate()[1] for p in processes]
            seconds = time.perf_counter() - start
            for process, error in zip(processes, errors):
                if process.returncode:
                    raise RuntimeError(f"tag.py failed on {name}: {error.decode()[-2000:]}")
            timings[shards] = seconds
            print(f"  tag.py {name}: {documents} documents, {shards} process(es): {documents / seconds:.1f} docs/s", flush=True)
        result[name] = {"documents": documents, "seconds_1proc": timings[1], "seconds_2proc": timings[2],
                        "docs_per_s_1proc": documents / timings[1], "docs_per_s_2proc": documents / timings[2]}
    return result


def decoder_step_profile(cases=((32, 1), (64, 1), (32, 16), (64, 16)), repeats: int = 5) -> list[dict]:
    """Inference decoding (paper rule, a random decoder biased to SHIFT): operations and microseconds per step.

    Operations are the top-level torch operations the profiler records per decoder step;
    time is the median of ``repeats`` runs without the profiler.
    """
    from torch.profiler import profile

    rows = []
    for n, batch in cases:
        slots, valid, num_words, _ = decoder_inputs(n, batch, seed=n)
        decoder = make_decoder("incremental").eval()
        for key, value in PAPER_SETTINGS.items():  # like for like with decoder_step_profile_before.json
            setattr(decoder.config, key, value)
        with torch.no_grad():  # a random decoder may stop at once: bias it to read every word (SHIFT, no EOA)
            decoder.output_layer.bias[SHIFT] += 10.0
            decoder.output_layer.bias[EOA] -= 10.0
        with torch.inference_mode():
            steps = decode_steps(decoder, slots, valid, num_words)
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                decode_steps(decoder, slots, valid, num_words)
                seconds.append(time.perf_counter() - start)
            with profile() as prof:
                decode_steps(decoder, slots, valid, num_words)
        operations = sum(1 for event in prof.events() if event.name.startswith("aten::") and event.cpu_parent is None)
        rows.append({"words": n, "batch": batch, "steps": steps, "ops_per_step": operations / steps,
                     "us_per_step": statistics.median(seconds) / steps * 1e6})
        print(f"  decoder step profile: {n} words, batch {batch}: {steps} steps, {operations / steps:.1f} ops/step, "
              f"{rows[-1]['us_per_step']:.0f} us/step", flush=True)
    return rows


# ---------------------------------------------------------------- report

def speedups(rows: list[dict]) -> dict:
    out = {}
    for mode in ("train", "infer"):
        for n in sorted({r["words"] for r in rows}):
            pick = {r["implementation"]: r for r in rows if r["mode"] == mode and r["words"] == n}
            if len(pick) == 2:
                out[f"{mode}_{n}"] = {
                    "time": pick["naive"]["seconds_per_batch"] / pick["incremental"]["seconds_per_batch"],
                    "saved_activation_memory": (pick["naive"]["saved_activation_mib"] / pick["incremental"]["saved_activation_mib"]
                                                if pick["incremental"]["saved_activation_mib"] else None),
                }
    return out


def growth_exponent(rows: list[dict], implementation: str, mode: str, key: str) -> float | None:
    """Log-log slope of ``key`` vs length between the shortest and longest length."""
    import math

    pick = sorted((r["words"], r.get(key)) for r in rows if r["implementation"] == implementation and r["mode"] == mode)
    if len(pick) < 2 or pick[0][1] is None or pick[-1][1] is None or pick[0][1] <= 0:
        return None
    (n0, v0), (n1, v1) = pick[0], pick[-1]
    return math.log(v1 / v0) / math.log(n1 / n0)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.3))
    styles = {"incremental": "o-", "naive": "s--"}
    for implementation in ("incremental", "naive"):
        for mode, color in (("train", "tab:red"), ("infer", "tab:blue")):
            pick = sorted((r for r in rows if r["implementation"] == implementation and r["mode"] == mode), key=lambda r: r["words"])
            xs = [r["words"] for r in pick]
            axes[0].plot(xs, [r["ms_per_sentence"] for r in pick], styles[implementation], color=color, label=f"{implementation} {mode}")
            axes[1].plot(xs, [r["ms_per_step"] for r in pick], styles[implementation], color=color, label=f"{implementation} {mode}")
            if mode == "train":
                axes[2].plot(xs, [r["saved_activation_mib"] for r in pick], styles[implementation], color=color,
                             label=f"{implementation} train: saved activations")
            else:
                axes[2].plot(xs, [r["memory_state_peak_mib"] for r in pick], styles[implementation], color=color,
                             label=f"{implementation} infer: memory state")
            if all(r.get("peak_rss_mib") for r in pick):
                axes[3].plot(xs, [r["peak_rss_mib"] for r in pick], styles[implementation], color=color,
                             label=f"{implementation} {mode}")
    titles = ("decoder time per sentence (ms)", "decoder time per step (ms)", "decoder memory (MiB)",
              "peak resident memory a run adds (MiB)")
    for ax, title in zip(axes, titles):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sentence length (words)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    batch = rows[0]["batch"]
    fig.suptitle(f"SRU-NER decoder alone, batch {batch}, 5 entity types, hidden {HIDDEN}, CPU {torch.get_num_threads()} threads")
    fig.tight_layout()
    save_figure(fig, path)


# headline metric -> target: a minimum, None (reported only), or another metric it must not exceed
HEADLINE: dict[str, float | str | None] = {
    "pipeline_ratio_batch1": 0.85, "pipeline_ratio_batch16": 1.0, "pipeline_ratio_batch32": 1.2,
    "training_throughput_ratio": 0.85, "decoder_train_speedup_64": None, "decoder_infer_speedup_64": None,
    "contention_slowdown_token_classification": None,
    "contention_slowdown_srunear": "contention_slowdown_token_classification",
    "tag_docs_per_s_1proc": None, "tag_docs_per_s_2proc": None,
}


def _shown(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v:.1f}" for k, v in value.items())
    return f"{value:.2f}"


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# SRU-NER speed benchmark",
        "",
        f"Run {result['date']} with `python benchmarks/speed.py{' --quick' if result['quick'] else ''}` "
        f"({result['total_seconds']:.0f} s). Method: `benchmarks/README.md`.",
        "",
        f"Machine: {m['cpu_model']}, {m['logical_cores']} logical cores, torch {m['torch_version']} with "
        f"{m['torch_threads']} threads, no GPU; load average at start {m['load_average_at_start']} "
        "(other processes shared the CPU).",
        "",
        "## Headline",
        "",
        "| metric | value | target | met |",
        "|---|---|---|---|",
    ]
    for key, target in HEADLINE.items():
        value = result.get(key)
        if isinstance(target, str):  # no worse than the other system's value
            target_value = result.get(target)
            met = "" if value is None or target_value is None else ("yes" if value <= target_value * 1.05 else "**no**")
            lines.append(f"| `{key}` | {_shown(value)} | <= `{target}` (+5%) | {met} |")
            continue
        met = "" if target is None or value is None else ("yes" if value >= target else "**no**")
        lines.append(f"| `{key}` | {_shown(value)} | {'' if target is None else '>= ' + str(target)} | {met} |")
    exp = result["memory_growth_exponent"]
    lines += [
        "",
        "Growth exponents (log-log slope from the shortest to the longest length; 1 = linear, 2 = quadratic): "
        + ", ".join(f"{k} {v:.2f}" for k, v in exp.items() if v is not None) + ".",
        "",
        "## Decoder alone (random word vectors, random nested gold spans)",
        "",
        "| mode | words | impl | steps | ms/step | ms/sentence | saved activations MiB | memory state MiB | peak RSS added MiB | speedup (naive/incr.) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    sp = result["decoder_speedups"]
    for r in result["decoder"]:
        s = sp.get(f"{r['mode']}_{r['words']}", {}).get("time") if r["implementation"] == "incremental" else None
        lines.append(
            f"| {r['mode']} | {r['words']} | {r['implementation']} | {r['steps']} | {r['ms_per_step']:.3f} | "
            f"{r['ms_per_sentence']:.2f} | {r['saved_activation_mib']:.2f} | {r['memory_state_peak_mib']:.2f} | "
            f"{'n/a' if r.get('peak_rss_mib') is None else format(r['peak_rss_mib'], '.1f')} | "
            f"{'' if s is None else f'{s:.2f}x'} |"
        )
    agreement = result["decoder_agreement"]
    lines += [
        "",
        f"Naive vs incremental, same weights, eval mode: max |logit diff| teacher-forced "
        f"{agreement['teacher_forced']:.2e}, free decoding {agreement['inference']:.2e} "
        f"(same steps: {agreement['inference_same_steps']}).",
        "",
        "![decoder scaling](decoder_scaling.png)",
        "",
        "Naive lets autograd save a `(batch, slots, width)` memory and key tensor per step, so its "
        "saved activations grow quadratically with length. Incremental (one autograd Function for "
        "the whole sequence) keeps one memory buffer, written in place and rolled back write by "
        "write in backward, and records per step only the `(batch, slots)` attention weights and "
        "winning latent indices plus the MLP activations; each step's dropout masks are drawn "
        "again in backward from a per-step seed instead of being stored. Its *memory state* "
        "counts that buffer and those records. With the paper's dropout masks redrawn at every "
        "step, both implementations compute every slot's latent scores at every training step "
        "(`slots x width x latents`), so in training the incremental decoder gains little time "
        "over naive at short lengths but keeps memory linear; at inference (no dropout) it "
        "updates cached scores instead.",
        "",
    ]
    inf, tr = result.get("inference"), result.get("training")
    if tr:
        lines += [
            "## Training throughput (ncbi_disease train, forward+backward+AdamW)",
            "",
            "| model | sentences/s (median of passes) |",
            "|---|---|",
            f"| SRU-NER (MiniLM + decoder) | {tr['srunear_sentences_per_s']:.2f} |",
            f"| AutoModelForTokenClassification (MiniLM) | {tr['token_classification_sentences_per_s']:.2f} |",
            f"| ratio | {result['training_throughput_ratio']:.2f} |",
            "",
            f"{tr['sentences']} sentences, batch {tr['batch_size']}, {tr['passes']} passes.",
            "",
        ]
    if inf:
        lines += [
            "## Pipeline throughput (ncbi_disease test)",
            "",
            "| batch size | `srunear-ner` sentences/s | `token-classification` (aggregation simple) sentences/s | ratio |",
            "|---|---|---|---|",
        ]
        for batch_size, row in inf["by_batch_size"].items():
            lines.append(f"| {batch_size} | {row['srunear_sentences_per_s']:.1f} | "
                         f"{row['token_classification_sentences_per_s']:.1f} | {row['ratio']:.2f} |")
        lines += [
            "",
            f"{inf['sentences']} sentences (mean {inf['mean_words']:.1f} words), medians of {inf['repeats']} "
            "alternating passes. Given a list, `srunear-ner` batches its sentences in order of length; the "
            "token-classification pipeline batches them in input order. "
            f"The SRU-NER model had {tr['srunear_optimizer_steps_before_saving'] if tr else '?'} optimizer steps "
            f"(the training benchmark) before saving; on 64 test sentences its decoder took "
            f"{inf['srunear_decoder_steps_per_sentence_64']:.1f} steps per sentence against "
            f"{inf['gold_steps_per_sentence_64']:.1f} for the gold action sequence.",
            "",
        ]
    profile, before = result.get("decoder_step_profile"), result.get("decoder_step_profile_before")
    if profile:
        lines += ["## Decoder inference step (paper decoding, random decoder)", "",
                  "| words | batch | steps | ops/step | us/step |" + (" ops/step before | us/step before |" if before else ""),
                  "|---|---|---|---|---|" + ("---|---|" if before else "")]
        previous = {(r["words"], r["batch"]): r for r in (before or {}).get("rows", [])}
        for r in profile:
            row = f"| {r['words']} | {r['batch']} | {r['steps']} | {r['ops_per_step']:.1f} | {r['us_per_step']:.0f} |"
            if before:
                old = previous.get((r["words"], r["batch"]))
                row += f" {old['ops_per_step']:.1f} | {old['us_per_step']:.0f} |" if old else " | |"
            lines.append(row)
        if before:
            lines += ["", f"Before: {before.get('note', '')}"]
        lines.append("")
    contention = result.get("contention")
    if contention:
        lines += [
            "## Beside a busy process",
            "",
            "| pipeline | alone s | beside a busy process s | slowdown |",
            "|---|---|---|---|",
            f"| `srunear-ner` | {statistics.median(contention['srunear_alone_s']):.2f} | "
            f"{statistics.median(contention['srunear_loaded_s']):.2f} | {contention['contention_slowdown_srunear']:.2f} |",
            f"| `token-classification` | {statistics.median(contention['token_classification_alone_s']):.2f} | "
            f"{statistics.median(contention['token_classification_loaded_s']):.2f} | "
            f"{contention['contention_slowdown_token_classification']:.2f} |",
            "",
            f"{contention['sentences']} sentences, batch {contention['batch_size']}; the busy process multiplies "
            "1024x1024 matrices on torch's default threads.",
            "",
        ]
    tag = result.get("tag")
    if tag:
        lines += ["## tag.py on corpora (start-up and model loading included)", "",
                  "| input | documents | 1 process docs/s | 2 shards docs/s |", "|---|---|---|---|"]
        for name, t in tag.items():
            lines.append(f"| {name} | {t['documents']} | {t['docs_per_s_1proc']:.1f} | {t['docs_per_s_2proc']:.1f} |")
        lines += ["", "BioRED test: PubTator abstracts (title and abstract); NCBI-Disease: test then dev sentences, "
                  "one per line (`--lines`). Two shards run at once (`--num-shards 2`), splitting the cores.", ""]
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--skip-real", action="store_true", help="decoder benchmark only")
    parser.add_argument("--output-dir", default=str(RESULTS))
    parser.add_argument("--step-profile-only", metavar="JSON",
                        help="only profile the decoder's inference step into JSON (run from another checkout "
                             "to record a 'before': results/decoder_step_profile_before.json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    if args.step_profile_only:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        rows = decoder_step_profile()
        atomic_write(Path(args.step_profile_only), json.dumps(
            {"rows": rows, "note": f"commit {commit or '?'}, measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
                                   f"on {machine()['cpu_model']}"}, indent=2) + "\n")
        return {"decoder_step_profile": rows}
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    result: dict = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
    }
    lengths = [16, 64] if args.quick else [16, 32, 64, 256]
    print("1. decoder alone", flush=True)
    result["decoder_agreement"] = decoder_agreement()
    print(f"  agreement naive vs incremental: {result['decoder_agreement']}", flush=True)
    rows = run_decoder_benchmark(lengths, batch=8, quick=args.quick)
    result["decoder"] = rows
    result["decoder_speedups"] = speedups(rows)
    result["decoder_train_speedup_64"] = result["decoder_speedups"]["train_64"]["time"]
    result["decoder_infer_speedup_64"] = result["decoder_speedups"]["infer_64"]["time"]
    result["memory_growth_exponent"] = {
        f"{impl}_{mode}_{key}": growth_exponent(rows, impl, mode, key)
        for impl in ("incremental", "naive")
        for mode, key in (("train", "saved_activation_mib"), ("train", "ms_per_sentence"), ("train", "peak_rss_mib"),
                          ("infer", "memory_state_peak_mib"), ("infer", "ms_per_sentence"), ("infer", "peak_rss_mib"))
    }
    result["decoder_step_profile"] = decoder_step_profile(repeats=2 if args.quick else 5)
    before = RESULTS / "decoder_step_profile_before.json"
    if before.is_file():
        result["decoder_step_profile_before"] = json.loads(before.read_text(encoding="utf-8"))
    result["inference_throughput_ratio"] = None
    result["training_throughput_ratio"] = None
    if not args.skip_real:
        with tempfile.TemporaryDirectory() as workdir:
            train = read_ncbi("train", 64 if args.quick else 256)
            test = read_ncbi("test", 48 if args.quick else 256)
            print("2. training throughput", flush=True)
            training, sr_folder, tc_folder = run_training_benchmark(train, 16, 1 if args.quick else 2, Path(workdir))
            result["training"] = training
            result["training_throughput_ratio"] = training["srunear_sentences_per_s"] / training["token_classification_sentences_per_s"]
            print("3. pipeline throughput", flush=True)
            inference = run_inference_benchmark(test, sr_folder, tc_folder, (1, 16, 32), 1 if args.quick else 5)
            result["inference"] = inference
            for batch_size in (1, 16, 32):
                result[f"pipeline_ratio_batch{batch_size}"] = inference["by_batch_size"][str(batch_size)]["ratio"]
            result["inference_throughput_ratio"] = result["pipeline_ratio_batch16"]
            print("4. pipelines beside a busy process", flush=True)
            contention = run_contention_benchmark(test[:128], sr_folder, tc_folder, 16, 1 if args.quick else 3)
            result["contention"] = contention
            for key in ("contention_slowdown_srunear", "contention_slowdown_token_classification"):
                result[key] = contention[key]
            print("5. tag.py on corpora", flush=True)
            tag = run_tag_benchmark(sr_folder, Path(workdir), 200 if args.quick else 2000)
            result["tag"] = tag
            result["tag_docs_per_s_1proc"] = {name: t["docs_per_s_1proc"] for name, t in tag.items()}
            result["tag_docs_per_s_2proc"] = {name: t["docs_per_s_2proc"] for name, t in tag.items()}
    result["total_seconds"] = time.perf_counter() - began
    plot(rows, out_dir / "decoder_scaling.png")
    atomic_write(out_dir / "speed.json", json.dumps(result, indent=2) + "\n")
    atomic_write(out_dir / "speed.md", markdown(result))
    summary = {k: result.get(k) for k in HEADLINE}
    print(json.dumps(summary, indent=2))
    print(f"wrote {out_dir / 'speed.json'}, speed.md, decoder_scaling.png in {result['total_seconds']:.0f} s")
    return result


if __name__ == "__main__":
    main()
