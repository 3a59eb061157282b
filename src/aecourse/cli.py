"""The ``aecourse`` command: open the course, see where you stand, rebuild the release, grade, check the environment.

Each command imports the modules it needs when it runs, so that ``aecourse --help``
and the light commands start without loading torch, nbgrader or the grader.  These
imports inside functions are for start-up time only: nothing imports ``cli``, so
none of them breaks an import cycle.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

EXAMPLES = """\
examples:
  aecourse lab                                 open your copy of the course in JupyterLab
  aecourse info                                versions and compute device
  aecourse progress                            exercises and points whose public checks passed, per chapter
  aecourse release --check                     is course/ in sync with solutions/?
  aecourse grade submissions/ --out graded/    grade a class (folder or LMS zip)
  aecourse export gradescope 01-dense          a Gradescope autograder zip (or: export k8s)
  aecourse grades --gradebook graded/gradebook --students roster.csv --format canvas --out canvas.csv
  aecourse zoo list                            the pretrained models and their scores
"""

Fmt = argparse.RawDescriptionHelpFormatter


def _version() -> str:
    try:
        return metadata.version("aecourse")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aecourse",
        description="A Jupyter course on dense, sparse and disentangled autoencoders.\n"
                    "Learners open the notebooks; instructors rebuild the release and grade.",
        epilog=EXAMPLES, formatter_class=Fmt)
    parser.add_argument("--version", action="version", version=f"aecourse {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    p = sub.add_parser(
        "lab", help="open JupyterLab on your own working copy of the course (~/aecourse-work)", formatter_class=Fmt,
        description="Start JupyterLab on your working copy of the course: ~/aecourse-work by default "
                    "(--work DIR or $AECOURSE_WORK choose another), made from the repository's course/ on first "
                    "use, so your answers never change the repository. Later runs add new chapters and never "
                    "overwrite a file you changed; when the course has a newer version of one, --update moves "
                    "your answers into it (the old file is kept under backups/). Extra arguments go to "
                    "`jupyter lab`.",
        epilog="examples:\n  aecourse lab --no-browser --port 8899\n  aecourse lab --update\n"
               "  aecourse lab --work ~/autoencoders-2026")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser (remote machines, containers)")
    p.add_argument("--work", type=Path, metavar="DIR",
                   help="your working copy (default: $AECOURSE_WORK, else ~/aecourse-work)")
    p.add_argument("--update", action="store_true",
                   help="move your answers into the newer course version of the notebooks you changed")
    p.add_argument("--root", type=Path, help="course repository (default: found from the current folder)")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser(
        "progress", help="where you stand: exercises and points whose public checks passed, per chapter",
        formatter_class=Fmt,
        description="Every public check that passes notes it in a small file on this computer (nothing is sent "
                    "anywhere, and nothing is noted while a notebook is graded). This prints, per chapter, the "
                    "exercises and points whose public checks have passed, of the chapter's totals (read from the "
                    "notebooks' nbgrader metadata), and when the last one passed. Named chapters are shown "
                    "exercise by exercise. Written answers, graded by a TA, have no public check and are listed "
                    "apart. The record: $AECOURSE_DATA_HOME/standing.json, else in your user data folder "
                    "(~/.local/share/aecourse on Linux, $XDG_DATA_HOME/aecourse when that is set).",
        epilog="examples:\n  aecourse progress                   every chapter\n"
               "  aecourse progress 01-dense          each exercise of one chapter\n"
               "  aecourse progress --json            the same as JSON\n"
               "  aecourse progress --clear           forget every recorded pass\n"
               "  aecourse progress 01-dense --clear  forget one chapter's")
    p.add_argument("chapters", nargs="*", metavar="CHAPTER",
                   help="chapter ids, shown exercise by exercise (default: a table of all)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--clear", action="store_true",
                   help="forget the recorded passes: of the CHAPTERs named, else all (removes the file)")
    p.add_argument("--root", type=Path,
                   help="course repository whose chapters give the totals (default: found from the current "
                        "folder or the package, else your working copy)")
    p.set_defaults(func=cmd_progress)

    p = sub.add_parser(
        "release", help="regenerate course/ from solutions/ (nbgrader generate_assignment)",
        formatter_class=Fmt,
        description="Rebuild the learner notebooks in course/ from the nbgrader sources in solutions/ "
                    "(solutions and hidden tests removed). Only changed files are written; course/<id> "
                    "folders whose source is gone are removed.",
        epilog="examples:\n  aecourse release            rebuild every chapter\n"
               "  aecourse release 01-dense   rebuild one chapter\n"
               "  aecourse release --check    exit 1 and show the differences if course/ is stale (CI)")
    p.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapter ids (default: all in solutions/)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if course/ differs from a fresh release")
    p.add_argument("--root", type=Path, help="course repository (default: found from the current folder)")
    p.set_defaults(func=cmd_release)

    # lazy for start-up time (nothing imports cli: not a cycle)
    from .grading.intake import DEFAULT_PATTERN

    p = sub.add_parser(
        "grade", help="grade a class: grade table with per-item scores and flags, feedback, summary",
        formatter_class=Fmt,
        description="Grade every submission in SUBMISSIONS (a folder or an LMS .zip) laid out either\n"
                    "  <student>/<chapter-id>/<notebook>.ipynb       (folders), or\n"
                    "  <student>_<anything>_<notebook>.ipynb        (one file per student, see --pattern).\n"
                    "Each submission runs in its own sandbox (own copy, own gradebook copy, no network, limits on "
                    "time, memory and output); a broken or hostile one never stops the batch. Writes OUT/grades.csv "
                    "(status, score, per-item scores, flags), OUT/items.csv, OUT/unmapped.csv and "
                    "OUT/feedback/<student>/<chapter-id>/<notebook>.html. Re-running grades only new or changed "
                    "submissions. With --gradebook, also an nbgrader course directory for formgrader, where TAs grade the "
                    "written answers (then `aecourse grades`, `aecourse feedback`). Statuses and flags: "
                    "docs/instructors.md, section 'Grading a class'.",
        epilog="examples:\n"
               "  aecourse grade ~/Downloads/submissions.zip --out graded/ --jobs 2 --students roster.csv\n"
               "  aecourse grade export.zip --out graded/ --chapter 01-dense "
               "--pattern '(?P<student>[^_]+)_.*\\.ipynb'")
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS", nargs="?",
                   help="folder or .zip of <student>/<chapter-id>/ folders or <student>_..._<notebook>.ipynb files")
    p.add_argument("--collect", type=Path, metavar="DIR",
                   help="instead of SUBMISSIONS: read back the pods' results of `aecourse export k8s --out DIR`")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="where grades.csv, items.csv, unmapped.csv and feedback/ go")
    p.add_argument("--students", type=Path, metavar="CSV",
                   help="roster with a header id,name,email: students without a submission get status 'missing'")
    p.add_argument("--pattern", metavar="REGEX",
                   help="how LMS file names map to students: a regex with (?P<student>...) and optionally "
                        "(?P<notebook>...) or (?P<chapter>...) (default: %(default)s)",
                   default=DEFAULT_PATTERN)
    p.add_argument("--chapter", metavar="ID", help="chapter of files whose name does not say it (one-assignment exports)")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="submissions graded at once (default: 1)")
    p.add_argument("--timeout", type=float, default=600, metavar="S",
                   help="wall-clock seconds per notebook before it is stopped (default: 600)")
    p.add_argument("--cell-timeout", type=int, default=None, metavar="S",
                   help="seconds per cell before it is interrupted (default: nbgrader config, 120)")
    p.add_argument("--memory-limit", type=float, default=4.0, metavar="GB",
                   help="memory per submission, 0 for none (default: 4)")
    p.add_argument("--output-limit", type=float, default=20.0, metavar="MB",
                   help="notebook output kept per submission, a tenth of it per cell (default: 20)")
    p.add_argument("--isolation", choices=["bwrap", "none"], default="bwrap",
                   help="bwrap (default): each submission in a bubblewrap box that sees only its own folder "
                        "and Python; none: no box, for notebooks you trust (warns)")
    p.add_argument("--no-cache", action="store_true", help="grade everything again, even unchanged submissions")
    p.add_argument("--root", type=Path, help="course repository (default: found from the current folder)")
    p.add_argument("--keep", action="store_true", help="keep the grading sandboxes (debugging)")
    p.add_argument("--gradebook", nargs="?", const=True, type=Path, metavar="DIR",
                   help="also write every graded submission into an nbgrader course directory for formgrader "
                        "(default DIR: OUT/gradebook); TAs' scores there are kept across runs")
    p.set_defaults(func=cmd_grade)
    _add_export(sub)
    _add_handback_parsers(sub)

    p = sub.add_parser(
        "zoo", help="list, verify or (re)train the pretrained model zoo", formatter_class=Fmt,
        description="The zoo holds small pretrained VAEs that the chapters load so CPU learners need not wait. "
                    "`zoo train` reproduces them from their recipes (aecourse.zoo.RECIPES), scores the dSprites "
                    "models and rewrites the manifest with sha256s.",
        epilog="examples:\n  aecourse zoo list\n  aecourse zoo verify\n"
               "  aecourse zoo train                         retrain every model into the package (maintainers)\n"
               "  aecourse zoo train dsprites_beta_tcvae --out /tmp/zoo --steps 2000\n"
               "  aecourse zoo train dsprites_ada_gvae --seeds 0 1 2 3 4 --jobs 2   one checkpoint, five seeds' scores")
    p.add_argument("action", choices=["list", "verify", "train"])
    p.add_argument("names", nargs="*", metavar="NAME", help="zoo models (default: all)")
    p.add_argument("--out", type=Path, help="directory for trained checkpoints (default: the package's zoo_weights/)")
    p.add_argument("--steps", type=int, help="override the recipes' step counts (quick tries)")
    p.add_argument("--eval-every", type=int, default=1000, help="steps between MIG evaluations for the curve")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads while training (default 1, as the shipped models were trained: a "
                        "recipe's numbers repeat exactly only with the same thread count; 0 follows the load)")
    p.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                   help="also train these seeds and keep every seed's scores in the manifest (dSprites models; "
                        "only the recipe's own seed is stored as a checkpoint)")
    p.add_argument("--jobs", type=int, default=1,
                   help="with --seeds: train and score this many seeds at once, one process each (same numbers)")
    p.add_argument("--keep-checkpoint", action="store_true",
                   help="with --seeds: keep a model's stored checkpoint if its recipe is unchanged (score it again as "
                        "its seed's run) and train only the other seeds")
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser(
        "info", help="show python/torch/numpy/... versions and the compute device",
        formatter_class=Fmt,
        description="The environment check chapter 00 shows. Exits 1 with a message if a package the "
                    "course needs is missing or too old.",
        epilog="example:\n  aecourse info\n  aecourse info --grading   also require nbgrader (instructors)")
    p.add_argument("--grading", action="store_true", help="also require the grading tools (nbgrader)")
    p.set_defaults(func=cmd_info)
    return parser


def _add_handback_parsers(sub) -> None:
    """``aecourse grades`` and ``aecourse feedback``: the gradebook's TA scores back out, to the LMS."""
    p = sub.add_parser(
        "grades", help="grade tables with TAs' scores and comments, or the Canvas/Moodle import file",
        formatter_class=Fmt,
        description="Read a course directory written by `aecourse grade --gradebook` after TAs graded in "
                    "formgrader. --format table (default): OUT/grades.csv, OUT/items.csv and OUT/feedback/ "
                    "with the TAs' scores (graded_by 'ta', columns auto_score / ta_score / ta_comments). "
                    "--format canvas|moodle|csv: one FILE with a line per roster student and a column per "
                    "chapter, as Canvas's gradebook import or Moodle's CSV grade import take it. "
                    "Formats and roster columns: docs/instructors.md, 'Grades into the LMS'.",
        epilog="examples:\n  aecourse grades --gradebook graded/gradebook --out final/\n"
               "  aecourse grades --gradebook graded/gradebook --students roster.csv --format canvas --out canvas.csv\n"
               "  aecourse grades --gradebook graded/gradebook --students roster.csv --format moodle "
               "--out moodle.csv --missing zero")
    p.add_argument("--gradebook", type=Path, required=True, metavar="DIR", help="the course directory")
    p.add_argument("--out", type=Path, required=True, metavar="PATH",
                   help="a folder (table) or a file (canvas, moodle, csv)")
    p.add_argument("--format", choices=["table", "canvas", "moodle", "csv"], default="table")
    p.add_argument("--students", type=Path, metavar="CSV", help="the roster (required for canvas, moodle, csv)")
    p.add_argument("--missing", choices=["blank", "zero"], default="blank",
                   help="what a roster student without a submission gets (default: blank)")
    p.add_argument("--column", action="append", default=[], metavar="CHAPTER=TITLE",
                   help="name a chapter's column as the LMS does (repeatable)")
    p.set_defaults(func=cmd_grades)

    p = sub.add_parser(
        "feedback", help="feedback pages per student named by LMS id, zipped per chapter; nbgrader's too",
        formatter_class=Fmt,
        description="From a course directory written by `aecourse grade --gradebook`: OUT/<chapter>/<lms id>.html "
                    "(autograded results and TAs' comments, no hidden tests) and OUT/<chapter>-feedback.zip for "
                    "an LMS bulk upload; and `nbgrader generate_feedback` into DIR/feedback/.",
        epilog="example:\n  aecourse feedback --gradebook graded/gradebook --students roster.csv --out handback/")
    p.add_argument("--gradebook", type=Path, required=True, metavar="DIR", help="the course directory")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the pages and zips go")
    p.add_argument("--students", type=Path, metavar="CSV",
                   help="roster: files are named by its lms_id / canvas_id / id_number column, else its id")
    p.add_argument("--no-nbgrader", action="store_true", help="skip nbgrader's generate_feedback")
    p.set_defaults(func=cmd_feedback)


