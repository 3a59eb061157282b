"""A training curve that redraws itself while a model trains (``zoo.train``'s ``on_progress``).

:class:`LiveTrainingFigure` is an ``on_progress`` callback for :func:`aecourse.zoo.train`:
every event it is given (the mean loss every 100 steps, a quick MIG after each evaluation)
is added to two panels, loss against step and MIG against seconds, with the bar MIG must
clear drawn as a dashed line.  In a notebook it redraws one output in place (an IPython
display handle, updated at most every ``min_interval`` seconds), and that output is a plain
PNG: it is still there after saving and reopening, unlike a widget.  Outside a notebook it
draws nothing until :meth:`figure` is asked for.

:func:`training_curve_figure` draws the same two panels from a finished run's record
(``meta["curve"]`` and ``meta["history"]`` of :func:`aecourse.zoo.train`; a zoo manifest
entry's ``curve``).
"""

from __future__ import annotations

import time
from typing import Sequence

import matplotlib.pyplot as plt

from ..contracts import check_number
from .alt import num, set_alt
from .figures import finish

__all__ = ["LiveTrainingFigure", "training_curve_figure"]


def _draw(loss_steps: Sequence[int], losses: Sequence[float], mig_seconds: Sequence[float],
          migs: Sequence[float], *, target: float | None, steps: int | None, title: str):
    fig, (ax_loss, ax_mig) = plt.subplots(1, 2, figsize=(9, 2.8), layout="constrained")
    ax_loss.plot(loss_steps, losses, color="tab:blue")
    ax_loss.set(xlabel="step", ylabel="loss (mean of 100 steps)", title="loss")
    if steps:
        ax_loss.set_xlim(0, steps)
    if losses:
        ax_loss.set_yscale("log")
    ax_mig.plot(mig_seconds, migs, "o-", color="tab:green", label="MIG (quick: 5,000 samples)")
    if target is not None:
        ax_mig.axhline(target, ls="--", color="grey", label=f"bar: {target:g}")
    ax_mig.set(xlabel="training seconds", ylabel="MIG", title="MIG", ylim=(0, max([0.5, *migs]) * 1.05))
    ax_mig.legend(loc="lower right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return set_alt(fig, _curves_alt(loss_steps, losses, mig_seconds, migs, target=target, steps=steps, title=title))


def _curves_alt(loss_steps, losses, mig_seconds, migs, *, target, steps, title) -> str:
    words = [f"Training curves, {title}: two line charts"]
    if losses:
        of = f" of {steps:,}" if steps else ""
        words.append(f"loss (log scale) from {num(losses[0])} at step {loss_steps[0]:,} to {num(losses[-1])} at step "
                     f"{loss_steps[-1]:,}{of}, lowest {num(min(losses))}")
    else:
        words.append("no loss recorded yet")
    if migs:
        best = max(range(len(migs)), key=migs.__getitem__)
        words.append(f"quick MIG at {len(migs)} evaluation{'s' if len(migs) != 1 else ''}, latest {num(migs[-1])} after "
                     f"{num(mig_seconds[-1])} s, best {num(migs[best])} after {num(mig_seconds[best])} s")
    else:
        words.append("no MIG evaluated yet")
    if target is not None:
        cleared = migs and max(migs) >= target
        words.append(f"dashed bar at MIG {num(target)}, {'cleared' if cleared else 'not cleared'}")
    return "; ".join(words)


class LiveTrainingFigure:
    """Loss and quick-MIG panels that follow a training run; pass it as ``on_progress``.

    Parameters
    ----------
    target : float, optional
        A MIG bar drawn as a dashed line (None: no line).
    title : str
        Shown above the panels (the step count and the latest MIG are added).
    min_interval : float
        Seconds between two redraws at least (an evaluation always redraws):
        drawing costs time the model could be training.
    display : bool or None
        Whether to draw into the notebook (None: only under IPython with a kernel).

    Attributes
    ----------
    loss_steps, losses : list
        Step and mean loss of every 100 steps seen so far.
    mig_seconds, migs : list
        Training seconds and quick MIG of every evaluation seen so far.
    """

    def __init__(self, *, target: float | None = 0.3, title: str = "training", min_interval: float = 2.0,
                 display: bool | None = None):
        self.target = None if target is None else check_number("target", target, low=0)
        self.title = str(title)
        self.min_interval = check_number("min_interval", min_interval, low=0)
        self.loss_steps: list[int] = []
        self.losses: list[float] = []
        self.mig_seconds: list[float] = []
        self.migs: list[float] = []
        self.steps: int | None = None
        self._last_draw = float("-inf")
        self._handle = None
        self._display = _in_kernel() if display is None else bool(display)

    def __call__(self, event: dict) -> None:
        """Take one event of :func:`aecourse.zoo.train` (``step``, ``steps``, ``seconds``, ``loss``, ``mig``)."""
        self.steps = event.get("steps", self.steps)
        if "loss" in event:
            self.loss_steps.append(int(event["step"]))
            self.losses.append(float(event["loss"]))
        evaluated = event.get("mig") is not None
        if evaluated:
            self.mig_seconds.append(float(event["seconds"]))
            self.migs.append(float(event["mig"]))
        now = time.monotonic()
        if self._display and (evaluated or now - self._last_draw >= self.min_interval):
            self._show()
            self._last_draw = now

    def figure(self):
        """The two panels as they stand (a closed matplotlib Figure)."""
        parts = [self.title]
        if self.loss_steps:
            parts.append(f"step {self.loss_steps[-1]:,}" + (f" of {self.steps:,}" if self.steps else ""))
        if self.migs:
            parts.append(f"MIG {self.migs[-1]:.3f}")
        return finish(_draw(self.loss_steps, self.losses, self.mig_seconds, self.migs, target=self.target,
                            steps=self.steps, title=" · ".join(parts)))

    def _show(self) -> None:
        from IPython.display import display

        fig = self.figure()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)


def training_curve_figure(curve: Sequence[Sequence[float]], history: dict | None = None, *,
                          target: float | None = 0.3, title: str = "training"):
    """The panels of :class:`LiveTrainingFigure` for a finished run.

    Parameters
    ----------
    curve : sequence of (seconds, step, mig, factor_vae)
        As :func:`aecourse.zoo.train` records it (``meta["curve"]``, the manifest's ``curve``).
    history : dict, optional
        ``{"loss": [mean of each 100 steps, ...]}`` (``meta["history"]``).
    """
    losses = list((history or {}).get("loss", []))
    steps = int(curve[-1][1]) if curve else None
    loss_steps = [min(100 * (i + 1), steps or 10**12) for i in range(len(losses))]
    return finish(_draw(loss_steps, losses, [c[0] for c in curve], [c[2] for c in curve], target=target,
                        steps=steps, title=title))


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
