"""Binder: what ``binder/`` builds runs the course.

- ``binder/`` pins Python >= 3.11 and CPU-only torch (the default PyPI wheel is a ~5 GB CUDA
  build, far over mybinder's limits) and installs the package in ``postBuild``.
- ``repo2docker --no-build`` accepts the repository and picks that configuration (it writes the
  Dockerfile it would build; no Docker daemon needed).
- A fresh virtual environment built the way Binder builds it (``pip install -r
  binder/requirements.txt``, then ``binder/postBuild``) imports everything the chapters import and
  executes every chapter there (the solution notebooks), with the local CPU torch wheel in place
  of the CPU index, which this machine cannot reach. That costs about two minutes on 2 CPU cores,
  and it is the one run that proves the course works with exactly Binder's packages.
- The README badge opens ``course/00-setup`` in JupyterLab.

The two throwaway venvs (repo2docker's, and Binder's) are cached under ``.cache/`` (gitignored),
keyed by what they are built from, so re-runs take seconds.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.parse
from pathlib import Path

import pytest

from browserhelp import REPO, execute_notebooks, isolated_env, notebook_code, solution_notebooks

pytestmark = [pytest.mark.slow]

BINDER = REPO / "binder"
CACHE = REPO / ".cache"
R2D_SPEC = "jupyter-repo2docker>=2024.7"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def makefile_var(name: str) -> str:
    m = re.search(rf"^{name}\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.M)
    assert m, f"Makefile defines no {name}"
    return m.group(1)


def runtime_version() -> tuple[int, int]:
    text = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+)\.(\d+)", text)
    assert m, f"binder/runtime.txt should read 'python-3.X', not {text!r}"
    return int(m.group(1)), int(m.group(2))


def requirement_lines() -> list[str]:
    return [line.strip() for line in (BINDER / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def run(cmd: list[str], *, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if proc.returncode:
        raise RuntimeError(f"`{' '.join(map(str, cmd))}` failed with status {proc.returncode}:\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def cached_venv(prefix: str, key_parts: list[bytes], build) -> Path:
    """A venv at .cache/<prefix>-<hash of key_parts>, built by ``build(path)`` once; older ones removed."""
    key = hashlib.sha256(b"\0".join(key_parts)).hexdigest()[:16]
    venv = CACHE / f"{prefix}-{key}"
    if (venv / ".complete").is_file():
        return venv
    for old in CACHE.glob(f"{prefix}-*"):
        shutil.rmtree(old, ignore_errors=True)
    CACHE.mkdir(exist_ok=True)
    try:
        build(venv)
    except BaseException:
        shutil.rmtree(venv, ignore_errors=True)
        raise
    (venv / ".complete").write_text(key)
    return venv


# --------------------------------------------------------------------------- static checks
def test_runtime_is_python_311_or_newer():
    assert runtime_version() >= (3, 11), (
        "binder/runtime.txt must pin Python >= 3.11 (nbgrader 0.9 needs it; repo2docker's default is 3.10)")


def test_requirements_pin_cpu_only_torch_like_the_makefile():
    lines = requirement_lines()
    torch_lines = [line for line in lines if re.match(r"torch\b", line)]
    assert len(torch_lines) == 1, f"binder/requirements.txt should pin torch exactly once, has {torch_lines}"
    version = makefile_var("TORCH_VERSION")
    assert torch_lines[0] == f"torch=={version}+cpu", (
        f"binder should pin the CPU build of the Makefile's torch: torch=={version}+cpu, not {torch_lines[0]!r}")
    assert any(line.split() == ["--extra-index-url", CPU_INDEX] for line in lines), (
        f"binder/requirements.txt needs `--extra-index-url {CPU_INDEX}` (where +cpu wheels live)")


def test_postbuild_installs_the_course_package():
    script = (BINDER / "postBuild").read_text()
    assert script.startswith("#!"), "binder/postBuild needs a shebang line (repo2docker executes it)"
    assert re.search(r"^\s*pip install .*-e \.\s*$", script, re.M), (
        "binder/postBuild must `pip install -e .`: binder/ wins over the root pyproject.toml, so repo2docker "
        "would not install the package by itself")


def test_readme_badge_opens_setup_in_jupyterlab():
    readme = (REPO / "README.md").read_text()
    badges = re.findall(r"\[!\[Binder\]\([^)]*\)\]\((https://mybinder\.org/v2/[^)\s]+)\)", readme)
    assert len(badges) == 1, f"README should have one Binder badge, found {badges}"
    url = urllib.parse.urlsplit(badges[0])
    assert re.fullmatch(r"/v2/gh/[\w.-]+/[\w.-]+/[\w.-]+", url.path), f"not a mybinder GitHub URL: {badges[0]}"
    query = urllib.parse.parse_qs(url.query)
    assert query.get("urlpath") == ["lab/tree/course/00-setup/00-setup.ipynb"], (
        f"the badge should open course/00-setup in JupyterLab (urlpath=lab/tree/course/00-setup/00-setup.ipynb), "
        f"it has {query}")
    assert (REPO / "course/00-setup/00-setup.ipynb").is_file()


# --------------------------------------------------------------------------- repo2docker
@pytest.fixture(scope="module")
def repo2docker() -> Path:
    def build(venv: Path) -> None:
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin/pip"), "install", "--quiet", R2D_SPEC], timeout=600)

    venv = cached_venv("repo2docker", [R2D_SPEC.encode(), sys.version.encode()], build)
    return venv / "bin" / "repo2docker"


@pytest.mark.timeout(900)
def test_repo2docker_accepts_the_repository(repo2docker, tmp_path):
    """``repo2docker --no-build`` detects binder/ and would build Python 3.11 + requirements + postBuild."""
    proc = subprocess.run([str(repo2docker), "--no-build", "--debug", "--user-name", "jovyan", "--user-id", "1000",
                           str(REPO)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"repo2docker --no-build rejected the repository:\n{log[-3000:]}"
    major, minor = runtime_version()
    assert f"python={major}.{minor}" in log, f"repo2docker did not pick Python {major}.{minor}:\n{log[:1500]}"
    dockerfile = log[log.index("FROM "):] if "FROM " in log else ""
    assert dockerfile, f"repo2docker --debug printed no Dockerfile:\n{log[-2000:]}"
    assert re.search(r'pip install --no-cache-dir -r "?binder/requirements\.txt', dockerfile), (
        "the image would not install binder/requirements.txt")
    assert re.search(r"RUN \./binder/postBuild", dockerfile), "the image would not run binder/postBuild"
    assert "environment.yml" not in dockerfile.replace("environment.lock", ""), (
        "repo2docker picked up an environment.yml: binder/ should hold the only configuration")


# --------------------------------------------------------------------------- a fresh Binder-like environment
def _binder_python() -> str:
    major, minor = runtime_version()
    if sys.version_info[:2] == (major, minor):
        return sys.executable
    found = shutil.which(f"python{major}.{minor}")
    if not found:
        pytest.fail(f"binder/runtime.txt asks for Python {major}.{minor}, which is not installed here; "
                    f"install python{major}.{minor} to build the Binder environment", pytrace=False)
    return found


def _build_binder_env(venv: Path) -> None:
    python = _binder_python()
    run([python, "-m", "venv", str(venv)])
    pip = str(venv / "bin/pip")
    run([pip, "install", "--quiet", "--upgrade", "pip"], timeout=300)
    lines = requirement_lines()
    version = makefile_var("TORCH_VERSION")
    # Binder fetches torch==X+cpu from the CPU index; this machine cannot reach it, but has the same
    # CPU wheel on local disk. Use it when it is there (never a CUDA build from PyPI).
    local = subprocess.run([pip, "install", "--quiet", "--no-deps", "--no-index", f"torch=={version}"],
                           capture_output=True, text=True, timeout=600)
    if local.returncode == 0:
        lines = [f"torch=={version}" if re.match(r"torch\b", line) else line
                 for line in lines if not line.startswith("--extra-index-url")]
    requirements = venv / "binder-requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    run([pip, "install", "--quiet", "-r", str(requirements)], timeout=1200)
    env = dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(venv))
    env.pop("PYTHONHOME", None)
    run(["bash", str(BINDER / "postBuild")], cwd=REPO, env=env, timeout=1200)


@pytest.fixture(scope="module")
def binder_env() -> Path:
    # Keyed by binder/ and by what `pip install -e .` reads from pyproject.toml (the build system and the
    # [project] table without the extras, which Binder does not install), so a new test dependency or
    # pytest option does not rebuild it.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = {k: v for k, v in pyproject.get("project", {}).items() if k != "optional-dependencies"}
    parts = [p.read_bytes() for p in sorted(BINDER.iterdir()) if p.is_file()]
    parts += [json.dumps([pyproject.get("build-system"), project], sort_keys=True).encode(),
              makefile_var("TORCH_VERSION").encode(), str(runtime_version()).encode(), b"recipe 1"]
    return cached_venv("binder-env", parts, _build_binder_env)


def _imports(code: str) -> set[str]:
    """Modules a piece of code imports, dotted (``aecourse.widgets``), relative imports left out."""
    try:
        tree = ast.parse(code)
    except SyntaxError:  # IPython syntax left in: fall back to a line scan
        return set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][\w.]*)", code, re.M))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.timeout(1500)
def test_binder_environment_has_cpu_torch_and_everything_the_chapters_import(binder_env):
    """Every module a chapter imports (and so the library modules they use, and their dependencies) imports
    in the Binder environment. Instructor-only modules (grading, release: nbgrader) are not needed there."""
    python = str(binder_env / "bin/python")
    modules = {"ipywidgets", "jupyterlab", "notebook", "ipykernel"}
    for nb in solution_notebooks():
        modules |= _imports("\n".join(line for line in notebook_code(nb).splitlines()
                                      if not line.lstrip().startswith(("%", "!"))))
    modules.discard("__future__")
    probe = ("import importlib, json, sys, torch\n"
             f"missing = []\nfor m in {sorted(modules)!r}:\n"
             "    try: importlib.import_module(m)\n"
             "    except ImportError as err: missing.append(f'{m}: {err}')\n"
             "print(json.dumps({'missing': missing, 'torch': torch.__version__, 'cuda': torch.version.cuda,"
             " 'python': list(sys.version_info[:2])}))")
    proc = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not info["missing"], (f"the Binder environment lacks modules the course imports (add them to "
                                 f"pyproject's dependencies): {info['missing']}")
    assert info["cuda"] is None, f"the Binder environment got a CUDA torch build ({info['torch']})"
    assert tuple(info["python"]) >= (3, 11)


@pytest.mark.timeout(600)
def test_binder_environment_serves_widgets_without_extra_steps(binder_env, tmp_path):
    """ipywidgets' JupyterLab extension comes with the pip packages: nothing to build or enable on Binder."""
    proc = subprocess.run([str(binder_env / "bin/jupyter"), "labextension", "list"], capture_output=True, text=True,
                          timeout=120, env=isolated_env(tmp_path))
    listing = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # no colours
    assert re.search(r"@jupyter-widgets/jupyterlab-manager v\S+ enabled\s+OK", listing), (
        f"ipywidgets' JupyterLab extension is not enabled in the Binder environment:\n{listing}")


@pytest.mark.timeout(900)
def test_binder_environment_runs_every_chapter(binder_env, tmp_path):
    chosen = solution_notebooks()
    assert any(nb.parent.name.startswith("00-") for nb in chosen), f"no 00-setup in solutions/: {chosen}"
    env = isolated_env(tmp_path / "home", PATH=f"{binder_env / 'bin'}{os.pathsep}{os.environ['PATH']}",
                       VIRTUAL_ENV=str(binder_env))
    results = execute_notebooks(str(binder_env / "bin/python"), chosen, tmp_path / "run", env, timeout=840)
    for r in results:
        assert r["error"] is None, f"{r['path']} failed in the Binder environment:\n{r['error']}"
        assert r["kernel_prefix"] == str(binder_env), (
            f"{r['path']} ran in {r['kernel_prefix']}, not in the Binder environment {binder_env}")
