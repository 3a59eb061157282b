"""One training loop for the whole course, plus devices, seeds and CPU threads.

The loop is the one you write yourself in chapter 01 (``zero_grad``,
forward, loss, ``backward``, ``step``) with the bookkeeping added: batches,
a progress line (:mod:`aecourse.progress`), a loss history, the device, and
the number of CPU threads (:class:`TrainingThreads`).

It trains any ``nn.Module`` with any objective (:data:`aecourse.contracts.LossFn`),
so it imports no model module: the models (:mod:`aecourse.models`, :mod:`aecourse.sae`,
:mod:`aecourse.vae`) sit beside it, and saving and loading them is :mod:`aecourse.checkpoints`.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from .contracts import LossFn, as_tensor, check_int, invalid
from .progress import progress_bar

__all__ = [
    "default_device",
    "seed_everything",
    "is_grading",
    "usable_cores",
    "TrainingThreads",
    "History",
    "fit",
    "reconstruction_loss",
    "evaluate",
]


# --------------------------------------------------------------------------- devices, seeds
def default_device(prefer: str | None = None) -> torch.device:
    """The device every chapter computes on.

    Order: ``prefer`` if given, else the ``AECOURSE_DEVICE`` environment
    variable, else CUDA, then Apple's MPS, then CPU. Asking for a device
    that is not there is an error, not a silent fallback.
    """
    name = prefer or os.environ.get("AECOURSE_DEVICE")
    if name:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} requested but CUDA is not available; use 'cpu'")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"device {name!r} requested but MPS is not available; use 'cpu'")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a seeded CPU generator.

    Same seed, same numbers: on one machine and device, re-running a cell
    after seeding reproduces its result exactly.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def is_grading() -> bool:
    """True while nbgrader executes the notebook (it sets ``NBGRADER_EXECUTION``).

    Heavy cells use this to train for fewer steps when graded, so grading a
    whole class stays cheap; the graded exercises never depend on it.
    """
    return bool(os.environ.get("NBGRADER_EXECUTION"))


# --------------------------------------------------------------------------- CPU threads
THREADS_ENV = "AECOURSE_THREADS"


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity mask, capped by a cgroup CPU quota.

    A container or a Binder pod often sees every core of its host but may use
    only a share of them (``cpu.max``); torch's default thread count ignores
    the quota, and threads beyond it only wait on each other.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity masks
        cores = os.cpu_count() or 1
    try:  # cgroup v2
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(float(quota) / float(period))))
    except (OSError, ValueError):
        try:  # cgroup v1 (-1: no quota)
            quota = float(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
            period = float(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            if quota > 0 and period > 0:
                cores = min(cores, max(1, int(quota / period)))
        except (OSError, ValueError):
            pass
    return max(1, cores)


def _busy_cpu_seconds(cpus: set[int]) -> float | None:
    """CPU seconds spent busy (not idle, not waiting for I/O) on ``cpus`` since boot; None without /proc."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    ticks = 0
    for line in lines:
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        values = [int(v) for v in fields[:8]]
        # user nice system idle iowait irq softirq steal: everything but idle and iowait is busy
        ticks += sum(values) - values[3] - values[4]
    return ticks / os.sysconf("SC_CLK_TCK")


def _runnable_elsewhere() -> int | None:
    """Threads other than this one waiting for or holding a CPU right now (``/proc/loadavg``)."""
    try:
        return max(0, int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1)
    except (OSError, ValueError, IndexError):
        return None


