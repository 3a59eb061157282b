"""What the website must never contain, and a scan of a built site for it.

:func:`secrets` lists, for every chapter:

- the **distinctive lines of every solution**: cells marked ``solution: true`` in the solutions
  notebook (code and written answers) and every ``### BEGIN SOLUTION`` block;
- every **hidden test** line (``### BEGIN HIDDEN TESTS`` blocks);
- every **accepted quiz and blank answer**, read from the hidden tests (``normalise_choice(answer_q1)
  == "b"``, ``normalise_text(answer_blank) in {...}``) and the solution answer cells
  (``answer_q1 = "b"``), as the answer given to its variable (``answer_q1 = "b"``, ``answer_q1 == 'b'``,
  any quotes or spacing). A one-letter choice or a common word alone is no secret (the letter ``b`` and
  the word "distinct" are on every page); what gives the answer away is the pair.

A line is *distinctive* when, after :func:`normalise` (whitespace collapsed, markdown emphasis and
backticks dropped), it has at least :data:`MIN_CHARS` characters and occurs in no learner notebook
of the course (a line one chapter shows openly, another may solve with: it is public either way). So ``pass``, ``return x``, ``### END SOLUTION`` or a line the chapter also
shows in a hint or in an unchanged cell are not secrets; ``return z.abs().sum(dim=1).mean()`` is.
The threshold: the shortest solution lines that say something (``z.clamp(min=0)``, 14 characters)
stay in, and the noise lines (``else:``, ``return out``, ``model.eval()``) fall below it or occur in
the learner's notebook anyway.

:func:`scan` reads every file of a build (HTML, JS, JSON, text, notebooks, search index; any file
that decodes as UTF-8) in three views: as is, with HTML tags removed and entities decoded (syntax
highlighting splits a line into many ``<span>`` elements), and with JSON/JS string escapes decoded,
each normalised as above, and reports each secret found. Answers are per chapter (``answer_q1`` is
in every chapter, with different answers), so a chapter's answers are looked for in every file but the
other chapters' pages (``<other id>.html``). An answer the learner's notebook itself gives away is
no secret the site can keep: :func:`course_giveaways` lists those, for their own test.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

#: Shortest normalised line that counts as a distinctive solution or hidden-test line.
MIN_CHARS = 12
SOLUTION_BLOCK = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION", re.M | re.S)
HIDDEN_BLOCK = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS", re.M | re.S)
_CHOICE = re.compile(r"normalise_choice\(\s*(\w+)\s*\)\s*==\s*([\"'])(.+?)\2")
_TEXT_SET = re.compile(r"normalise_text\(\s*(\w+)\s*\)\s*in\s*[\{\[\(](.*?)[\}\]\)]", re.S)
_TEXT_EQ = re.compile(r"normalise_text\(\s*(\w+)\s*\)\s*==\s*([\"'])(.+?)\2")
_ASSIGN = re.compile(r"^[ \t]*((?:answer|blank)_\w+)\s*(?::[^=\n]*)?=\s*([\"'])(.+?)\2", re.M)
_STRING = re.compile(r"([\"'])(.*?)\1")


@dataclass(frozen=True)
class Secret:
    chapter: str
    kind: str  # "solution", "hidden test", "answer"
    text: str  # the normalised line, or "variable = answer"
    pattern: str = ""  # a regular expression on normalised text (answers), else empty

    def found_in(self, text: str) -> bool:
        if self.pattern:  # the variable's name first: a plain search, far faster than the pattern
            return self.text.split(" = ", 1)[0] in text and re.search(self.pattern, text) is not None
        return self.text in text


@dataclass(frozen=True)
class Leak:
    file: str
    secret: Secret

    def __str__(self) -> str:
        return f"{self.file}: {self.secret.chapter} {self.secret.kind}: {self.secret.text!r}"


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[*`]", "", text)).strip()


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def answer_pattern(variable: str, answer: str) -> str:
    """``variable`` given ``answer`` (=, ==, :, any quotes, any spacing), on normalised text."""
    quote = r"(?:[\"'\u2018\u2019\u201c\u201d]|\\[\"'])?"
    return rf"\b{re.escape(variable)}\b ?(?:==?|:|\bis\b) ?{quote}{re.escape(normalise(answer))}{quote}(?![\w])"


def accepted_answers(solution_nb) -> dict[str, set[str]]:
    """variable -> accepted answers, from the hidden tests and the solution answer cells."""
    found: dict[str, set[str]] = {}
    for cell in solution_nb.cells:
        src = _source(cell)
        for block in HIDDEN_BLOCK.findall(src):
            for var, _, ans in _CHOICE.findall(block) + _TEXT_EQ.findall(block):
                found.setdefault(var, set()).add(ans)
            for var, items in _TEXT_SET.findall(block):
                found.setdefault(var, set()).update(s for _, s in _STRING.findall(items))
        for block in SOLUTION_BLOCK.findall(src):
            for var, _, ans in _ASSIGN.findall(block):
                found.setdefault(var, set()).add(ans)
    return found


def learner_text(course_nb) -> str:
    return normalise("\n".join(_source(c) for c in course_nb.cells))


def chapter_secrets(chapter: str, solution_nb, course_nb, public: str | None = None) -> list[Secret]:
    """The chapter's secrets; ``public``: the normalised text of every learner notebook of the course
    (default: this chapter's). Answers the chapter's own learner notebook shows are left out."""
    own = learner_text(course_nb)
    learner = own if public is None else public
    learner_lines = {normalise(line) for c in course_nb.cells for line in _source(c).splitlines()}
    out: dict[tuple[str, str], Secret] = {}

    def add_lines(kind: str, text: str) -> None:
        for line in text.splitlines():
            norm = normalise(line)
            if len(norm) < MIN_CHARS or norm in learner_lines or norm in learner:
                continue
            if re.fullmatch(r"#+ ?(BEGIN|END) (SOLUTION|HIDDEN TESTS)", norm):
                continue
            out.setdefault((kind, norm), Secret(chapter, kind, norm))

    for cell in solution_nb.cells:
        src = _source(cell)
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            add_lines("solution", src)
        for block in SOLUTION_BLOCK.findall(src):
            add_lines("solution", block)
        for block in HIDDEN_BLOCK.findall(src):
            add_lines("hidden test", block)
    for var, answers in sorted(accepted_answers(solution_nb).items()):
        for ans in sorted(answers):
            secret = Secret(chapter, "answer", f"{var} = {ans!r}", answer_pattern(var, ans))
            if not secret.found_in(own):
                out.setdefault(("answer", secret.text), secret)
    return list(out.values())


def secrets(root: Path) -> list[Secret]:
    """Every secret of every chapter of the course at ``root`` (solutions/ and course/)."""
    from aecourse.release import chapter_ids

    notebooks = {cid: (nbformat.read(Path(root) / "solutions" / cid / f"{cid}.ipynb", as_version=4),
                       nbformat.read(Path(root) / "course" / cid / f"{cid}.ipynb", as_version=4))
                 for cid in chapter_ids(root)}
    public = "\n".join(learner_text(course) for _, course in notebooks.values())
    return [s for cid, (sol, course) in notebooks.items() for s in chapter_secrets(cid, sol, course, public)]


def course_giveaways(root: Path) -> list[Secret]:
    """Accepted answers that a chapter's learner notebook (course/) itself shows, as ``answer_q1 = "b"``."""
    from aecourse.release import chapter_ids

    found = []
    for cid in chapter_ids(root):
        sol = nbformat.read(Path(root) / "solutions" / cid / f"{cid}.ipynb", as_version=4)
        own = learner_text(nbformat.read(Path(root) / "course" / cid / f"{cid}.ipynb", as_version=4))
        for var, answers in sorted(accepted_answers(sol).items()):
            for ans in sorted(answers):
                secret = Secret(cid, "answer", f"{var} = {ans!r}", answer_pattern(var, ans))
                if secret.found_in(own):
                    found.append(secret)
    return found


def _unescape_js(text: str) -> str:
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return text.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"').replace("\\'", "'").replace("\\\\", "\\")


def views(text: str) -> list[str]:
    """The file as is, as rendered text (tags out, entities in), and with string escapes decoded."""
    untagged = html.unescape(re.sub(r"<[^>]*>", "", text))
    return list(dict.fromkeys(normalise(v) for v in (text, untagged, _unescape_js(text), _unescape_js(untagged))))


def scan(folder: Path, secrets_: list[Secret]) -> list[Leak]:
    """Every (file, secret) where a secret occurs in a file under ``folder``."""
    leaks = []
    chapters = {s.chapter for s in secrets_}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # images, fonts: no text to hide an answer in
        if path.suffix in (".ipynb", ".json"):
            try:  # the strings of a notebook or JSON file, as a reader would see them
                text += "\n" + "\n".join(_strings(json.loads(text)))
            except ValueError:
                pass
        seen = views(text)
        for secret in secrets_:
            if secret.kind == "answer" and path.stem in chapters and path.stem != secret.chapter:
                continue  # another chapter's page: its answer_q1 is another question
            if any(secret.found_in(v) for v in seen):
                leaks.append(Leak(str(path.relative_to(folder)), secret))
    return leaks


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        joined = "".join(obj) if all(isinstance(v, str) for v in obj) else None
        return ([joined] if joined is not None else []) + [s for v in obj for s in _strings(v)]
    return []
