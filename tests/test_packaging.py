"""The task YAMLs live in the top-level tasks/ folder: the wheel ships them, and an editable install and a plain
PYTHONPATH=<checkout> import both read them from the checkout. Each check imports longeval in a fresh interpreter
from the install under test (the test process's own longeval says nothing about another install)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Prints where longeval and its tasks came from. The environment may hold an editable install of another
# checkout; its import hook (and its hook module, whose name an editable install of this checkout reuses) is
# dropped so that only the install under test can answer.
PROBE = """
import json, sys
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
for name in [m for m in sys.modules if m.startswith("__editable__")]:
    del sys.modules[name]
{setup}
import longeval, longeval.tasks as t
print(json.dumps({{"package": longeval.__file__, "tasks_dir": str(t.builtin_tasks_dir()),
                  "tasks": len(t.all_tasks()), "suites": sorted(t.suites()),
                  "samsum": [list(t.get_task("samsum").stop), t.get_task("samsum").min_new_tokens]}}))
"""


def probe(setup: str, cwd: Path, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.format(setup=setup)], cwd=cwd, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": "", **(env or {})})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check_registry(found: dict, package_root: Path, tasks_dir: Path) -> None:
    assert Path(found["package"]).resolve().is_relative_to(package_root.resolve()), found
    assert Path(found["tasks_dir"]).resolve() == tasks_dir.resolve(), found
    # LongBench(-E), the two passkey tasks, the four LongBench v2 tasks and the 13 RULER tasks
    assert found["tasks"] == 34 + 2 + 4 + 13 and "paper12" in found["suites"] and "longbench-v2" in found["suites"]
    assert "passkey" in found["suites"] and found["samsum"] == [["\n"], 1]


def source_copy(tmp_path: Path) -> Path:
    """The files a clone has that a build reads (a copy, so that builds write nothing into the checkout)."""
    copy = tmp_path / "src"
    for name in ("longeval", "tasks"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    return copy


def build(hook: str, src: Path, dist: Path) -> Path:
    """The wheel that setuptools' PEP 517 backend `hook` (build_wheel, build_editable) builds from `src` into
    `dist`, called in a fresh interpreter: what `pip wheel --no-build-isolation` calls, without pip's own start-up
    (most of the time pip took)."""
    out = subprocess.run([sys.executable, "-c", f"import sys; from setuptools import build_meta as b; "
                          f"print(b.{hook}(sys.argv[1]))", str(dist)], cwd=src, capture_output=True, text=True,
                         check=True)
    return dist / out.stdout.strip().splitlines()[-1]


def test_wheel_ships_every_package_and_task_file_and_reads_them(tmp_path):
    src = source_copy(tmp_path)
    wheel = build("build_wheel", src, tmp_path / "dist")
    assert wheel.name.startswith("longeval-") and wheel.suffix == ".whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped_tasks = {n.removeprefix("longeval/_tasks/") for n in names if n.startswith("longeval/_tasks/")}
    assert shipped_tasks == {p.relative_to(ROOT / "tasks").as_posix() for p in (ROOT / "tasks").rglob("*.yaml")}
    # pyproject lists packages by hand (the tasks/ mapping needs it): every module of longeval/ must be in it.
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "longeval").rglob("*.py")}
    missing = sorted({m.rsplit("/", 1)[0].replace("/", ".") for m in modules - names})
    assert not missing, f"add {', '.join(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert "longeval/published/paper_tables.yaml" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    found = probe(f"sys.path.insert(0, {str(site)!r})", cwd=tmp_path)
    check_registry(found, site, site / "longeval" / "_tasks")


def test_editable_install_reads_the_checkouts_tasks_folder(tmp_path):
    src = source_copy(tmp_path)
    wheel = build("build_editable", src, tmp_path / "dist")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert not (site / "longeval").exists()  # an editable install points at the checkout, copies nothing
    # First on sys.path, so that its .pth imports its own hook module, not the environment's of the same name.
    found = probe(f"import site; sys.path.insert(0, {str(site)!r}); site.addsitedir({str(site)!r})", cwd=tmp_path)
    check_registry(found, src / "longeval", src / "tasks")


def test_pythonpath_import_reads_the_checkouts_tasks_folder(tmp_path):
    found = probe("", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    check_registry(found, ROOT / "longeval", ROOT / "tasks")