class TrainingThreads:
    """How many torch CPU threads a training loop uses: as many as there are idle cores.

    Why: the course's models are small, so each operation is split over the
    threads in a few microseconds' work each, and the threads meet at a
    barrier after every operation. When another program keeps one of two
    cores busy, one of the two threads is often off its core when the other
    arrives at the barrier, and every operation waits for the scheduler:
    chapter training cells ran 5 to 190 times slower than on the idle
    machine (benchmarks/bench_busy.py). One thread has no barrier to wait at and loses only its share
    of the CPU; on an idle machine two threads are about 1.6 times faster
    than one. So this policy measures, every ``interval`` seconds while
    training, how much CPU *other* processes use on the cores this process
    may run on (``/proc/stat`` minus this process's own CPU time), and uses
    the cores left over: on an idle 4-core machine four threads, three as
    soon as one other program is busy, four again when it stops. A machine
    with at most :attr:`SMALL_MACHINE` (2) cores trains on one thread, idle
    or not: there the second thread's gain when idle is exactly what a busy
    laptop takes away, so a cell would run up to 1.75x slower the moment
    anything else runs; with one thread it runs alike either way.

    On the models the chapters train with :func:`fit` and
    :func:`~aecourse.sae.train_sae` (dense, sparse, MLP VAEs) the weights
    after training are bit-identical with one and with two threads
    (tests/test_threads.py checks it), so switching does not change results.
    On AVX-512 CPUs that needs MKL's strict reproducibility mode, which
    ``import aecourse`` switches on (``MKL_CBWR=AUTO,STRICT``; see
    ``aecourse/__init__.py``).
    That is not true of every model: the zoo's masked ("where") decoder
    gives other bits with another thread count, so a retrain that must
    repeat bit for bit fixes the count (``aecourse zoo train --threads 1``).

    Parameters
    ----------
    threads : int or None
        A fixed count (the policy is off), or None for the adaptive policy.
        The environment variable ``AECOURSE_THREADS`` fixes the count for
        every loop that is not given one.
    interval : float
        Seconds between two looks at the machine's load.

    Notes
    -----
    The adaptive count never exceeds torch's thread count when the block is
    entered (``OMP_NUM_THREADS``, ``torch.set_num_threads``: a grading
    sandbox's share of the cores is kept) nor :func:`usable_cores`. Without
    ``/proc`` (macOS, Windows) the load cannot be read cheaply, and half the
    usable cores are used: enough cores stay free that one busy program
    cannot push a thread off its core. The previous setting is restored on
    exit. Use as a context manager and call :meth:`step` after each
    optimiser step.

    Examples
    --------
    >>> with TrainingThreads(1) as threads:
    ...     torch.get_num_threads()
    1
    """

    # On a machine with at most this many usable cores the policy trains on one thread: with one
    # other busy program a 2-core laptop has one core left, so a second thread when idle (up to
    # 1.75x faster) would make the same cell 1.5-1.75x slower the moment a browser tab or another
    # notebook gets busy (benchmarks/bench_busy.py, 2026-12-01). One thread holds on a busy laptop.
    SMALL_MACHINE = 2

    def __init__(self, threads: int | None = None, *, interval: float = 0.5):
        if threads is None and os.environ.get(THREADS_ENV, "").strip():
            try:
                threads = int(os.environ[THREADS_ENV])
            except ValueError:
                raise ValueError(f"{THREADS_ENV} must be a whole number of threads, got "
                                 f"{os.environ[THREADS_ENV]!r}; unset it to choose from the load") from None
        if threads is not None and int(threads) < 1:
            raise invalid("threads", ">= 1 or None (choose from the load)", threads)
        self.fixed = None if threads is None else int(threads)
        self.interval = float(interval)
        self.used: list[int] = []  # every count used, in order of first use
        self._previous = torch.get_num_threads()
        self._ceiling = max(1, min(self._previous, usable_cores()))
        try:
            self._cpus = os.sched_getaffinity(0)
        except (AttributeError, OSError):
            self._cpus = set(range(os.cpu_count() or 1))
        if usable_cores() <= self.SMALL_MACHINE:
            self._ceiling = 1
        self._mark: tuple[float, float, float] | None = None
        self._next = math.inf

    # how many threads for `free` idle cores: a core counts as idle when others use under 0.3 of it
    def _for_free_cores(self, free: float) -> int:
        return max(1, min(self._ceiling, int(free + 0.3)))

    def _sample(self) -> tuple[float, float, float] | None:
        busy = _busy_cpu_seconds(self._cpus)
        return None if busy is None else (time.monotonic(), busy, time.process_time())

    def _set(self, n: int) -> None:
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        if n not in self.used:
            self.used.append(n)

    def __enter__(self) -> "TrainingThreads":
        if self.fixed is not None:
            self._set(self.fixed)
            return self
        self._mark = self._sample()
        if self._mark is None:  # no /proc: keep half the cores free for whatever else runs
            self._set(max(1, min(self._ceiling, usable_cores() // 2)))
            return self
        # The first measurement needs a window; until then, threads that are running right now elsewhere
        # (a snapshot from /proc/loadavg) stand in for the load.
        others = _runnable_elsewhere()
        self._set(self._for_free_cores(len(self._cpus) - (others or 0)) if others is not None else 1)
        self._next = self._mark[0] + self.interval
        return self

    def step(self) -> int:
        """Call after every optimiser step: re-reads the load when ``interval`` has passed. Returns the count."""
        if self._mark is not None and time.monotonic() >= self._next:
            now = self._sample()
            if now is not None:
                wall = now[0] - self._mark[0]
                others = (now[1] - self._mark[1] - (now[2] - self._mark[2])) / wall if wall > 0 else 0.0
                self._set(self._for_free_cores(min(len(self._cpus), usable_cores()) - max(0.0, others)))
                self._mark, self._next = now, now[0] + self.interval
        return torch.get_num_threads()

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self._previous)

    def describe(self) -> int | list[int]:
        """The count used, or every count used in turn (for a training record)."""
        return self.used[0] if len(self.used) == 1 else list(self.used)


# --------------------------------------------------------------------------- the loop
@dataclass
class History:
    """Per-epoch losses (and any extra logged numbers) from :func:`fit`."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    logs: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0

    def __repr__(self) -> str:
        last = f"{self.train_loss[-1]:.4g}" if self.train_loss else "n/a"
        val = f", val_loss={self.val_loss[-1]:.4g}" if self.val_loss else ""
        return f"History(epochs={len(self.train_loss)}, steps={self.steps}, train_loss={last}{val})"


def reconstruction_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error between ``x`` and ``model(x)``, averaged over everything."""
    return torch.mean((model(x) - x) ** 2)


def _batches(x: torch.Tensor, batch_size: int, generator: torch.Generator | None) -> Iterable[torch.Tensor]:
    # Indexing a tensor beats a DataLoader by a wide margin for in-memory data.
    order = torch.randperm(len(x), generator=generator) if generator is not None else torch.arange(len(x))
    for i in range(0, len(x), batch_size):
        yield x[order[i : i + batch_size].to(x.device)]


def _split_loss(out) -> tuple[torch.Tensor, dict]:
    if isinstance(out, tuple):
        loss, logs = out
        return loss, dict(logs)
    return out, {}


@torch.no_grad()
def evaluate(model: nn.Module, data, loss_fn: LossFn = reconstruction_loss, *, batch_size: int = 1024,
             device: torch.device | str | None = None) -> float:
    """Average ``loss_fn`` over ``data`` without training (eval mode, no grad)."""
    device = torch.device(device) if device else next(model.parameters()).device
    x = as_tensor(data, "data", min_dim=2).to(device)
    was_training = model.training
    model.eval()
    total = 0.0
    for batch in _batches(x, batch_size, None):
        total += float(_split_loss(loss_fn(model, batch))[0]) * len(batch)
    model.train(was_training)
    return total / len(x)


def fit(
    model: nn.Module,
    data,
    *,
    loss_fn: LossFn = reconstruction_loss,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    val_data=None,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    after_step: Callable[[nn.Module], None] | None = None,
    threads: int | None = None,
) -> History:
    """Train ``model`` to minimise ``loss_fn`` on ``data``; return the :class:`History`.

    Parameters
    ----------
    model : nn.Module
        Moved to ``device`` in place.
    data : Tensor, shape (n, ...), or a dataset with ``.images``
        The training inputs. The whole set is moved to the device once.
    loss_fn : callable ``(model, batch) -> loss`` or ``-> (loss, logs)``
        ``logs`` is a dict of floats averaged per epoch into ``History.logs``.
    epochs, batch_size, lr : training budget; Adam is used unless ``optimizer`` is given.
    val_data : optional held-out data, evaluated with ``loss_fn`` after each epoch.
    device : defaults to :func:`default_device`.
    seed : seeds initial shuffling (and everything else) for repeatable runs.
    after_step : optional hook called after every optimiser step, e.g. to
        renormalise decoder columns in the sparse chapters.
    progress : bool
        Show a progress line (:func:`aecourse.progress.progress_bar`): a bar
        while training, then ``training VAE: 6/6 epochs, 4.2 s, loss 106.3``,
        which stays readable in the saved notebook. False: print nothing.
    threads : int or None
        torch CPU threads while training; None (the default) follows the load
        of the machine (:class:`TrainingThreads`). The previous setting is
        restored afterwards.
    """
    epochs = check_int("epochs", epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    device = default_device(str(device) if device else None)
    generator = seed_everything(seed)
    model.to(device)
    x = as_tensor(data, "data", min_dim=2).to(device)
    x_val = as_tensor(val_data, "val_data", min_dim=2).to(device) if val_data is not None else None
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history = History()

    bar = progress_bar(range(epochs), desc=f"training {type(model).__name__}", unit="epoch", enabled=progress)
    with bar, TrainingThreads(threads) as pool:
        for _ in bar:
            model.train()
            total, sums = 0.0, {}
            for batch in _batches(x, batch_size, generator):
                loss, logs = _split_loss(loss_fn(model, batch))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if after_step is not None:
                    after_step(model)
                pool.step()
                history.steps += 1
                total += loss.item() * len(batch)
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * len(batch)
            history.train_loss.append(total / len(x))
            for k, v in sums.items():
                history.logs.setdefault(k, []).append(v / len(x))
            if x_val is not None:
                history.val_loss.append(evaluate(model, x_val, loss_fn, device=device))
                bar.set_postfix(loss=f"{history.train_loss[-1]:.4g}", val_loss=f"{history.val_loss[-1]:.4g}")
            else:
                bar.set_postfix(loss=f"{history.train_loss[-1]:.4g}")
    model.eval()
    return history
