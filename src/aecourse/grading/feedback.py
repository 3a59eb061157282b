"""Feedback HTML, made by trusted code from the restored submission and the box's executed notebook.

The box only runs ``nbgrader autograde``; everything a learner takes home is
made here, outside it:

* the **cells** are those of the restored submission the grader wrote into the
  box (locked cells carry the release's text: no hidden tests, no mark
  schemes), never cells the box produced;
* from the box's autograded notebook only the **outputs** (and execution
  counts) of the code cells are taken, matched by position and cell type;
  error outputs of test cells shrink to ``ename: evalue`` (a traceback would
  quote the hidden test that failed), and any output line that repeats a line
  of a hidden test or mark scheme is blanked (a submission can read its
  gradebook copy, which holds the hidden tests nbgrader needs, and print them);
* the **scores** are the grader's own, read from the gradebook and clipped to
  the master's points.

The page is nbgrader's own feedback template, as ``nbgrader generate_feedback``
would write it.
"""

from __future__ import annotations

import copy
import json
import os
import re

from .notebooks import Item, nbg, text_of

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
SCHEME = re.compile(r"=== BEGIN MARK SCHEME ===\n(.*?)=== END MARK SCHEME ===", re.S)
REDACTED = "[grading: a line of the hidden tests was removed here]"
PENDING = "Pending: a TA grades this written answer; its points are not in the score yet."


def secret_lines(source_nb: dict) -> set[str]:
    """Lines of the hidden tests and mark schemes of a source notebook (stripped, 6+ characters)."""
    lines = set()
    for cell in source_nb.get("cells", []):
        for pattern in (HIDDEN, SCHEME):
            for block in pattern.findall(text_of(cell)):
                lines |= {ln.strip() for ln in block.splitlines() if len(ln.strip()) >= 6}
    return lines


def _scrub(text, secrets: set[str]):
    if not isinstance(text, str) or not secrets:
        return text
    out = []
    for line in text.split("\n"):
        out.append(REDACTED if any(s in line for s in secrets) else line)
    return "\n".join(out)


def _scrub_output(out: dict, secrets: set[str], test_cell: bool) -> dict | None:
    if not isinstance(out, dict) or not isinstance(out.get("output_type"), str):
        return None
    out = copy.deepcopy(out)
    kind = out["output_type"]
    if kind == "error":
        line = str(out.get("ename") or "Error") + (f": {out['evalue']}" if out.get("evalue") else "")
        out["ename"], out["evalue"] = _scrub(str(out.get("ename") or "Error"), secrets), _scrub(str(out.get("evalue") or ""), secrets)
        tb = out.get("traceback") if isinstance(out.get("traceback"), list) else []
        out["traceback"] = [_scrub(line, secrets)] if test_cell else [_scrub(t, secrets) for t in tb if isinstance(t, str)]
    elif kind == "stream":
        out["text"] = _scrub(text_of({"source": out.get("text", "")}), secrets)
        out["name"] = out.get("name") if out.get("name") in ("stdout", "stderr") else "stdout"
    elif kind in ("display_data", "execute_result"):
        data = out.get("data") if isinstance(out.get("data"), dict) else {}
        out["data"] = {k: (_scrub(text_of({"source": v}), secrets) if isinstance(v, (str, list)) else v)
                       for k, v in data.items() if isinstance(k, str)}
        out["metadata"] = out.get("metadata") if isinstance(out.get("metadata"), dict) else {}
        if kind == "execute_result":
            out["execution_count"] = out.get("execution_count") if isinstance(out.get("execution_count"), int) else None
    else:
        return None
    return out


def feedback_notebook(restored: dict, executed: dict | None, items: list[Item], secrets: set[str]) -> dict:
    """The notebook shown as feedback: ``restored``'s cells, ``executed``'s outputs, the grader's scores."""
    nb = copy.deepcopy(restored)
    ran = executed.get("cells") if isinstance(executed, dict) and isinstance(executed.get("cells"), list) else []
    scores = {i.grade_id: i for i in items}
    for index, cell in enumerate(nb.get("cells", [])):
        meta = nbg(cell)
        if cell.get("cell_type") == "code":
            other = ran[index] if index < len(ran) and isinstance(ran[index], dict) else {}
            outs = other.get("outputs") if other.get("cell_type") == "code" and isinstance(other.get("outputs"), list) else []
            test_cell = bool(meta.get("grade")) and not meta.get("solution")
            cell["outputs"] = [o for o in (_scrub_output(o, secrets, test_cell) for o in outs) if o is not None]
            count = other.get("execution_count")
            cell["execution_count"] = count if isinstance(count, int) and not isinstance(count, bool) else None
        gid = meta.get("grade_id")
        if meta.get("grade") or meta.get("task"):
            item = scores.get(gid)
            meta["score"] = item.score if item else 0.0
            meta["points"] = item.max_score if item else float(meta.get("points") or 0)
            if item is not None and item.by == "pending":
                meta["comment"] = PENDING
        if meta.get("solution") or meta.get("task"):
            meta.setdefault("comment", None)
    return nb


def render_html(nb: dict, notebook: str, assignment: str, score: float, max_score: float) -> str:
    """nbgrader's feedback page for ``nb`` (as ``generate_feedback`` makes it), in memory."""
    import nbformat
    import nbgrader
    from nbconvert.exporters import HTMLExporter
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from traitlets.config import Config

    base = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")
    cfg = Config()
    cfg.HTMLExporter.template_name = "feedback"
    cfg.HTMLExporter.extra_template_basedirs = [os.path.join(base, "templates")]
    cfg.HTMLExporter.extra_template_paths = [os.path.join(base, "static", "node_modules", "bootstrap", "dist", "css")]
    exporter = HTMLExporter(config=cfg)
    exporter.register_preprocessor(CSSHTMLHeaderPreprocessor(), enabled=True)
    node = nbformat.reads(json.dumps(nb), as_version=4)  # joins the on-disk line lists
    resources = {"nbgrader": {"notebook": notebook, "assignment": assignment, "student": "student",
                              "score": score, "max_score": max_score, "late_penalty": 0}}
    html, _ = exporter.from_notebook_node(node, resources=resources)
    return html
