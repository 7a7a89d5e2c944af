"""The project document without Qt: versions and migrations (on files earlier versions wrote),
clear errors, relative paths, atomic saves."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from engine.errors import InputError
from gating.simulate import whole_blood_template
from gating.strategy import GatingStrategy
from study.project import SECTIONS, VERSION, ProjectDocument, migrate, write_project_file

OLD = Path(__file__).resolve().parents[1] / "data" / "projects"


def test_every_committed_old_project_opens_with_its_content_kept(tmp_path):
    files = sorted(OLD.glob("*.fmsproj"))
    assert [f.name for f in files] == ["v0_early.fmsproj", "v1_demo.fmsproj"]
    for f in files:
        raw = json.loads(f.read_text(encoding="utf-8"))
        shutil.copy(f, tmp_path / f.name)
        doc = ProjectDocument.load(tmp_path / f.name)
        assert doc.data["version"] == VERSION and set(SECTIONS) <= set(doc.data)
        for name, value in raw.items():  # nothing the old file held is lost or changed
            if name != "version":
                assert doc.data[name] == value, (f.name, name)
        assert doc.fcs_paths() == [(tmp_path / p).resolve() for p in raw["fcs_files"]]
    v0 = ProjectDocument.load(tmp_path / "v0_early.fmsproj")
    assert v0.section("dafi") == {} and v0.section("analysis") == {"trim": 0.5}
    v1 = ProjectDocument.load(tmp_path / "v1_demo.fmsproj")
    assert GatingStrategy.from_dict(v1.section("strategy")) == whole_blood_template()


def test_migrations_run_in_order_and_newer_or_foreign_files_are_refused(tmp_path):
    assert migrate({"format": "fastmix-studio-project"})["version"] == VERSION
    with pytest.raises(InputError, match="version 99 was written by a newer FastMix Studio"):
        migrate({"format": "fastmix-studio-project", "version": 99}, file="newer.fmsproj")
    with pytest.raises(InputError, match=r"x.fmsproj: not a FastMix Studio project \(format is 'something'"):
        migrate({"format": "something", "version": 1}, file="x.fmsproj")
    with pytest.raises(InputError, match="section 'study' must be a JSON object"):
        migrate({"format": "fastmix-studio-project", "version": 1, "study": []})
    bad = tmp_path / "bad.fmsproj"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.fmsproj: not valid JSON \(line 1"):
        ProjectDocument.load(bad)


def test_save_as_rebases_relative_paths_and_round_trips(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    doc = ProjectDocument()
    doc.set_section("fcs_files", doc.new_fcs_entries([data / "a.fcs", data / "a.fcs", data / "b.fcs"]))
    doc.set_section("study", {"sheet_path": str(data / "sheet.csv"), "nested": [{"expression_file": str(data / "e.csv")}]})
    first = doc.save(tmp_path / "one" / "p.fmsproj")
    assert doc.data["fcs_files"] == ["../data/a.fcs", "../data/b.fcs"]
    assert doc.section("study") == {"sheet_path": "../data/sheet.csv", "nested": [{"expression_file": "../data/e.csv"}]}
    second = doc.save(tmp_path / "p2.fmsproj")
    assert doc.data["fcs_files"] == ["data/a.fcs", "data/b.fcs"]
    again = ProjectDocument.load(second)
    assert again.data == doc.data and again.fcs_paths() == [data / "a.fcs", data / "b.fcs"]
    assert json.loads(first.read_text())["fcs_files"] == ["../data/a.fcs", "../data/b.fcs"]
    with pytest.raises(TypeError, match="cannot store a object"):
        doc.set_section("analysis", {"x": object()})


def test_partial_write_is_never_seen(tmp_path, monkeypatch):
    target = tmp_path / "p.fmsproj"
    write_project_file({"a": 1}, target)
    real_fsync = os.fsync

    def crash(fd):
        real_fsync(fd)
        raise KeyboardInterrupt  # the process "dies" after the temp file is written

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        write_project_file({"a": 2, "big": list(range(1000))}, target)
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["p.fmsproj"]


def test_recovery_file_carries_its_project(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMIX_STUDIO_DATA", str(tmp_path / "userdata"))
    doc = ProjectDocument()
    doc.set_section("analysis", {"trim": 0.7})
    rec = doc.write_recovery()
    assert rec.parent == tmp_path / "userdata" / "recovery"
    data, project = ProjectDocument.read_recovery(rec)
    assert data["analysis"] == {"trim": 0.7} and project is None and "recovery" not in data
    doc.save(tmp_path / "p.fmsproj")
    rec = doc.write_recovery()
    assert rec == tmp_path / "p.fmsproj.recovery"
    assert ProjectDocument.read_recovery(rec)[1] == tmp_path / "p.fmsproj"
