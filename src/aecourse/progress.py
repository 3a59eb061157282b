"""Progress lines for the library's long loops that survive saving a notebook.

Every training loop of the course (:func:`aecourse.train.fit`,
:func:`aecourse.sae.train_sae`, :func:`aecourse.zoo.train`, and the
intervention sweeps) reports progress through :func:`progress_bar`:

* **in a Jupyter kernel** (JupyterLab, Notebook 7, VS Code, and nbclient
  under nbgrader, nbconvert and nbval) it shows one output that is updated
  in place through an IPython display handle. The output is plain data, a
  ``text/plain`` line and a ``text/html`` line with a ``<progress>``
  element, never a widget: what is saved with the notebook when the cell
  ends is the final line, e.g. ``training VAE: 300/300 epochs, 4.2 s,
  loss 0.031``, and it renders the same when the notebook is reopened,
  exported or viewed without a kernel. (``tqdm.auto`` draws an ipywidget
  instead, whose saved view shows "Error displaying widget: model not
  found" once its kernel-side model is gone.)
* **in a terminal** it redraws one line on stderr with ``\\r``; when stderr
  is not a terminal (a log file, CI) it writes a line at most every 30 s
  and the final line.
* with ``enabled=False`` it prints nothing at all.
"""

from __future__ import annotations

import html
import math
import sys
import time
from typing import IO, Iterable, Iterator, TypeVar

from IPython import get_ipython
from IPython.display import display

__all__ = ["ProgressLine", "progress_bar", "format_seconds", "in_kernel"]

T = TypeVar("T")

BAR_WIDTH = 20  # characters of the text bar
KERNEL_INTERVAL_S = 0.2  # the fastest a notebook output is redrawn: more would flood the kernel's channel
TTY_INTERVAL_S = 0.1
LOG_INTERVAL_S = 30.0  # a log gets a line this often, not one per step


