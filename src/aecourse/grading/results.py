"""What a batch produces: the rows, the tables in OUT, the summary; scores read back from a gradebook.

``Row`` is one student and chapter as the grader decided it (status, score, per-item
scores, flags, detail); ``write_outputs`` writes ``grades.csv``, ``items.csv`` and
``unmapped.csv``; ``summary`` is the text an instructor reads after a run;
``flag_slow`` marks rows far slower than their chapter's median.

What it trusts: everything here is trusted code working on values the grader made,
except ``read_grades``, which reads a gradebook *copy written inside a box* (so
written, possibly, by the submission) as data: only ``auto_score`` counts, manual
scores are ignored and reported, every item is clipped to [0, the master's points]
and items come from the trusted master (``Chapter``), never from the copy.  A
manually graded answer (written answers) is always ``pending`` here: its points
come only from a TA, through the persistent gradebook (``gradebook``), which no
box ever sees.
Student ids and file names in rows come from the submission folder's names: they
are written as CSV fields (quoted by :mod:`csv`), never interpreted.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .intake import Unmapped
from .notebooks import Chapter, Item

STATUSES = ("graded", "timeout", "crashed", "invalid", "wrong_chapter", "missing", "unknown_assignment")
FLAGS = {
    "edited_locked": "a locked cell (test, instructions) was edited; restored before grading",
    "deleted_cells": "release cells were deleted; added back before grading",
    "edited_metadata": "nbgrader metadata (points, grade ids, cell type) was edited; reset",
    "foreign_metadata": "cells claim grade ids the release does not have; their metadata removed",
    "suspicious_code": "the learner's code monkeypatches helpers/builtins or reaches for the grader",
    "network": "the submission tried to open a network connection (refused)",
    "timeout": "the whole notebook ran out of time",
    "cell_timeout": "a cell hit the per-cell time limit and was interrupted",
    "slow": "took far longer than the class's median: heavy work?",
    "memory": "killed for using too much memory",
    "memory_error": "a cell raised MemoryError",
    "output_limit": "output over the limit was dropped (or the sandbox was stopped for it)",
    "background_process": "left processes running after the notebook; killed",
    "gradebook_tampered": "its gradebook copy held manual or out-of-range scores; ignored",
    "renamed_notebook": "the notebook had another name",
    "several_files": "several notebooks for one chapter; the newest was graded",
    "files_too_large": "files over the size limit were left out",
    "not_in_roster": "the student is not in the roster",
    "wrong_chapter": "the notebook belongs to another chapter",
    "needs_manual": "written answers wait for a TA (nbgrader formgrader on the --gradebook course directory)",
}
ITEM_COLUMNS = ["student", "assignment", "grade_id", "score", "max_score", "notebook", "graded_by"]
INTERNAL_STUDENT = "student"   # the id nbgrader sees; real names never reach it


@dataclass
class Row:
    """One student and chapter as the grader decided it: a line of ``grades.csv`` (and its items)."""

    student: str
    assignment: str
    score: float
    max_score: float | None
    status: str
    detail: str
    review: bool = True
    notebook: str = ""        # the graded file(s), relative to SUBMISSIONS
    feedback: str = ""        # feedback HTML, relative to OUT
    seconds: float = 0.0
    items: list[Item] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    name: str = ""
    email: str = ""
    cached: bool = False

    def flag(self, *names: str) -> None:
        for n in names:
            if n not in self.flags:
                self.flags.append(n)

    def csv_row(self, item_ids: list[str]) -> dict:
        scores = {i.grade_id: "pending" if i.by == "pending" else num(i.score) for i in self.items}
        return {
            "student": self.student, "name": self.name, "email": self.email,
            "assignment": self.assignment, "status": self.status,
            "score": num(self.score), "max_score": num(self.max_score),
            **{gid: scores.get(gid, "") for gid in item_ids},
            "flags": " ".join(self.flags), "review": "yes" if self.review else "",
            "detail": self.detail, "notebook": self.notebook, "feedback": self.feedback,
            "seconds": f"{self.seconds:.1f}",
        }


def num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.4g}" if x != int(x) else str(int(x))


# ------------------------------------------------------- scores read back
def read_grades(db: Path, chapter: Chapter, student: str = INTERNAL_STUDENT) -> tuple[list[Item], list[str]]:
    """Per-item scores from a sandbox's gradebook copy, validated against the master.

    Only ``auto_score`` counts; each item is clipped to [0, master points];
    items the copy lacks score 0.  Returns (items, notes on anything odd).
    """
    # nbgrader (and SQLAlchemy) take seconds to import: loaded when a gradebook is read, for start-up time
    from nbgrader.api import Gradebook, MissingEntry

    got: dict[tuple[str, str], float | None] = {}
    notes, manual = [], []
    with Gradebook(f"sqlite:///{db}") as gb:
        for name in chapter.notebooks:
            try:
                snb = gb.find_submission_notebook(name, chapter.id, student)
            except MissingEntry:
                notes.append(f"no grades for {name}.ipynb")
                continue
            for g in snb.grades:
                got[(name, g.name)] = g.auto_score
                if g.manual_score is not None:
                    manual.append(g.name)
    if manual:
        notes.append(f"ignored manual score(s) on {', '.join(sorted(manual))} (written by the submission?)")
    items = []
    for ref in chapter.items:
        if ref.manual:  # a TA's to grade: whatever the copy says about it is not used
            items.append(Item(ref.grade_id, 0.0, ref.max_score, ref.notebook, True, "pending"))
            continue
        raw = got.get((ref.notebook, ref.grade_id))
        score = min(max(float(raw or 0.0), 0.0), ref.max_score)
        if raw is not None and score != float(raw):
            notes.append(f"clipped {ref.grade_id} from {raw} to {score}")
        items.append(Item(ref.grade_id, score, ref.max_score, ref.notebook))
    return items, notes


# ------------------------------------------------------------------ output
def item_columns(rows: list[Row], chapters: dict[str, Chapter]) -> list[str]:
    """The per-item columns of ``grades.csv``: the masters' grade ids in chapter order, then any other."""
    ids: list[str] = []
    for aid in sorted(chapters):
        ids += [i.grade_id for i in chapters[aid].items if i.grade_id not in ids]
    for row in rows:
        ids += [i.grade_id for i in row.items if i.grade_id not in ids]
    return ids