# ---------------------------------------------------------------- commands
def _root(arg: Path | None) -> Path:
    # lazy for start-up time (nothing imports cli: not a cycle)
    from .release import find_root

    return find_root(arg) if arg is not None else find_root()


def cmd_lab(args: argparse.Namespace, extra: list[str]) -> int:
    # lazy for start-up time (nothing imports cli: not a cycle)
    from . import workspace

    root = _root(args.root)
    try:
        work = workspace.work_dir(args.work, course=root / "course")
        report = workspace.sync(root / "course", work)
    except (ValueError, OSError, RuntimeError) as err:  # RuntimeError: Path.home() with no home to find
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(workspace.describe(report, work), flush=True)
    if args.update and report.outdated:
        for done in workspace.update(root / "course", work, report.outdated):
            print(f"  updated {done.path}: {done.answers_kept} answer(s) kept; old file saved as {done.backup}")
            for note in done.notes:
                print(f"    note: {note}")
    elif args.update:
        print("  --update: nothing to do, every file you changed is on the current course version")
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={work}"]
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        cmd.append("--allow-root")  # containers often run as root; Jupyter refuses without it
    cmd += extra
    first = work / "00-setup" / "00-setup.ipynb"
    if first.is_file() and not any(not a.startswith("-") for a in extra):
        cmd.append(str(first))
    print("$ " + " ".join(cmd), flush=True)
    try:
        return subprocess.call(cmd, cwd=work)
    except KeyboardInterrupt:
        return 130


