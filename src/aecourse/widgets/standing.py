"""Where you stand (00-setup): per chapter, the exercises and points whose public checks passed.

What it shows: one row per chapter, read from the learner's progress record
(:mod:`aecourse.standing`, the same as ``aecourse progress``): exercises passed of the
chapter's total with a bar, points passed of the total, and when a check last passed;
a total row; the written answers' points, which a TA grades and no public check
covers. A "Refresh" button reads the record again (after working on another chapter),
and a status line (a polite live region, so a screen reader announces it) says when.

From Python::

    w = standing_table()
    w.rows                    # the aecourse.standing.ChapterStanding rows shown
    w.table_html.value        # the table as HTML
    w.refresh_button.click()  # what pressing the button does: read the record again

From the keyboard: Tab reaches the "Refresh" button; Space or Enter presses it.

Saved notebooks: the widget's display also carries the table as ``text/html`` and as
``text/plain`` (:meth:`StandingTable._repr_mimebundle_`), so a notebook saved without its
widget state still shows the table wherever notebooks are read without a kernel (GitHub,
nbviewer, nbconvert, the course website); JupyterLab draws the widget itself, and after
reopening it draws it from the saved widget state when "Save Widget State Automatically" is on.
While a notebook is graded the widget reads nothing and says so.
"""

from __future__ import annotations

import html
import os
from datetime import datetime

import ipywidgets as widgets

from ..standing import ChapterStanding, describe_time, format_table, record_path, standing, totals
from ..train import is_grading
from .common import WIDGET_CLASS, control_row

__all__ = ["StandingTable", "standing_table", "standing_html", "BAR_COLOUR", "CAPTION", "GRADING"]

BAR_COLOUR = "#1f77b4"
CAPTION = "Where you stand: exercises whose public checks passed"
GRADING = "Progress is neither read nor recorded while a notebook is graded."
# The same compact rows as the activation table; the doubled class outranks JupyterLab's own table rules.
_STYLE = ("<style>.aecourse-standing.aecourse-standing td, .aecourse-standing.aecourse-standing th "
          "{padding:2px 8px;line-height:18px;text-align:left}"
          ".aecourse-standing.aecourse-standing td.num {text-align:right}"
          ".aecourse-standing caption {text-align:left;font-weight:bold;padding-bottom:4px}</style>")


def _num(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"


def _bar(row: ChapterStanding) -> str:
    total = row.exercises_total
    if not total:
        return ""
    label = html.escape(f"{row.chapter}: {row.exercises_passed} of {total} exercises passed", quote=True)
    return (f' <progress value="{row.exercises_passed}" max="{total}" aria-label="{label}" '
            f'style="width:80px;height:10px;vertical-align:middle;accent-color:{BAR_COLOUR}"></progress>')


def _cells(row: ChapterStanding, tag: str) -> str:
    done = " (done)" if row.done else ""
    return (f'<{tag} scope="row">{html.escape(row.chapter)}</{tag}>'
            f'<td class="num">{row.exercises_passed} of {_num(row.exercises_total)}{done}{_bar(row)}</td>'
            f'<td class="num">{_num(row.points_passed)} of {_num(row.points_total)}</td>'
            f'<td>{html.escape(describe_time(row.last_pass))}</td>')


def standing_html(rows: list[ChapterStanding]) -> str:
    """The rows as an accessible HTML table: a caption, column and row headers, a labelled bar per chapter."""
    if not rows:
        return ("<p>No chapters found and nothing recorded yet: run a check cell, then press Refresh.</p>")
    head = "".join(f'<th scope="col">{h}</th>' for h in ("chapter", "exercises passed", "points", "last pass"))
    body = "".join(f"<tr>{_cells(r, 'th')}</tr>" for r in rows)
    foot = f"<tfoot><tr>{_cells(totals(rows), 'th')}</tr></tfoot>" if len(rows) > 1 else ""
    written = [f"{html.escape(r.chapter)} {_num(r.written_points)}" for r in rows if r.written_points]
    note = (f"<p>Written answers, graded by a TA, have no public check and are not counted above "
            f"(points: {', '.join(written)}).</p>") if written else ""
    return (f'{_STYLE}<table class="aecourse-standing" style="border-collapse:collapse">'
            f"<caption>{CAPTION}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>{note}")


class StandingTable(widgets.VBox):
    """The learner's progress per chapter, with a button that reads it again.

    Build it with :func:`standing_table`.

    Attributes
    ----------
    rows : list of aecourse.standing.ChapterStanding
        What the table shows (empty while grading).
    table_html : ipywidgets.HTML
        The table (:func:`standing_html`).
    refresh_button : ipywidgets.Button
        Reads the record again ("Refresh"; Tab, then Space or Enter).
    status : ipywidgets.HTML
        When the record was read and where it lives (a polite live region).
    text : str
        The same table as text (:func:`aecourse.standing.format_table`), the display's ``text/plain``.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = root
        self.rows: list[ChapterStanding] = []
        self.text = ""
        self.table_html = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                             tooltip="Read your progress record again",
                                             layout=widgets.Layout(width="auto"))
        self.status = widgets.HTML()
        self.refresh_button.on_click(lambda _button: self.refresh())
        super().__init__([self.table_html, control_row([self.refresh_button, self.status])],
                         layout=widgets.Layout(max_width="100%"))
        self.add_class("aecourse-standing-widget")
        self.add_class(WIDGET_CLASS)
        self.refresh()

    def refresh(self) -> None:
        """Read the record (and the chapters' totals) again and redraw the table."""
        if is_grading():
            self.rows, self.text = [], GRADING
            self.table_html.value = f"<p>{GRADING}</p>"
            self.status.value = ""
            return
        self.rows = standing(self.root, warn=False)
        self.text = format_table(self.rows)
        self.table_html.value = standing_html(self.rows)
        when = datetime.now().strftime("%H:%M:%S")
        self.status.value = (f'<span role="status" aria-live="polite">read at {when} from '
                             f"<code>{html.escape(str(record_path()))}</code>; "
                             "<code>aecourse progress --clear</code> starts afresh</span>")

    def _repr_mimebundle_(self, **kwargs):
        """The widget, plus the table as HTML and text for wherever the widget cannot be drawn."""
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["text/html"] = self.table_html.value
        data["text/plain"] = self.text
        return data


def standing_table(root: str | os.PathLike | None = None) -> StandingTable:
    """Where you stand, per chapter: exercises and points whose public checks passed, and the last pass.

    Parameters
    ----------
    root : path, optional
        The course repository whose chapters give the totals (default: as ``aecourse progress``).

    Returns
    -------
    StandingTable
        A cell that ends with this call shows it.
    """
    return StandingTable(root)
