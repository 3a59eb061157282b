"""Binder: what ``binder/`` builds runs the course.

- ``binder/`` pins Python >= 3.11 and CPU-only torch (the default PyPI wheel is a ~5 GB CUDA
  build, far over mybinder's limits) and installs the package in ``postBuild``.
- ``repo2docker --no-build`` accepts the repository and picks that configuration (it writes the
  Dockerfile it would build; no Docker daemon needed).
- A fresh virtual environment built the way Binder builds it (``tests/envs.py``: ``pip install -r
  binder/requirements.txt``, then ``binder/postBuild``, with the local CPU torch wheel in place of
  the CPU index, which this machine cannot reach) imports everything the chapters import and
  serves the widgets extension. Every chapter *executes* in it too, but not here: nbval runs the
  solution notebooks in that environment (the root ``conftest.py``), so the one nbval run is also
  the Binder run, and its launcher checks that the kernel's ``sys.prefix`` is this environment.
- The Binder environment shares every file identical to ``.venv``'s by a hard link (disk).
- The README badge opens ``course/00-setup`` in JupyterLab.

The two throwaway venvs (repo2docker's, and Binder's) are cached under ``.cache/`` (gitignored),
keyed by what they are built from, so re-runs take seconds.
"""

from __future__ import annotations

import ast
import filecmp
import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

import envs
from browserhelp import REPO, isolated_env, notebook_code, solution_notebooks
from envs import BINDER, cached_venv, makefile_var, requirement_lines, run, runtime_version

pytestmark = [pytest.mark.slow]

R2D_SPEC = "jupyter-repo2docker>=2024.7"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


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
@pytest.fixture(scope="module")
def binder_env() -> Path:
    """The Binder venv (tests/envs.py; the same one nbval runs the chapters in)."""
    try:
        return envs.binder_env()
    except envs.EnvBuildError as err:
        pytest.fail(str(err), pytrace=False)


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


def test_binder_environment_shares_identical_files_with_the_venv(binder_env):
    """Same wheels as .venv: each identical file is stored once (hard links), e.g. torch's big library."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests run outside a venv: nothing to share with")
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin or not spec.origin.startswith(sys.prefix):
        pytest.skip("torch is not installed in this venv")
    venv_torch = max((Path(spec.origin).parent / "lib").glob("*.so*"), key=lambda p: p.stat().st_size)
    binder_torch = binder_env / venv_torch.relative_to(sys.prefix)
    if not binder_torch.is_file() or venv_torch.stat().st_dev != binder_torch.stat().st_dev:
        pytest.skip(f"{binder_env} and {sys.prefix} have different layouts or file systems")
    if not filecmp.cmp(venv_torch, binder_torch, shallow=False):
        pytest.skip("the Binder environment's torch library differs from .venv's")
    assert os.path.samefile(venv_torch, binder_torch), (
        f"{binder_torch.name} is stored twice: tests/envs.py links identical files of the Binder venv to .venv's")
    shared = json.loads((binder_env / ".shared-with-venv.json").read_text())
    assert shared["bytes"] > 500 * 2**20, shared
