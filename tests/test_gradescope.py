"""The Gradescope front door: the autograder zip, and run_autograder in a stand-in for Gradescope's harness.

The harness (``run_gradescope``) lays out a folder as Gradescope's ``/autograder``
(``source/`` = the unzipped autograder, ``submission/`` = the upload, ``results/``,
``run_autograder`` copied to the top), bind-mounts it at ``/autograder`` in a
bubblewrap box that plays Gradescope's container (root, no network, read-only
system and Python, its own /tmp) and runs ``/autograder/run_autograder`` there
with ``/autograder`` as working directory, as Gradescope does.  run_autograder
then grades in its own inner box, as it would on Gradescope.  Every results.json
is checked against a JSON Schema written from Gradescope's specification
(tests/data/gradescope_results.schema.json).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import zipfile
from pathlib import Path

import jsonschema
import pytest

from aecourse.cli import main as cli
from aecourse.grading.gradescope import binder_pins, run_autograder
from aecourse.grading.sandbox import bwrap_path
from gradehelp import load, partial, with_cell
from gradescopehelp import autograder_folder, run_harness

MINI = "99-mini"
SCHEMA = json.loads((Path(__file__).parent / "data" / "gradescope_results.schema.json").read_text())
HOSTILE = r'''
import glob, os
# forge the verdict, reach the hidden tests and the master: none of it is visible from the box
for path in ("/autograder/results/results.json", "/autograder/source/grading/master/gradebook.db",
             "/autograder/source/grading/chapter.json", "/autograder/run_autograder"):
    try:
        with open(path, "w") as fh:
            fh.write('{"score": 1000}')
        print("WROTE", path)
    except Exception as err:
        pass
seen = glob.glob("/autograder/**", recursive=True)
print("SEEN", len(seen))
answer_q1 = "b"
'''


def validate(results: dict) -> None:
    jsonschema.validate(results, SCHEMA)


@pytest.fixture(scope="module")
def autograder_zip(minicourse, repo_root, tmp_path_factory) -> Path:
    """The fixture course's autograder zip (its binder/ and pyproject.toml are the repository's)."""
    tmp = tmp_path_factory.mktemp("gradescope")
    root = tmp / "course"
    shutil.copytree(minicourse, root)
    shutil.copytree(repo_root / "binder", root / "binder")
    shutil.copyfile(repo_root / "pyproject.toml", root / "pyproject.toml")
    assert cli(["export", "gradescope", MINI, "--out", str(tmp / "autograder.zip"), "--root", str(root),
                "--timeout", "12", "--memory-limit", "2"]) == 0
    return tmp / "autograder.zip"


def run_gradescope(zip_path: Path, tmp: Path, upload: dict[str, str | bytes | dict]) -> dict:
    """Gradescope's harness, locally: the /autograder layout, run_autograder run in a box at /autograder."""
    if bwrap_path() is None:
        if os.environ.get("CI"):
            pytest.fail("bubblewrap is missing: `make test` installs it (apt-get install bubblewrap)")
        pytest.skip("needs bubblewrap")
    ag = autograder_folder(zip_path, tmp / "autograder", upload)
    before = {p: p.read_bytes() for p in (ag / "source").rglob("*") if p.is_file()}
    proc = run_harness(ag, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((ag / "results" / "results.json").read_text())
    validate(results)
    after = {p: p.read_bytes() for p in (ag / "source").rglob("*") if p.is_file()}
    assert after == before, "the autograder source changed while grading"
    return results


def test_zip_layout_and_no_solutions(autograder_zip, minicourse):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        for script in ("setup.sh", "run_autograder"):
            assert script in names
            assert stat.S_IMODE(zf.getinfo(script).external_attr >> 16) & 0o111, f"{script} is not executable"
        assert "grading/master/gradebook.db" in names and "grading/chapter.json" in names
        assert f"grading/master/course/{MINI}/{MINI}.ipynb" in names
        assert "aecourse/pyproject.toml" in names and "aecourse/src/aecourse/grading/gradescope.py" in names
        blob = b"\n".join(zf.read(n) for n in names)
    # no line of a solution region travels (the hidden tests do: Gradescope keeps the zip private)
    source = load(minicourse / "solutions" / MINI / f"{MINI}.ipynb")
    solution_lines = set()
    for cell in source["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if "### BEGIN SOLUTION" in text:
            body = text.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
            solution_lines |= {ln.strip() for ln in body.splitlines() if len(ln.strip()) >= 8}
    assert solution_lines
    leaked = [ln for ln in solution_lines if ln.encode() in blob]
    assert not leaked, leaked
    assert b"BEGIN HIDDEN TESTS" in blob


def test_setup_pins_follow_binder(autograder_zip, repo_root):
    """setup.sh installs binder/'s Python, apt packages and requirements (one source of truth)."""
    zf = zipfile.ZipFile(autograder_zip)
    setup = zf.read("setup.sh").decode()
    runtime = (repo_root / "binder" / "runtime.txt").read_text().strip()
    assert runtime.startswith("python-")
    assert f"PY=python{runtime.removeprefix('python-')}\n" in setup
    assert '"$PY" -m venv' in setup
    assert zf.read("requirements.txt") == (repo_root / "binder" / "requirements.txt").read_bytes()
    assert "pip install --no-cache-dir -r /autograder/source/requirements.txt" in setup
    assert b"torch==" in zf.read("requirements.txt")
    apt = [ln.strip() for ln in (repo_root / "binder" / "apt.txt").read_text().splitlines()
           if ln.strip() and not ln.startswith("#")]
    install = next(ln for ln in setup.splitlines() if ln.startswith("apt-get install"))
    assert apt and all(pkg in install.split() for pkg in apt)
    assert "/autograder/source/aecourse[grade]" in setup
    python, reqs = binder_pins(repo_root)
    assert python == runtime.removeprefix("python-") and any(r.startswith("torch==") for r in reqs)


@pytest.mark.slow
def test_gradescope_harness(autograder_zip, minicourse, tmp_path):
    source = load(minicourse / "solutions" / MINI / f"{MINI}.ipynb")
    release = load(minicourse / "course" / MINI / f"{MINI}.ipynb")
    cases = {
        # name: (upload, status, score)
        "solution": ({f"{MINI} (1).ipynb": source}, "graded", 4.0),   # the browser renamed it
        "blank": ({f"{MINI}.ipynb": release}, "graded", 0.0),
        "partial": ({f"{MINI}.ipynb": partial(source, release, {"ex_square", "ex_blank"})}, "graded", 3.0),
        "loop": ({f"{MINI}.ipynb": with_cell(source, "ex_q1", "while True:\n    pass")}, "timeout", 0.0),
        "crash": ({f"{MINI}.ipynb": with_cell(source, "ex_blank", "import os\nos._exit(1)")}, "crashed", 0.0),
        "not_a_notebook": ({"answers.txt": "I did it in my head"}, "invalid", 0.0),
        "hostile": ({f"{MINI}.ipynb": with_cell(source, "ex_q1", HOSTILE)}, "graded", 4.0),
    }
    got = {}
    for name, (upload, status, score) in cases.items():
        results = run_gradescope(autograder_zip, tmp_path / name, upload)
        got[name] = results
        extra = results["extra_data"]
        assert extra["status"] == status, (name, results["output"])
        assert results["score"] == score, (name, results["output"])
        assert results["output"].startswith(f"status: {status}")
        assert [t["name"] for t in results["tests"]] == ["test_square", "test_q1", "test_blank"] or \
            len(results["tests"]) >= 3
        assert sum(t["score"] for t in results["tests"]) == score
        assert sum(t["max_score"] for t in results["tests"]) == 4.0
        for t in results["tests"]:
            assert t["status"] == ("passed" if status == "graded" and t["score"] == t["max_score"] else "failed")
            assert "HIDDEN" not in t["output"]
    assert "renamed_notebook" in got["solution"]["extra_data"]["flags"]
    # a failed test shows what its public check said (from the trusted feedback notebook), not just the score
    for t in got["blank"]["tests"]:
        if t["max_score"] > 0:
            assert len(t["output"].splitlines()) > 1, t["output"]
    assert all(t["status"] == "passed" for t in got["solution"]["tests"])
    partly = {t["name"]: t for t in got["partial"]["tests"]}
    assert partly["test_q1"]["status"] == "failed" and partly["test_square"]["status"] == "passed"
    assert "timeout" in got["loop"]["extra_data"]["flags"]
    assert "WROTE" not in json.dumps(got["hostile"]), "the hostile submission wrote outside its box"


def test_no_sandbox_still_writes_valid_results(autograder_zip, minicourse, tmp_path, monkeypatch):
    """Where bubblewrap cannot run, run_autograder says so in a valid results.json (score 0), never crashes."""
    source = load(minicourse / "solutions" / MINI / f"{MINI}.ipynb")
    ag = tmp_path / "autograder"
    (ag / "submission").mkdir(parents=True)
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(ag / "source")
    (ag / "submission" / f"{MINI}.ipynb").write_text(json.dumps(source))
    monkeypatch.setenv("AECOURSE_BWRAP", "/bin/false")
    results = run_autograder(ag)
    validate(results)
    assert results["score"] == 0 and results["extra_data"]["status"] == "crashed"
    assert "sandbox" in results["output"]
    # and a broken zip: still a results.json
    (ag / "source" / "grading" / "chapter.json").write_text("{")
    results = run_autograder(ag)
    validate(results)
    assert results["score"] == 0 and results["extra_data"]["status"] == "crashed"
    assert json.loads((ag / "results" / "results.json").read_text()) == results