def cmd_progress(args: argparse.Namespace, extra: list[str]) -> int:
    # lazy for start-up time (nothing imports cli: not a cycle)
    import json
    import warnings

    from . import standing

    root = _root(args.root) if args.root is not None else None
    path = standing.record_path()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", standing.StandingWarning)
        try:
            rows = standing.standing(root, chapters=args.chapters or None)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    if args.clear:
        return _clear_progress(args, path)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(standing.as_json(rows, path=path), indent=1))
    elif args.chapters:
        print("\n\n".join(standing.format_chapter(r) for r in rows))
        print(f"\nRecord: {path}" + ("" if path.exists() else " (nothing recorded yet)"))
    else:
        print(standing.format_table(rows, path=path))
    return 0


def _clear_progress(args: argparse.Namespace, path: Path) -> int:
    import json

    from . import standing

    existed = path.exists()
    try:
        removed = standing.clear(args.chapters or None)
    except OSError as err:
        print(f"error: could not clear the progress record {path}: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"record": str(path), "cleared": removed, "chapters": args.chapters or None}))
        return 0
    passes = f"{removed} exercise{'s' if removed != 1 else ''}"
    if args.chapters:
        which = ", ".join(args.chapters)
        print(f"cleared {which}: forgot the passes of {passes} (record: {path})" if removed
              else f"nothing to clear: no passes recorded for {which} (record: {path})")
    elif existed:
        print(f"cleared your progress record: forgot the passes of {passes}; removed {path}" if removed
              else f"cleared your progress record (it held no passes); removed {path}")
    else:
        print(f"nothing to clear: no progress recorded yet ({path})")
    return 0


def cmd_release(args: argparse.Namespace, extra: list[str]) -> int:
    # lazy for start-up time (nothing imports cli: not a cycle)
    from .release import ReleaseError, chapter_ids, diff_release, release

    root = _root(args.root)
    try:
        if args.check:
            problems = diff_release(root)
            if args.chapters:
                problems = [p for p in problems if any(f"course/{c}/" in p for c in args.chapters)]
            if problems:
                print(f"course/ is out of sync with solutions/ ({len(problems)} difference(s)):")
                for line in problems:
                    print(f"  {line}")
                print("run `aecourse release` (or `make release`) and commit course/")
                return 1
            print(f"course/ is in sync with solutions/ ({len(chapter_ids(root))} chapter(s))")
            return 0
        changed = release(root, args.chapters or None)
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in changed:
        print(f"  updated {path.relative_to(root)}")
    print(f"course/ up to date ({len(changed)} file(s) changed)")
    return 0


def cmd_grade(args: argparse.Namespace, extra: list[str]) -> int:
    # lazy for start-up time (nothing imports cli: not a cycle)
    from .grading import IntakeError, grade

    if args.collect is not None:
        return _collect(args)
    if args.submissions is None:
        print("error: SUBMISSIONS (or --collect DIR) is required", file=sys.stderr)
        return 2
    if not args.submissions.exists():
        print(f"error: {args.submissions} does not exist", file=sys.stderr)
        return 2
    if args.jobs < 1 or args.timeout <= 0 or args.memory_limit < 0 or args.output_limit <= 0:
        print("error: --jobs must be >= 1, --timeout > 0, --memory-limit >= 0, --output-limit > 0", file=sys.stderr)
        return 2
    root = _root(args.root)
    try:
        rows = grade(args.submissions, args.out, jobs=args.jobs, timeout=args.timeout,
                     memory_limit=args.memory_limit or None, root=root, cell_timeout=args.cell_timeout,
                     keep=args.keep, students=args.students, pattern=args.pattern, chapter=args.chapter,
                     output_limit=args.output_limit, isolation=args.isolation, cache=not args.no_cache,
                     gradebook=args.gradebook)
    except (IntakeError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out / 'grades.csv'} ({len(rows)} rows), {args.out / 'items.csv'}, "
          f"{args.out / 'unmapped.csv'}, {args.out / 'feedback'}/")
    pending = sum(i.by == "pending" for r in rows for i in r.items)
    if pending:
        print(f"{pending} written answer(s) wait for a TA: grade them in formgrader "
              f"({'run `nbgrader formgrader` in the --gradebook folder' if args.gradebook else 'use --gradebook'}), "
              "then `aecourse grades --gradebook DIR --out FOLDER`")
    return 0


