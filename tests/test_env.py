import io

from aecourse.env import _version_tuple, report, versions


def test_versions_lists_the_course_packages():
    found = versions()
    for name in ("python", "torch", "numpy", "ipywidgets", "jupyterlab"):
        assert found[name], f"{name} should be installed in the test environment"


def test_report_prints_table_and_device():
    out = io.StringIO()
    problems = report(file=out)
    text = out.getvalue()
    assert problems == []
    assert "device" in text and "environment ready" in text


def test_report_does_without_jupyterlab_but_not_without_tqdm(monkeypatch):
    """On Colab another front end runs the notebook: a missing JupyterLab is no problem, a missing library is."""
    import aecourse.env

    real = aecourse.env.metadata.version
    gone = {"jupyterlab"}

    def version(name):
        if name in gone:
            raise aecourse.env.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(aecourse.env.metadata, "version", version)
    out = io.StringIO()
    assert report(file=out) == []
    assert "another front end" in out.getvalue()
    gone.add("tqdm")
    assert report(file=io.StringIO()) == ["tqdm is not installed: run `make lab` (or pip install -e .) again"]


def test_version_tuple():
    assert _version_tuple("2.13.0+cpu") == (2, 13, 0)
    assert _version_tuple("4.2.0rc1") == (4, 2, 0)
    assert _version_tuple("8.1") < _version_tuple("8.10")


def test_report_survives_a_broken_torch(monkeypatch):
    import aecourse.train

    def broken(*args, **kwargs):
        raise OSError("libtorch_cpu.so: cannot open shared object file")

    monkeypatch.setattr(aecourse.train, "default_device", broken)
    out = io.StringIO()
    problems = report(file=out)
    assert any("torch does not work" in p and "make lab" in p for p in problems)
    assert "BROKEN" in out.getvalue()


def test_notebook_cells_wait_longer_for_output_than_nbvals_five_seconds(repo_root):
    """The root conftest raises nbval's 5-second output wait, so a busy CI machine does not fail a chapter."""
    import importlib.util

    from nbval.plugin import IPyNbCell

    spec = importlib.util.spec_from_file_location("root_conftest", repo_root / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    cell = IPyNbCell.__new__(IPyNbCell)  # what nbval collects, without a kernel behind it
    cell.output_timeout = 5
    other = type("OtherItem", (), {"output_timeout": 5})()
    conftest.pytest_collection_modifyitems([cell, other])
    assert cell.output_timeout == conftest.NBVAL_OUTPUT_TIMEOUT >= 60
    assert other.output_timeout == 5  # only notebook cells are touched
