"""Results folders: whole or nothing, never another run's unasked, one run at a time, no symlinks out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stalkrisk.errors import OutputFolderError
from stalkrisk.outputs.folder import building, private_folder


def _run_into(out: Path, files: dict[str, str], **kw) -> None:
    with building(out, **kw) as work:
        for name, text in files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(text)


def test_a_new_folder_appears_whole(tmp_path):
    out = tmp_path / "results"
    _run_into(out, {"scores.csv": "a", "audit.json": "{}"})
    assert sorted(p.name for p in out.iterdir()) == ["audit.json", "scores.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no lock, no building folder left


def test_another_run_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "results"
    _run_into(out, {"scores.csv": "first", "review/cases/a.html": "old page", "audit.json": "{}"})
    with pytest.raises(OutputFolderError, match="holds another scoring run; pass --overwrite"):
        _run_into(out, {"scores.csv": "second"})
    assert (out / "scores.csv").read_text() == "first"
    _run_into(out, {"scores.csv": "second", "audit.json": "{}"}, overwrite=True)
    # the whole folder is replaced: no page of the old run survives a run without pages
    assert sorted(p.name for p in out.iterdir()) == ["audit.json", "scores.csv"]


def test_a_folder_of_other_files_is_never_replaced(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    for overwrite in (False, True):
        with pytest.raises(OutputFolderError, match="holds no stalkrisk run"):
            _run_into(out, {"scores.csv": "x"}, overwrite=overwrite)
    assert (out / "notes.txt").read_text() == "keep"


def test_a_failed_run_leaves_the_old_one_untouched(tmp_path):
    out = tmp_path / "results"
    _run_into(out, {"scores.csv": "first", "audit.json": "{}"})
    with pytest.raises(RuntimeError):
        with building(out, overwrite=True) as work:
            (work / "scores.csv").write_text("half")
            raise RuntimeError("killed half way")
    assert (out / "scores.csv").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_second_run_into_the_same_folder_refuses_at_once(tmp_path):
    out = tmp_path / "results"
    with building(out) as work:
        (work / "scores.csv").write_text("first")
        started = time.perf_counter()
        with pytest.raises(OutputFolderError, match="another stalkrisk run is writing to it now"):
            _run_into(out, {"scores.csv": "second"})
        assert time.perf_counter() - started < 1
    assert (out / "scores.csv").read_text() == "first"


def test_symlinks_are_never_followed_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(outside)
    with pytest.raises(OutputFolderError, match="symbolic link"):
        _run_into(link, {"scores.csv": "x"})
    out = tmp_path / "results"
    _run_into(out, {"scores.csv": "first", "audit.json": "{}"})
    (out / "review").symlink_to(outside)  # a `review` symlink planted in a results folder
    _run_into(out, {"scores.csv": "second", "audit.json": "{}", "review/index.html": "new"}, overwrite=True)
    assert (outside / "precious.txt").read_text() == "keep" and not (outside / "index.html").exists()
    assert not (out / "review").is_symlink() and (out / "review" / "index.html").read_text() == "new"


def test_unwritable_or_file_targets_are_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputFolderError, match="is a file"):
        _run_into(tmp_path / "afile", {})
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(OutputFolderError, match="cannot"):
            _run_into(locked / "results", {})
    finally:
        locked.chmod(0o700)


KILLED = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from stalkrisk.outputs.folder import building
    out = Path(sys.argv[1])
    with building(out, overwrite=True) as work:
        (work / ".stalkrisk-parts-x").mkdir()
        (work / ".stalkrisk-parts-x" / "cases-0.arrow").write_bytes(b"case data" * 1000)
        (work / "scores.csv").write_text("half")
        print("ready", flush=True)
        time.sleep(60)
""")


def test_a_killed_run_leaves_nothing_complete_and_the_next_run_cleans_up(tmp_path):
    out = tmp_path / "results"
    _run_into(out, {"scores.csv": "first", "audit.json": "{}"})
    (out / ".stalkrisk-parts-old").mkdir()  # what a killed run of an older version left in place
    (out / ".stalkrisk-parts-old" / "part.arrow").write_bytes(b"case data")
    (out / ".scores.csv.abc.partial").write_text("half")
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(out)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert (out / "scores.csv").read_text() == "first"  # the old run, whole
    assert any(".stalkrisk-building-" in p.name for p in tmp_path.iterdir())
    _run_into(out, {"scores.csv": "next", "audit.json": "{}"}, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    assert sorted(p.name for p in out.iterdir()) == ["audit.json", "scores.csv"]


def test_a_killed_verify_leaves_its_case_data_beside_the_results_and_the_next_removes_it(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    code = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from stalkrisk.outputs.folder import private_folder
        with private_folder(Path(sys.argv[1]), "stalkrisk-verify") as work:
            (work / "rerun.csv").write_text("case data")
            print(work, flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", code, str(results)], stdout=subprocess.PIPE, text=True)
    left = Path(child.stdout.readline().strip())
    assert left.parent == tmp_path and left.name.startswith(".results.stalkrisk-verify-")
    with private_folder(results, "stalkrisk-verify") as mine:  # a verify running beside it keeps its folder
        assert left.is_dir() and mine != left
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert left.is_dir()
    with private_folder(results, "stalkrisk-verify"):
        assert not left.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_only_an_older_versions_leftovers_count_as_empty(tmp_path):
    out = tmp_path / "results"
    (out / ".stalkrisk-parts-abc").mkdir(parents=True)
    (out / ".scores.csv.x1.partial").write_text("half")
    _run_into(out, {"scores.csv": "new", "audit.json": "{}"})
    assert sorted(p.name for p in out.iterdir()) == ["audit.json", "scores.csv"]