def cmd_grades(args: argparse.Namespace, extra: list[str]) -> int:
    # lazy for start-up time (nothing imports cli: not a cycle)
    from .grading import IntakeError
    from .grading.gradebook import read_back
    from .grading.handback import write_tables
    from .grading.lms import export, read_people

    if args.format == "table":
        out = args.out
        rows = write_tables(args.gradebook, out)
        print(f"wrote {out / 'grades.csv'} ({len(rows)} rows), {out / 'items.csv'}, {out / 'feedback'}/ "
              f"with {sum(i.by == 'ta' for r in rows for i in r.items)} TA score(s); "
              f"{sum(i.by == 'pending' for r in rows for i in r.items)} item(s) still pending")
        return 0
    if args.students is None:
        print(f"error: --format {args.format} needs --students ROSTER", file=sys.stderr)
        return 2
    try:
        people = read_people(args.students)
        columns = dict(c.split("=", 1) for c in args.column)
    except (IntakeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows, comments = read_back(args.gradebook)
    done = export(rows, people, args.format, args.out, missing=args.missing, comments=comments, columns=columns)
    print(f"wrote {done.path} ({done.written} student(s), {args.format})")
    if args.format == "canvas":
        unknown = [p.id for p in people if not any(p.extra.get(k) for k in ("canvas_id", "sis_user_id", "sis_login_id"))]
        if unknown:
            print(f"warning: {len(unknown)} roster student(s) have no canvas_id, sis_user_id or sis_login_id, so "
                  f"Canvas cannot match them: {', '.join(unknown[:20])}", file=sys.stderr)
    for r in done.pending:
        print(f"left blank, written answers not graded yet: {r.student}/{r.assignment}")
    for r in done.unlisted:
        print(f"not in the roster, not exported: {r.student}/{r.assignment} ({r.status}, {r.score:g})")
    return 0


def cmd_feedback(args: argparse.Namespace, extra: list[str]) -> int:
    # lazy for start-up time (nothing imports cli: not a cycle)
    from .grading import IntakeError
    from .grading.handback import package
    from .grading.lms import read_people

    try:
        people = read_people(args.students) if args.students else None
    except IntakeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = package(args.gradebook, args.out, people, nbgrader=not args.no_nbgrader)
    for z in report["zips"]:
        print(f"wrote {z}")
    print(f"{report['files']} feedback page(s)")
    for student, aid in report["unlisted"]:
        print(f"not in the roster, no page: {student}/{aid}")
    if report["nbgrader"]:
        print(f"warning: nbgrader generate_feedback failed: {report['nbgrader']}", file=sys.stderr)
        return 1
    if not args.no_nbgrader:
        print(f"nbgrader's feedback: {args.gradebook / 'feedback'}/")
    return 0


def _collect(args: argparse.Namespace) -> int:
    # lazy for start-up time (nothing imports cli: not a cycle)
    from .grading.k8s import STATE, collect

    if args.submissions is not None or not (args.collect / STATE).is_file():
        print(f"error: --collect takes the folder of `aecourse export k8s` ({args.collect / STATE} is missing) "
              "and no SUBMISSIONS", file=sys.stderr)
        return 2
    try:
        rows = collect(args.collect, args.out, root=_root(args.root))
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out / 'grades.csv'} ({len(rows)} rows), {args.out / 'items.csv'}, "
          f"{args.out / 'unmapped.csv'}, {args.out / 'feedback'}/")
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export", help="grade elsewhere: a Gradescope autograder zip, or a Kubernetes Indexed Job",
        formatter_class=Fmt,
        description="Both run the grading path of `aecourse grade` (restore, sandbox, scores clipped to the "
                    "master gradebook, feedback without hidden tests). See docs/instructors.md, section "
                    "'Grading on Gradescope or Kubernetes'.",
        epilog="examples:\n  aecourse export gradescope 01-dense --out autograder.zip\n"
               "  aecourse export k8s submissions.zip --out k8s/ --image registry.example.edu/aecourse:2026 "
               "--parallelism 50\n  aecourse grade --collect k8s/ --out graded/")
    p.add_argument("target", choices=["gradescope", "k8s"])
    p.add_argument("what", metavar="CHAPTER|SUBMISSIONS", type=Path,
                   help="gradescope: the chapter id; k8s: the submissions folder or zip")
    p.add_argument("--out", type=Path, metavar="PATH",
                   help="gradescope: the zip (default: autograder-CHAPTER.zip); k8s: an empty folder (required)")
    p.add_argument("--image", help="k8s: the grading image (what binder/ builds with repo2docker)")
    p.add_argument("--parallelism", type=int, default=10, metavar="N", help="k8s: pods at once (default: 10)")
    p.add_argument("--cpu", type=float, default=1.0, metavar="N", help="k8s: CPUs per pod (default: 1)")
    p.add_argument("--claim", default="aecourse-grading", metavar="PVC",
                   help="k8s: the PersistentVolumeClaim that holds OUT/pods (default: %(default)s)")
    p.add_argument("--pattern", metavar="REGEX", help="k8s: as for `aecourse grade`")
    p.add_argument("--chapter", metavar="ID", help="k8s: as for `aecourse grade`")
    p.add_argument("--timeout", type=float, default=600, metavar="S", help="seconds per notebook (default: 600)")
    p.add_argument("--cell-timeout", type=int, default=None, metavar="S", help="seconds per cell (default: 120)")
    p.add_argument("--memory-limit", type=float, default=4.0, metavar="GB", help="memory per submission (default: 4)")
    p.add_argument("--output-limit", type=float, default=20.0, metavar="MB", help="output per notebook (default: 20)")
    p.add_argument("--isolation", choices=["bwrap", "none"], default="bwrap",
                   help="gradescope: bwrap (default), or none where the image cannot run bubblewrap (warns)")
    p.add_argument("--root", type=Path, help="course repository (default: found from the current folder)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace, extra: list[str]) -> int:
    # lazy for start-up time (nothing imports cli: not a cycle)
    from .grading.gradescope import export_gradescope
    from .grading.k8s import export_k8s

    root = _root(args.root)
    limits = dict(timeout=args.timeout, memory_limit=args.memory_limit, cell_timeout=args.cell_timeout,
                  output_limit=args.output_limit)
    if args.target == "gradescope":
        if args.isolation == "none":
            print("warning: --isolation none: on Gradescope the submission then runs as root in the same "
                  "container as the grader, with the hidden tests and results.json in reach", file=sys.stderr)
        out = args.out or Path(f"autograder-{args.what}.zip")
        try:
            export_gradescope(root, str(args.what), out, isolation=args.isolation, **limits)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MB): upload it as the autograder of a Gradescope "
              "programming assignment (settings: docs/instructors.md)")
        return 0
    if args.out is None or not args.image:
        print("error: export k8s needs --out DIR and --image IMAGE", file=sys.stderr)
        return 2
    try:
        job = export_k8s(args.what, args.out, image=args.image, parallelism=args.parallelism, root=root,
                         cpu=args.cpu, claim=args.claim, pattern=args.pattern, chapter=args.chapter, **limits)
    except (ValueError, FileExistsError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}/job.json ({job['spec']['completions']} pods), networkpolicy.json, pods/ and "
          f"state.json: copy pods/ into the volume {args.claim}, kubectl apply -f both, then "
          f"`aecourse grade --collect {args.out} --out graded/` (docs/instructors.md)")
    return 0


