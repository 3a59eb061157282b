"""The training thread policy (aecourse.train.TrainingThreads): counts set, restored, and chosen from the load.

Wall time is never asserted here (benchmarks/bench_busy.py measures it); the load the
policy reads is faked, so each decision is tested exactly.
"""

from __future__ import annotations

import contextlib

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from aecourse import train as tr
from aecourse.models import DenseAutoencoder
from aecourse.sae import SparseAutoencoder, topk_loss, train_sae
from aecourse.train import TrainingThreads, fit, usable_cores
from aecourse.vae import VAE, VAEConfig


@pytest.fixture
def two_threads(monkeypatch):
    """torch at two threads on two usable cores, restored afterwards; the small-machine rule off
    (these tests look at the adaptive policy itself; see test_a_two_core_machine_trains_on_one_thread)."""
    monkeypatch.delenv(tr.THREADS_ENV, raising=False)
    monkeypatch.setattr(tr, "usable_cores", lambda: 2)
    monkeypatch.setattr(TrainingThreads, "SMALL_MACHINE", 0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _threads_during_fit(**kwargs) -> set[int]:
    seen: set[int] = set()
    fit(DenseAutoencoder(in_shape=(1, 4, 4), latent_dim=2, hidden=()), torch.rand(64, 1, 4, 4), epochs=2,
        batch_size=16, progress=False, after_step=lambda m: seen.add(torch.get_num_threads()), **kwargs)
    return seen


def test_fit_uses_the_count_given_and_restores_the_previous_one(two_threads):
    assert _threads_during_fit(threads=1) == {1}
    assert torch.get_num_threads() == 2


def test_environment_variable_fixes_the_count(two_threads, monkeypatch):
    monkeypatch.setenv(tr.THREADS_ENV, "1")
    assert _threads_during_fit() == {1}
    assert TrainingThreads().fixed == 1
    with pytest.raises(ValueError, match="threads must be >= 1"):
        TrainingThreads(0)
    monkeypatch.setenv(tr.THREADS_ENV, "two")
    with pytest.raises(ValueError, match="AECOURSE_THREADS must be a whole number"):
        TrainingThreads()


class FakeMachine:
    """What /proc says: CPU seconds busy on our cores, and this process's own CPU seconds."""

    def __init__(self, monkeypatch, runnable_elsewhere=0):
        self.clock = self.busy = self.ours = 0.0
        # the policy's own clock only (patching the time module would reach pytest's timers too)
        monkeypatch.setattr(tr, "time", SimpleNamespace(monotonic=lambda: self.clock, process_time=lambda: self.ours))
        monkeypatch.setattr(tr, "_busy_cpu_seconds", lambda cpus: self.busy)
        monkeypatch.setattr(tr, "_runnable_elsewhere", lambda: runnable_elsewhere)

    def run(self, seconds: float, ours: float, others: float) -> None:
        """``seconds`` pass with this process using ``ours`` cores and other processes ``others``."""
        self.clock += seconds
        self.ours += ours * seconds
        self.busy += (ours + others) * seconds


def test_adaptive_policy_follows_the_load(two_threads, monkeypatch):
    machine = FakeMachine(monkeypatch)
    with TrainingThreads(interval=0.5) as pool:
        pool._cpus = {0, 1}
        assert torch.get_num_threads() == 2  # nothing else runnable at the start: both cores
        machine.run(0.3, ours=2.0, others=0.0)
        assert pool.step() == 2  # the interval has not passed: no new look
        machine.run(0.3, ours=2.0, others=0.0)
        assert pool.step() == 2  # idle machine: two threads
        machine.run(0.5, ours=1.33, others=0.67)  # a busy program takes its share from two threads
        assert pool.step() == 1
        machine.run(0.5, ours=1.0, others=1.0)  # still busy: stay at one
        assert pool.step() == 1
        machine.run(0.5, ours=1.0, others=0.05)  # it stopped (a little background noise)
        assert pool.step() == 2
        assert pool.describe() == [2, 1]
    assert torch.get_num_threads() == 2


def test_adaptive_policy_starts_from_what_runs_now(two_threads, monkeypatch):
    FakeMachine(monkeypatch, runnable_elsewhere=1)
    with TrainingThreads():
        assert torch.get_num_threads() == 1


@contextlib.contextmanager
def torch_at(threads: int, monkeypatch, cores: int = 2):
    """torch at ``threads`` threads on ``cores`` usable cores of a fake machine (yielded), restored after."""
    monkeypatch.delenv(tr.THREADS_ENV, raising=False)
    monkeypatch.setattr(tr, "usable_cores", lambda: cores)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield FakeMachine(monkeypatch)
    finally:
        torch.set_num_threads(before)


def test_a_two_core_machine_trains_on_one_thread(monkeypatch):
    """Idle or busy: on two cores one thread, so a busy laptop runs a cell as fast as an idle one."""
    with torch_at(2, monkeypatch) as machine:
        with TrainingThreads() as pool:
            assert torch.get_num_threads() == 1
            machine.run(1.0, ours=1.0, others=0.0)   # idle
            assert pool.step() == 1
        assert torch.get_num_threads() == 2          # restored
        with TrainingThreads(2):                     # a fixed count is still honoured
            assert torch.get_num_threads() == 2


def test_adaptive_policy_never_exceeds_the_count_it_found(monkeypatch):
    # a grading sandbox sets OMP_NUM_THREADS=1: an idle machine must not raise it
    monkeypatch.setattr(TrainingThreads, "SMALL_MACHINE", 0)
    with torch_at(1, monkeypatch) as machine:
        with TrainingThreads() as pool:
            machine.run(1.0, ours=1.0, others=0.0)
            assert pool.step() == 1


def test_without_proc_half_the_cores_are_used(monkeypatch):
    monkeypatch.delenv(tr.THREADS_ENV, raising=False)
    monkeypatch.setattr(tr, "_busy_cpu_seconds", lambda cpus: None)
    monkeypatch.setattr(tr, "usable_cores", lambda: 8)
    before = torch.get_num_threads()
    torch.set_num_threads(8)
    try:
        with TrainingThreads() as pool:
            assert torch.get_num_threads() == 4 and pool.step() == 4
        assert torch.get_num_threads() == 8
    finally:
        torch.set_num_threads(before)


def test_usable_cores_is_within_the_machine():
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


def test_busy_seconds_are_read_from_proc():
    if not os.path.exists("/proc/stat"):
        pytest.skip("no /proc/stat on this system (the policy then uses half the cores)")
    first = tr._busy_cpu_seconds(os.sched_getaffinity(0))
    sum(i * i for i in range(2_000_000))  # some CPU work: well over one 10 ms tick
    assert tr._busy_cpu_seconds(os.sched_getaffinity(0)) > first >= 0


def _weights(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("kind", ["dense", "topk", "vae"])
def test_weights_do_not_depend_on_the_thread_count(kind):
    """The adaptive policy may switch between one and two threads mid-training; on the course's models that
    must not change a single bit of the result (re-running a cell reproduces it whatever the load)."""
    x = torch.rand(512, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    results = []
    for threads in (1, 2):
        torch.manual_seed(0)
        if kind == "dense":
            model, loss = DenseAutoencoder(in_shape=(1, 28, 28), latent_dim=16, hidden=(64,)), tr.reconstruction_loss
        elif kind == "topk":
            model = SparseAutoencoder(in_shape=(1, 28, 28), latent_dim=64, activation="topk", k=8)
            loss = topk_loss(dead_steps_threshold=2)
        else:
            model = VAE(VAEConfig(in_shape=(1, 28, 28), latent_dim=4, hidden=(64,)))
            loss = lambda m, b: torch.nn.functional.binary_cross_entropy_with_logits(  # noqa: E731
                m.decode_logits(m.posterior(b)[0]), b)
        fit(model, x, loss_fn=loss, epochs=2, batch_size=64, progress=False, threads=threads, device="cpu")
        results.append(_weights(model))
    assert all(torch.equal(a, b) for a, b in zip(*results))


def test_train_sae_weights_do_not_depend_on_the_thread_count():
    """train_sae's set-up (the geometric-median pre-bias) runs under the policy too: same bits either way."""
    x = torch.rand(2000, 32, generator=torch.Generator().manual_seed(0))
    runs = [_weights(train_sae(x, "topk", epochs=2, latent_dim=64, k=8, threads=t)[0]) for t in (1, 2)]
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def test_train_sae_sets_up_under_the_policy(two_threads, monkeypatch):
    seen = []
    real = SparseAutoencoder.init_b_dec_
    monkeypatch.setattr(SparseAutoencoder, "init_b_dec_",
                        lambda self, x: seen.append(torch.get_num_threads()) or real(self, x))
    train_sae(torch.rand(128, 8), "l1", epochs=1, latent_dim=16, threads=1)
    assert seen == [1]


def test_train_sae_passes_its_thread_count_on(two_threads, monkeypatch):
    seen = []
    real_step = TrainingThreads.step
    monkeypatch.setattr(TrainingThreads, "step", lambda self: seen.append(real_step(self)) or seen[-1])
    train_sae(torch.rand(128, 8), "l1", epochs=1, latent_dim=16, threads=1)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("preset, expected", [(None, "AUTO,STRICT"), ("COMPATIBLE", "COMPATIBLE")])
def test_importing_aecourse_switches_on_mkls_strict_reproducibility(preset, expected):
    """Thread-count-independent bits on AVX-512 need MKL_CBWR=...,STRICT before MKL's first call (aecourse/__init__.py);
    `import aecourse` after `import torch` sets it, a product right after it then matches on one and two threads,
    and a value the user set is kept."""
    code = ("import os, torch, aecourse; a = torch.rand(64, 784); w = torch.rand(64, 784)\n"
            "torch.set_num_threads(1); r1 = a @ w.T\ntorch.set_num_threads(2); r2 = a @ w.T\n"
            "print(os.environ['MKL_CBWR'], torch.equal(r1, r2))")
    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"} | ({"MKL_CBWR": preset} if preset else {})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == [expected, "True"], out