def in_kernel() -> bool:
    """True when running inside a Jupyter kernel (which can update outputs in place).

    A terminal IPython has a shell but no kernel; plain Python has neither.
    """
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def format_seconds(seconds: float) -> str:
    """``4.2 s``, ``2 min 05 s``, ``1 h 02 min``: short enough for one line."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        m, s = divmod(int(round(seconds)), 60)
        return f"{m} min {s:02d} s"
    h, m = divmod(int(round(seconds / 60)), 60)
    return f"{h} h {m:02d} min"


class _Rendered:
    """What a notebook displays: the same line as text/plain and text/html."""

    def __init__(self, text: str, html_text: str):
        self.text, self.html = text, html_text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return self.html


class ProgressLine:
    """One line of progress, ``desc: n/total units, elapsed, postfix``, drawn where it can be.

    Usually made by :func:`progress_bar`. Use it as an iterator (over the
    ``iterable`` given) or call :meth:`update` yourself; :meth:`close` (or
    leaving a ``with`` block, or the iteration ending) draws the final line.

    Parameters
    ----------
    iterable : iterable, optional
        What iterating the line yields; each item advances it by one.
    total : int, optional
        Number of steps; taken from ``len(iterable)`` when not given.
    desc : str
        What is being done, e.g. ``"training VAE"``.
    unit : str
        Singular name of one step (``"epoch"``); an ``s`` is added for other counts.
    enabled : bool
        False: draw nothing (the loop still runs).
    stream : text file, optional
        Where to write outside a kernel (default ``sys.stderr``).
    kernel : bool, optional
        Force (True) or forbid (False) the notebook display; default: :func:`in_kernel`.
    """

    def __init__(self, iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "step", enabled: bool = True, stream: IO[str] | None = None,
                 kernel: bool | None = None):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.enabled = bool(enabled)
        self.n = 0
        self.postfix: dict[str, str] = {}
        self.closed = False
        self.stopped = False
        self.start = time.perf_counter()
        self._last_draw = -math.inf
        self._stream = stream if stream is not None else sys.stderr
        self._kernel = in_kernel() if kernel is None else kernel
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._handle = None
        self._width = 0  # of the last line written with \r, to blank what a shorter line leaves
        if self.enabled:
            self._draw(force=True)

    # ------------------------------------------------------------------ text
    def _count(self) -> str:
        unit = self.unit if (self.total if self.total is not None else self.n) == 1 else self.unit + "s"
        return f"{self.n}/{self.total} {unit}" if self.total is not None else f"{self.n} {unit}"

    def _details(self, final: bool) -> list[str]:
        elapsed = time.perf_counter() - self.start
        parts = [format_seconds(elapsed)]
        if not final and self.total and 0 < self.n < self.total:
            parts.append(f"about {format_seconds(elapsed / self.n * (self.total - self.n))} left")
        parts += [f"{k} {v}" for k, v in self.postfix.items()]
        return parts

    @property
    def done(self) -> bool:
        """Closed after every step ran (not stopped early)."""
        return self.closed and not self.stopped

    def text(self) -> str:
        """The line as plain text (what a terminal, a log or a saved notebook shows)."""
        head = f"{self.desc}: " if self.desc else ""
        if self.closed:
            state = "stopped at " if self.stopped else ""
            return f"{head}{state}{self._count()}, " + ", ".join(self._details(final=True))
        bar = ""
        if self.total:
            filled = int(BAR_WIDTH * min(self.n, self.total) / self.total)
            bar = " |" + "█" * filled + "·" * (BAR_WIDTH - filled) + "|"
        return f"{head}{self._count()}{bar} " + ", ".join(self._details(final=False))

    def html(self) -> str:
        """The line as HTML: a ``<progress>`` element while running, the plain final line after."""
        head = f"<b>{html.escape(self.desc)}</b>: " if self.desc else ""
        if self.closed:
            body = html.escape(self.text()[len(self.desc) + 2 if self.desc else 0:])
            return f'<div class="aecourse-progress" style="font-family: monospace">{head}{body}</div>'
        meter = ""
        if self.total:
            meter = (f'<progress value="{min(self.n, self.total)}" max="{self.total}" '
                     'style="width: 12em; vertical-align: middle"></progress> ')
        details = html.escape(", ".join(self._details(final=False)))
        return (f'<div class="aecourse-progress" style="font-family: monospace">{head}{meter}'
                f"{html.escape(self._count())}, {details}</div>")

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return self.html()

    # ------------------------------------------------------------------ drawing
    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        interval = KERNEL_INTERVAL_S if self._kernel else TTY_INTERVAL_S if self._tty else LOG_INTERVAL_S
        if not force and now - self._last_draw < interval:
            return
        self._last_draw = now
        if self._kernel:
            shown = _Rendered(self.text(), self.html())
            if self._handle is None:
                self._handle = display(shown, display_id=True)
            else:
                self._handle.update(shown)
        elif self._tty:
            line = self.text()
            self._stream.write("\r" + line + " " * max(0, self._width - len(line)) + ("\n" if self.closed else ""))
            self._width = len(line)
            self._stream.flush()
        elif self.closed or self.n > 0:  # a log: no line for "0/300" (the final line says it all)
            self._stream.write(self.text() + "\n")
            self._stream.flush()

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps (redrawn at most every few tenths of a second)."""
        self.n += n
        self._draw()

    def set_postfix(self, **values) -> None:
        """Numbers shown after the count, e.g. ``set_postfix(loss=f"{loss:.4g}")`` (tqdm's spelling)."""
        self.postfix.update({k: str(v) for k, v in values.items()})

    def close(self, stopped: bool | None = None) -> None:
        """Draw the final line and stop updating. Safe to call twice.

        ``stopped`` says the loop ended early (an error, an interrupt); by
        default it is inferred from the count falling short of ``total``.
        """
        if self.closed:
            return
        self.stopped = (self.total is not None and self.n < self.total) if stopped is None else bool(stopped)
        self.closed = True
        self._draw(force=True)

    # ------------------------------------------------------------------ protocols
    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("this ProgressLine has no iterable; call update() instead")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            # Reached on normal exhaustion, on an exception in the loop body, and when the
            # loop is left with break (the generator is closed): the final line is always drawn.
            self.close()

    def __enter__(self) -> "ProgressLine":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(stopped=True if exc_type is not None else None)


def progress_bar(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "step", enabled: bool = True) -> ProgressLine:
    """A progress line over ``iterable`` for the library's loops (see the module docstring).

    Parameters
    ----------
    iterable : iterable, optional
        Iterate the returned line to iterate this, one step per item.
    total : int, optional
        Number of steps (default ``len(iterable)``).
    desc : str
        What is being done: ``"training VAE"``.
    unit : str
        One step, singular: ``"epoch"``, ``"step"``, ``"factor"``.
    enabled : bool
        The library's ``progress=`` argument: False shows nothing.

    Returns
    -------
    ProgressLine
        Iterate it, call ``set_postfix(loss=...)`` to show numbers, and
        (when used without an iterable) ``update()`` and ``close()``.

    Examples
    --------
    >>> line = progress_bar(range(3), desc="training", unit="epoch", enabled=False)
    >>> [i for i in line]
    [0, 1, 2]
    >>> line.text().startswith("training: 3/3 epochs, ")
    True
    """
    return ProgressLine(iterable, total=total, desc=desc, unit=unit, enabled=enabled)