def write_outputs(rows: list[Row], unmapped: list[Unmapped], out: Path, item_ids: list[str]) -> None:
    """Write ``grades.csv``, ``items.csv`` and ``unmapped.csv`` to OUT."""
    out.mkdir(parents=True, exist_ok=True)
    reserved = {"student", "name", "email", "assignment", "status", "score", "max_score", "flags",
                "review", "detail", "notebook", "feedback", "seconds"}
    item_ids = [i for i in item_ids if i not in reserved]
    columns = ["student", "name", "email", "assignment", "status", "score", "max_score", *item_ids,
               "flags", "review", "detail", "notebook", "feedback", "seconds"]
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for row in rows:
            w.writerow(row.csv_row(item_ids))
    with open(out / "items.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=ITEM_COLUMNS)
        w.writeheader()
        for row in rows:
            for it in row.items:
                w.writerow({"student": row.student, "assignment": row.assignment, "grade_id": it.grade_id,
                            "score": "pending" if it.by == "pending" else num(it.score),
                            "max_score": num(it.max_score), "notebook": it.notebook, "graded_by": it.by})
    with open(out / "unmapped.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "reason"])
        w.writeheader()
        for u in unmapped:
            w.writerow({"path": u.path, "reason": u.reason})


def summary(rows: list[Row], unmapped: list[Unmapped] | None = None) -> str:
    """Counts per status, mean score per chapter and per item, flags, what needs a human look."""
    lines = [f"{len(rows)} row(s)" + (f", {sum(r.cached for r in rows)} unchanged since the last run (cached)"
                                      if any(r.cached for r in rows) else "")]
    for status in STATUSES:
        n = sum(1 for r in rows if r.status == status)
        if n:
            lines.append(f"  {status:<19} {n}")
    for aid in sorted({r.assignment for r in rows if r.max_score}):
        these = [r for r in rows if r.assignment == aid and r.max_score]
        mean = sum(r.score for r in these) / len(these)
        graded = [r for r in these if r.status == "graded"]
        gmean = f", graded only {sum(r.score for r in graded) / len(graded):.2f}" if graded else ""
        lines.append(f"  mean score {aid}: {mean:.2f} / {num(these[0].max_score)} (all rows{gmean})")
        for item in these[0].items:
            waiting = sum(1 for r in these for i in r.items if i.grade_id == item.grade_id and i.by == "pending")
            if item.manual and waiting:
                lines.append(f"    {item.grade_id:<24} written answer: {waiting} pending (a TA grades it) / "
                             f"{num(item.max_score)}")
                continue
            scores = [next((i.score for i in r.items if i.grade_id == item.grade_id), 0.0) for r in these]
            lines.append(f"    {item.grade_id:<24} {sum(scores) / len(scores):.2f} / {num(item.max_score)}")
    counts: dict[str, int] = {}
    for r in rows:
        for f in r.flags:
            counts[f] = counts.get(f, 0) + 1
    if counts:
        lines.append("flags: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    review = [r for r in rows if r.review and r.status != "missing"]
    if review:
        lines.append(f"{len(review)} need(s) a human look:")
        lines += [f"  {r.student}/{r.assignment or '?'}: {r.status}"
                  f"{' [' + ' '.join(r.flags) + ']' if r.flags else ''}: {r.detail[:300]}" for r in review]
    missing = [r for r in rows if r.status == "missing"]
    if missing:
        lines.append(f"{len(missing)} missing: " + ", ".join(f"{r.student}/{r.assignment or '?'}" for r in missing[:30])
                     + (" ..." if len(missing) > 30 else ""))
    if unmapped:
        lines.append(f"{len(unmapped)} file(s) could not be mapped to a student and chapter (unmapped.csv):")
        lines += [f"  {u.path}: {u.reason}" for u in unmapped[:30]]
        if len(unmapped) > 30:
            lines.append("  ...")
    return "\n".join(lines)


def flag_slow(rows: list[Row]) -> None:
    """Heavy work: a graded row far slower than its chapter's median gets the ``slow`` flag."""
    for aid in {r.assignment for r in rows}:
        times = [r.seconds for r in rows if r.assignment == aid and r.status == "graded"]
        if len(times) < 5:
            continue
        median = statistics.median(times)
        for r in rows:
            if r.assignment == aid and r.status == "graded" and r.seconds > max(3 * median, median + 30):
                r.flag("slow")
                r.review = True
                r.detail += f"; took {r.seconds:.0f} s, the class's median is {median:.0f} s (heavy work?)"
