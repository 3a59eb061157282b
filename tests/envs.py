"""The throwaway environments the tests build, cached under ``.cache/`` (gitignored).

- :func:`binder_env`: a fresh virtual environment built the way Binder builds it (``pip install -r
  binder/requirements.txt``, then ``binder/postBuild``), with the local CPU torch wheel in place of
  the CPU index where this machine cannot reach it. The root ``conftest.py`` runs every chapter
  (nbval) in it; ``tests/test_binder.py`` checks its imports and its widgets extension.
- :func:`colab_env`: a venv shaped like Google Colab's runtime: torch and the other packages Colab
  preinstalls that the course uses, but no aecourse (``tests/test_colab.py``: a chapter's first cell
  installs it there).
- :func:`cached_venv`: a venv at ``.cache/<prefix>-<hash>``, keyed by what it is built from, so
  re-runs take seconds (also used for repo2docker's venv).

Disk: the Binder venv (and the Colab one) holds the same wheels as the project's ``.venv`` (torch alone is ~750 MB).
After building it, every file that is byte-identical to ``.venv``'s file at the same path
relative to the environment's root becomes a hard link to it (:func:`link_identical_files`, what
``uv`` does by default), so the two environments share one copy on disk. Installers replace
files (write a new one, rename it over the old) rather than writing into them, so a later
``pip install`` in either environment unlinks, never corrupts, the other. :func:`disk_usage`
measures a set of folders counting each hard-linked file once (as ``du`` does).
"""

from __future__ import annotations

import fcntl
import filecmp
import hashlib
import importlib.util
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager

from browserhelp import NET_GUARD, can_unshare_net

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
CACHE = REPO / ".cache"


class EnvBuildError(RuntimeError):
    """A command building a cached environment failed (its output is in the message)."""


def makefile_var(name: str) -> str:
    m = re.search(rf"^{name}\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.M)
    if not m:
        raise EnvBuildError(f"Makefile defines no {name}")
    return m.group(1)


def runtime_version() -> tuple[int, int]:
    text = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+)\.(\d+)", text)
    if not m:
        raise EnvBuildError(f"binder/runtime.txt should read 'python-3.X', not {text!r}")
    return int(m.group(1)), int(m.group(2))


