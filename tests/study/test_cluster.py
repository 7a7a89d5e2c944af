"""Batch gating on a Dask LocalCluster gives what local processes give (the ``cluster`` extra)."""
from __future__ import annotations

import pandas as pd
import pytest

from gating.gatingml import write_gatingml
from gating.simulate import simulate_whole_blood, whole_blood_template, write_fcs
from study.gating_cli import main

pytest.importorskip("distributed", reason='the cluster extra is not installed (pip install -e ".[cluster]")')


@pytest.fixture(scope="module")
def twenty_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fcs")
    fcs = [write_fcs(simulate_whole_blood(3000, seed=100 + i)[0], d / f"donor{i:02d}.fcs") for i in range(19)]
    broken = d / "broken.fcs"
    broken.write_bytes(b"FCS3.1    not really" * 4)
    tpl = d / "template.xml"
    write_gatingml(whole_blood_template(), tpl)
    return [*fcs, broken], tpl


def _gate(files, tpl, out, *extra):
    return main(["--template", str(tpl), *map(str, files), "--out", str(out), "--processes", "2", "--events", *extra])


def test_local_cluster_equals_local_processes(twenty_files, tmp_path, capsys):
    files, tpl = twenty_files
    assert _gate(files, tpl, tmp_path / "local") == 2  # the broken file is reported, the rest is written
    local_err = capsys.readouterr().err
    assert _gate(files, tpl, tmp_path / "dask", "--scheduler", "local") == 2
    dask_err = capsys.readouterr().err
    for name in ["counts.csv", "proportions.csv", *[f"{f.stem}_events.csv" for f in files[:-1]]]:
        a, b = (tmp_path / "local" / name).read_bytes(), (tmp_path / "dask" / name).read_bytes()
        assert a == b, name
    counts = pd.read_csv(tmp_path / "dask" / "counts.csv")
    assert counts["sample"].nunique() == 19 and "broken" not in set(counts["sample"])
    for err in (local_err, dask_err):
        assert "gated 19 of 20 file(s)" in err and "broken.fcs" in err
    assert dask_err.count("[") == local_err.count("[")  # one progress line per file either way


def test_unreachable_scheduler_is_one_clear_line(twenty_files, tmp_path, capsys):
    files, tpl = twenty_files
    assert _gate(files[:2], tpl, tmp_path / "x", "--scheduler", "tcp://127.0.0.1:9") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the Dask scheduler 'tcp://127.0.0.1:9'")
    assert not (tmp_path / "x" / "counts.csv").exists()
