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