def cmd_info(args: argparse.Namespace, extra: list[str]) -> int:
    # lazy for start-up time (nothing imports cli: not a cycle)
    from .env import report

    problems = report()
    if args.grading:
        try:
            metadata.version("nbgrader")
        except metadata.PackageNotFoundError:
            problems.append("nbgrader is not installed: pip install -e '.[grade]'")
            print("problem: nbgrader is not installed (needed to grade): pip install -e '.[grade]'")
        else:
            # lazy for start-up time (nothing imports cli: not a cycle)
            from .grading.sandbox import SandboxUnavailable, require_box

            try:
                print(f"grading sandbox: ok (bubblewrap at {require_box()})")
            except SandboxUnavailable as err:
                problems.append(str(err))
                print(f"problem: {err}")
    if problems:
        print(f"aecourse info: {len(problems)} problem(s), see above", file=sys.stderr)
        return 1
    return 0


def cmd_zoo(args: argparse.Namespace, extra: list[str]) -> int:
    # lazy for start-up time (nothing imports cli: not a cycle)
    from . import zoo

    unknown = [n for n in args.names if n not in zoo.RECIPES]
    if unknown:
        print(f"error: unknown zoo model(s) {', '.join(unknown)}; available: {', '.join(zoo.available())}",
              file=sys.stderr)
        return 2
    names = args.names or zoo.available()
    if args.action == "list":
        table = zoo.manifest(args.out)
        for name in names:
            entry, recipe = table.get(name), zoo.RECIPES[name]
            if entry is None:
                print(f"{name:22s} (not trained)  {recipe.description}")
                continue
            scores = entry.get("metrics", {})
            shown = "  ".join(f"{k}={scores[k]:.3f}" for k in ("mig", "factor_vae") if k in scores)
            print(f"{name:22s} {entry['bytes'] / 1e6:5.2f} MB  {entry['train_seconds']:6.0f} s  {shown}  "
                  f"{recipe.description}")
        return 0
    if args.action == "verify":
        results = zoo.verify(args.out)
        bad = {n: r for n, r in results.items() if r != "ok" and n in names}
        for name in names:
            print(f"{name:22s} {results.get(name, 'missing from the manifest')}")
        return 1 if bad or any(n not in results for n in names) else 0
    entries = zoo.build(names, directory=args.out, steps=args.steps, eval_every=args.eval_every,
                        threads=args.threads or None, seeds=args.seeds, jobs=args.jobs,
                        keep_checkpoint=args.keep_checkpoint)
    for name, entry in entries.items():
        scores = ", ".join(f"{k} {v:.3f}" for k, v in entry["metrics"].items())
        print(f"{name}: {entry['train_seconds']:.0f} s, {entry['bytes'] / 1e6:.2f} MB{'; ' + scores if scores else ''}")
        for seed, run in entry.get("seeds", {}).items():
            print(f"  seed {seed}: {run['train_seconds']:.0f} s, MIG {run['metrics']['mig']:.3f}, "
                  f"FactorVAE {run['metrics']['factor_vae']:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args, extra)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