def requirement_lines() -> list[str]:
    return [line.strip() for line in (BINDER / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def run(cmd: list[str], *, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if proc.returncode:
        raise EnvBuildError(f"`{' '.join(map(str, cmd))}` failed with status {proc.returncode}:\n"
                            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def cached_venv(prefix: str, key_parts: list[bytes], build) -> Path:
    """A venv at .cache/<prefix>-<hash of key_parts>, built by ``build(path)`` once; older ones removed."""
    key = hashlib.sha256(b"\0".join(key_parts)).hexdigest()[:16]
    venv = CACHE / f"{prefix}-{key}"
    if (venv / ".complete").is_file():
        return venv
    CACHE.mkdir(exist_ok=True)
    # One builder at a time: pytest-xdist's workers may both want it first (the other waits, then
    # finds it complete). An flock is released by the kernel when its holder dies.
    with open(CACHE / f".{prefix}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".complete").is_file():
            return venv
        for old in CACHE.glob(f"{prefix}-*"):
            shutil.rmtree(old, ignore_errors=True)
        try:
            build(venv)
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        (venv / ".complete").write_text(key)
    return venv


# --------------------------------------------------------------------------- sharing files on disk
def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _valid_pyc_for(pyc: Path, source: os.stat_result) -> bool:
    """Whether the timestamp-based ``pyc`` is what the importer accepts for ``source`` (PEP 552 header:
    flags 0, then the source's mtime and size)."""
    try:
        with open(pyc, "rb") as fh:
            header = fh.read(16)
    except OSError:
        return False
    if len(header) < 16 or header[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags, mtime, size = struct.unpack("<III", header[4:16])
    return flags == 0 and mtime == int(source.st_mtime) & 0xFFFFFFFF and size == source.st_size & 0xFFFFFFFF


def _link(theirs: Path, mine: Path) -> bool:
    tmp = mine.with_name(mine.name + ".aecourse-link")
    try:
        os.link(theirs, tmp)
        os.replace(tmp, mine)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True


def link_identical_files(target: Path, source: Path) -> dict[str, int]:
    """Replace every file under ``target`` that is byte-identical to the file at the same relative path
    under ``source`` with a hard link to it; then every ``__pycache__/*.pyc`` whose ``.py`` is now shared
    and whose counterpart under ``source`` is valid for that very file (same interpreter tag in the name,
    the source's mtime and size in its header: what the importer checks). Symbolic links and files that
    differ (scripts with the venv's path in them, ``RECORD`` files, ``pyvenv.cfg``) are left alone; a
    ``.py`` that is not shared keeps its own ``.pyc`` (or gets one on first import).
    Returns ``{"linked": files, "bytes": bytes shared}``; nothing is linked across file systems."""
    linked = saved = 0
    target, source = Path(target), Path(source)
    if not source.is_dir():
        return {"linked": 0, "bytes": 0}
    for dirpath, _dirnames, filenames in os.walk(target):
        for name in filenames:
            mine = Path(dirpath) / name
            if name.endswith(".pyc"):
                continue
            theirs = source / mine.relative_to(target)
            try:
                a, b = mine.lstat(), theirs.lstat()
            except OSError:
                continue
            if not (stat.S_ISREG(a.st_mode) and stat.S_ISREG(b.st_mode)) or _same_file(a, b):
                continue
            if a.st_dev != b.st_dev or a.st_size != b.st_size or not filecmp.cmp(mine, theirs, shallow=False):
                continue
            if _link(theirs, mine):
                linked += 1
                saved += a.st_size
    # byte code: the project venv's .pyc of every source file now shared (same inode, so the header's
    # mtime and size match it), in place of the Binder venv's own (or where it has none yet)
    for dirpath, _dirnames, filenames in os.walk(source):
        if Path(dirpath).name != "__pycache__":
            continue
        for name in filenames:
            theirs = Path(dirpath) / name
            mine = target / theirs.relative_to(source)
            module = name.split(".", 1)[0]
            try:
                src_mine, src_theirs = (mine.parent.parent / f"{module}.py").stat(), \
                    (theirs.parent.parent / f"{module}.py").stat()
                b = theirs.lstat()
            except OSError:
                continue
            if not name.endswith(".pyc") or not stat.S_ISREG(b.st_mode) or not _same_file(src_mine, src_theirs):
                continue
            try:
                if _same_file(mine.lstat(), b):
                    continue
            except OSError:
                pass
            if _valid_pyc_for(theirs, src_theirs):
                mine.parent.mkdir(exist_ok=True)
                if _link(theirs, mine):
                    linked += 1
                    saved += b.st_size
    return {"linked": linked, "bytes": saved}


def disk_usage(*paths: Path) -> int:
    """Bytes on disk under ``paths`` together, each file (inode) counted once however many hard links
    it has (``du -s`` of all of them at once). Missing paths count 0."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top in paths:
        top = Path(top)
        if not top.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            for name in [*filenames, *dirnames]:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


# --------------------------------------------------------------------------- the Binder environment
def binder_python() -> str:
    """The Python binder/runtime.txt asks for: this one if it matches, else ``pythonX.Y`` on PATH."""
    major, minor = runtime_version()
    if sys.version_info[:2] == (major, minor):
        return sys.executable
    found = shutil.which(f"python{major}.{minor}")
    if not found:
        raise EnvBuildError(f"binder/runtime.txt asks for Python {major}.{minor}, which is not installed here; "
                            f"install python{major}.{minor} to build the Binder environment")
    return found


def build_binder_env(venv: Path) -> None:
    python = binder_python()
    # No byte-compiling at install time (PIP_NO_COMPILE, for postBuild's pip too): the .pyc files come from
    # .venv along with the shared sources (below), or are written on first import. Same behaviour, faster.
    env = dict(os.environ, PIP_NO_COMPILE="1")
    env.pop("PYTHONHOME", None)
    run([python, "-m", "venv", str(venv)], env=env)
    pip = str(venv / "bin/pip")
    run([pip, "install", "--quiet", "--upgrade", "pip"], timeout=300, env=env)
    lines = requirement_lines()
    version = makefile_var("TORCH_VERSION")
    # Binder fetches torch==X+cpu from the CPU index; this machine cannot reach it, but has the same
    # CPU wheel on local disk. Use it when it is there (never a CUDA build from PyPI).
    local = subprocess.run([pip, "install", "--quiet", "--no-deps", "--no-index", f"torch=={version}"],
                           capture_output=True, text=True, timeout=600, env=env)
    if local.returncode == 0:
        lines = [f"torch=={version}" if re.match(r"torch\b", line) else line
                 for line in lines if not line.startswith("--extra-index-url")]
    requirements = venv / "binder-requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    run([pip, "install", "--quiet", "-r", str(requirements)], timeout=1200, env=env)
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(venv))
    run(["bash", str(BINDER / "postBuild")], cwd=REPO, env=env, timeout=1200)
    # Same Python, same wheels: share the identical files with the project's venv (see the module docstring).
    shared = link_identical_files(venv, Path(sys.prefix))
    (venv / ".shared-with-venv.json").write_text(json.dumps({"venv": sys.prefix, **shared}))


def binder_key() -> list[bytes]:
    """What the Binder venv is built from: binder/, and what `pip install -e .` reads from pyproject.toml
    (the build system and the [project] table without the extras, which Binder does not install), so a
    new test dependency or pytest option does not rebuild it."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = {k: v for k, v in pyproject.get("project", {}).items() if k != "optional-dependencies"}
    parts = [p.read_bytes() for p in sorted(BINDER.iterdir()) if p.is_file()]
    parts += [json.dumps([pyproject.get("build-system"), project], sort_keys=True).encode(),
              makefile_var("TORCH_VERSION").encode(), str(runtime_version()).encode(),
              b"recipe 3 (no compile; files shared with .venv)"]
    return parts


def binder_env() -> Path:
    """The Binder venv (built once, then reused from ``.cache/binder-env-<key>``)."""
    return cached_venv("binder-env", binder_key(), build_binder_env)


# --------------------------------------------------------------------------- the Colab-like environment
#: Which Python the Colab-like venv is built on (a path or a command); default: this venv's own.
COLAB_PYTHON_VAR = "AECOURSE_COLAB_PYTHON"
#: What Colab preinstalls that the course imports at run time, besides torch (Colab has them all, and more,
#: e.g. pandas, which the course does not use). Not aecourse, and not JupyterLab or Notebook: Colab is the
#: front end, and a chapter's first cell does not install them.
COLAB_PACKAGES = ("numpy", "scipy", "matplotlib", "ipywidgets", "ipykernel", "scikit-learn", "scikit-image",
                  "tqdm", "nbformat", "pip")


def colab_python() -> str:
    """``$AECOURSE_COLAB_PYTHON``, else this interpreter (see ``tests/test_colab.py`` for why)."""
    chosen = os.environ.get(COLAB_PYTHON_VAR, "").strip()
    if not chosen:
        return sys.executable
    found = shutil.which(chosen) or (chosen if Path(chosen).is_file() else None)
    if not found:
        raise EnvBuildError(f"{COLAB_PYTHON_VAR}={chosen!r} is not a Python on this machine")
    return found


def venv_pins() -> str:
    """``name==version`` of every distribution of this venv but aecourse: the Colab venv's constraints,
    so it gets the very wheels .venv has, and shares their files."""
    from importlib import metadata

    lines = {f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions(path=_site_packages(sys.prefix))
             if d.metadata["Name"] and d.metadata["Name"].lower() != "aecourse"}
    return "\n".join(sorted(lines, key=str.lower)) + "\n"


def _site_packages(prefix: str | Path) -> list[str]:
    return [str(p) for p in Path(prefix).glob("lib/python3*/site-packages")]


def build_colab_env(venv: Path) -> None:
    started = time.perf_counter()
    python = colab_python()
    env = dict(os.environ, PIP_NO_COMPILE="1")
    env.pop("PYTHONHOME", None)
    env.pop("PYTHONPATH", None)
    run([python, "-m", "venv", str(venv)], env=env)
    pip = str(venv / "bin/pip")
    pins = venv / "colab-constraints.txt"
    pins.write_text(venv_pins())
    version = makefile_var("TORCH_VERSION")
    # Colab's torch is preinstalled (a CUDA build there); here the CPU build of the Makefile's version,
    # from the local wheel when there is one, else from the CPU index (never a CUDA build from PyPI).
    local = subprocess.run([pip, "install", "--quiet", "--no-deps", "--no-index", f"torch=={version}"],
                           capture_output=True, text=True, timeout=600, env=env)
    if local.returncode:
        run([pip, "install", "--quiet", "--no-deps", f"torch=={version}", "--index-url",
             makefile_var("TORCH_CPU_INDEX")], timeout=1200, env=env)
    torch_pin = subprocess.run([str(venv / "bin/python"), "-c", "from importlib.metadata import version; "
                                "print(version('torch'))"], capture_output=True, text=True, env=env).stdout.strip()
    (venv / "torch-pin.txt").write_text(f"torch=={torch_pin}\n")
    # torch's own dependencies (sympy, networkx, ...) with the rest: Colab has them all
    run([pip, "install", "--quiet", "-c", str(pins), "-c", str(venv / "torch-pin.txt"), "torch", *COLAB_PACKAGES],
        timeout=1200, env=env)
    shared = link_identical_files(venv, Path(sys.prefix))
    (venv / ".shared-with-venv.json").write_text(json.dumps({"venv": sys.prefix, **shared}))
    (venv / ".built.json").write_text(json.dumps({"python": python, "seconds": round(time.perf_counter() - started, 1)}))


def colab_key() -> list[bytes]:
    """What the Colab venv is built from: the Python (its path and version), the package list, the project
    venv's versions of those packages and the torch version. (The other pins only decide how many files it
    shares with .venv, so a new test dependency in .venv does not rebuild it.)"""
    from importlib import metadata

    python = colab_python()
    version = run([python, "-c", "import sys; print(sys.version)"], timeout=60).stdout.strip()
    pins = []
    for name in ("torch", *COLAB_PACKAGES):
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return [python.encode(), version.encode(), " ".join(pins).encode(), makefile_var("TORCH_VERSION").encode(),
            b"colab recipe 2 (with torch's dependencies)"]


def colab_env() -> Path:
    """The Colab-like venv (built once, then reused from ``.cache/colab-env-<key>``)."""
    return cached_venv("colab-env", colab_key(), build_colab_env)


# --------------------------------------------------------------------------- the kernel nbval runs chapters in
LAUNCHER = REPO / "tests" / "kernel_launcher.py"
KERNEL_NAME = "aecourse-binder-offline"


def offline_mode() -> str:
    """How the kernel's network is switched off: ``unshare`` (a network namespace of its own; needs root
    or user namespaces, as CI has) or ``guard`` (the sitecustomize socket guard; ``AECOURSE_OFFLINE=guard``
    forces it)."""
    return "unshare" if os.environ.get("AECOURSE_OFFLINE") != "guard" and can_unshare_net() else "guard"


def write_offline_kernelspec(spec_dir: Path, prefix: Path, data_root: Path, *, net: str | None = None,
                             extra_env: dict[str, str] | None = None, inherit_pythonpath: bool = True,
                             display_name: str = "Binder environment") -> Path:
    """A kernelspec in ``spec_dir`` (kernel.json) that starts ipykernel with ``prefix``'s Python through
    ``tests/kernel_launcher.py``: network off (``net``, default :func:`offline_mode`), ``AECOURSE_DATA``
    a new empty folder under ``data_root``, and the launcher's checks of both and of ``sys.prefix``.
    With ``net="unshare"`` the client must talk to it over ipc (:func:`start_kernel` does).
    ``extra_env`` is added to the kernel's environment; with ``inherit_pythonpath=False`` the guard's
    PYTHONPATH does not carry this process's on (the caller then starts the kernel without it, too)."""
    net = net or offline_mode()
    spec_dir, prefix = Path(spec_dir), Path(prefix)
    spec_dir.mkdir(parents=True, exist_ok=True)
    python = prefix / "bin" / "python"
    argv = [str(python), str(LAUNCHER), "--net", net, "--prefix", str(prefix), "--data-root", str(data_root),
            "--report", str(spec_dir / "refused.txt"), "-f", "{connection_file}"]
    env = {"VIRTUAL_ENV": str(prefix), "PATH": f"{prefix / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           **(extra_env or {})}
    if net == "unshare":
        argv = ["unshare", "-n", *argv]
    else:
        guard = spec_dir / "netguard"
        guard.mkdir(exist_ok=True)
        (guard / "sitecustomize.py").write_text(NET_GUARD)
        outer = os.environ.get("PYTHONPATH", "") if inherit_pythonpath else ""
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(guard), outer) if p)
    spec = {"argv": argv, "env": env, "language": "python", "interrupt_mode": "signal",
            "display_name": f"Python ({display_name}, network off: {net})",
            "metadata": {"aecourse": {"net": net, "prefix": str(prefix), "data_root": str(data_root)}}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def kernel_manager(spec_dir: Path, **kwargs):
    """A jupyter_client KernelManager for the kernelspec in ``spec_dir``, on ipc sockets next to it (they
    cross network namespaces, TCP on 127.0.0.1 does not); ``kwargs`` go to the KernelManager."""
    spec = KernelSpec.from_resource_dir(str(spec_dir))

    class OneSpec(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return spec

    ipc = Path(spec_dir) / "ipc"
    ipc.mkdir(exist_ok=True)
    # unix socket paths are at most 107 bytes: keep them short
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=OneSpec(), transport="ipc",
                         ip=str(ipc / uuid.uuid4().hex[:12]), **kwargs)


def refusal(spec_dir: Path) -> str | None:
    """The launcher's message when it refused to start a kernel of ``spec_dir`` (None if it did not)."""
    report = Path(spec_dir) / "refused.txt"
    return report.read_text().strip() if report.is_file() else None


def start_kernel(spec_dir: Path, startup_timeout: float = 60, **kwargs):
    """Start a kernel of the kernelspec in ``spec_dir`` (``kwargs``: ``start_kernel``'s, e.g. ``cwd``) and
    wait until it answers; ``(manager, client)``. When it does not start, RuntimeError quoting the
    launcher's refusal (nbval sends a kernel's stderr to /dev/null, so it would be lost)."""
    km = kernel_manager(spec_dir)
    km.start_kernel(**kwargs)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=startup_timeout)
    except RuntimeError as err:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        raise RuntimeError(refusal(spec_dir) or f"the kernel of {spec_dir} did not start: {err}") from None
    return km, kc
