"""The repository's evaluate.py must never shadow the Hugging Face `evaluate` library."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIM = REPO_ROOT / "evaluate.py"


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the venv's interpreter from the repository root, where the shadowing happens."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def is_library_file(path: str) -> bool:
    resolved = Path(path).resolve()
    return "site-packages" in resolved.parts and resolved != SHIM.resolve()


def test_subprocess_import_from_repo_root_gets_library() -> None:
    result = run_python("-c", "import evaluate, sys; print(evaluate.__file__)")
    assert result.returncode == 0, result.stderr
    assert is_library_file(result.stdout.strip()), result.stdout


def test_subprocess_library_has_load_and_shadowing_was_armed() -> None:
    code = "import sys; print(repr(sys.path[0])); import evaluate; print(callable(evaluate.load))"
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    first_path, has_load = result.stdout.strip().splitlines()
    assert first_path == "''"  # the repository root (cwd) was on sys.path, so the shim was found first
    assert has_load == "True"


def test_subprocess_sys_path_is_restored_and_modules_consistent() -> None:
    code = textwrap.dedent(
        """
        import sys
        before = list(sys.path)
        import evaluate
        import evaluate.loading
        assert sys.path == before, (before, sys.path)
        assert sys.modules["evaluate"] is evaluate
        assert evaluate.loading.__name__ == "evaluate.loading"
        print("ok")
        """
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_in_process_import_gets_library(monkeypatch) -> None:
    """A fresh in-process import with the repository root first on sys.path gets the library."""
    import importlib

    saved = {name: module for name, module in sys.modules.items() if name == "evaluate" or name.startswith("evaluate.")}
    monkeypatch.syspath_prepend(os.fspath(REPO_ROOT))
    for name in saved:
        del sys.modules[name]
    try:
        evaluate = importlib.import_module("evaluate")
        assert is_library_file(evaluate.__file__), evaluate.__file__
        assert callable(evaluate.load)
        assert sys.modules["evaluate"] is evaluate
        assert sys.path[0] == os.fspath(REPO_ROOT)  # the shim put sys.path back
    finally:
        for name in [n for n in sys.modules if n == "evaluate" or n.startswith("evaluate.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_plain_import_in_pytest_gets_library() -> None:
    import evaluate

    assert is_library_file(evaluate.__file__)
    assert sys.modules["evaluate"] is evaluate


def test_running_the_script_hands_library_to_srunear_evaluation(tmp_path: Path) -> None:
    """`python evaluate.py` runs srunear.evaluation.main(), which can itself `import evaluate`.

    srunear.evaluation may not exist yet, so a stand-in is registered before the script runs.
    """
    code = textwrap.dedent(
        f"""
        import runpy, sys, types
        stand_in = types.ModuleType("srunear.evaluation")
        def main():
            import evaluate
            print(evaluate.__file__)
            print(sys.argv[1:])
            return 0
        stand_in.main = main
        sys.modules["srunear.evaluation"] = stand_in
        sys.argv = ["evaluate.py", "--flag"]
        runpy.run_path({str(SHIM)!r}, run_name="__main__")
        """
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    library_file, argv = result.stdout.strip().splitlines()
    assert is_library_file(library_file), library_file
    assert argv == "['--flag']"


def test_script_entry_point_calls_srunear_evaluation() -> None:
    """Without the stand-in the script must at least try srunear.evaluation, not the library."""
    result = run_python(os.fspath(SHIM), "--help")
    if result.returncode != 0:
        assert "srunear.evaluation" in result.stderr or "srunear" in result.stderr, result.stderr
