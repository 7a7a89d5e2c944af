"""``main.py --self-test``: the whole pipeline end to end, with every network connection refused."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs before anything of the app is imported; worker processes are forked and inherit it.
# Local sockets (AF_UNIX: multiprocessing, Qt) stay allowed; any IP connection or DNS lookup
# is refused and logged to the file named by $NET_LOG.
GUARD = r"""
import os, socket, sys
LOG = os.environ["NET_LOG"]
def _deny(what):
    with open(LOG, "a") as fh:
        fh.write(f"{os.getpid()} {what}\n")
    raise OSError(f"network access attempted: {what}")
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
def connect(self, addr, *a):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _deny(f"connect {addr!r}")
    return _connect(self, addr, *a)
def connect_ex(self, addr, *a):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _deny(f"connect_ex {addr!r}")
    return _connect_ex(self, addr, *a)
socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.getaddrinfo = lambda *a, **k: _deny(f"getaddrinfo {a[:2]!r}")
socket.gethostbyname = lambda *a: _deny(f"gethostbyname {a!r}")
socket.create_connection = lambda addr, *a, **k: _deny(f"create_connection {addr!r}")
sys.path.insert(0, os.environ["APP_ROOT"])
import main
sys.exit(main.main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def self_test_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("selftest")
    log = tmp / "network.log"
    log.touch()
    env = dict(os.environ, NET_LOG=str(log), APP_ROOT=str(ROOT), QT_QPA_PLATFORM="offscreen",
               FASTMIX_STUDIO_DATA=str(tmp / "userdata"), FASTMIX_STUDIO_SETTINGS=str(tmp / "settings.ini"))
    out = subprocess.run([sys.executable, "-c", GUARD, "--self-test", "--keep", str(tmp / "run")],
                         cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    return tmp, out


def test_guard_refuses_connections(tmp_path):
    """The guard itself works: a script that tries to connect is refused and logged."""
    log = tmp_path / "network.log"
    code = GUARD.replace("import main\nsys.exit(main.main(sys.argv[1:]))",
                         "socket.create_connection(('127.0.0.1', 9))")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, NET_LOG=str(log), APP_ROOT=str(ROOT)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "network access attempted" in out.stderr
    assert "create_connection" in log.read_text()


def test_self_test_passes_offline(self_test_run):
    tmp, out = self_test_run
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp / "network.log").read_text() == ""  # not a single connection was attempted
    lines = out.stdout.splitlines()
    stages = [ln.split()[0] for ln in lines[1:-1]]
    assert stages == ["demo", "gating", "fastmix", "enrichment", "export", "gui"], out.stdout
    enrichment = next(ln for ln in lines if ln.startswith("enrichment"))
    assert "GO:0030593 neutrophil chemotaxis on Neutrophils.response[responder]: GSEA rank" in enrichment
    assert all(" s " in ln for ln in lines[1:-1])  # every stage prints its timing
    assert lines[-1].startswith("self-test passed in ")
    run = tmp / "run"
    for name in ("fixed_effects.csv", "covariance.csv", "gene_results.csv", "results.xlsx", "report.json",
                 "enrichment.csv"):
        assert (run / "fastmix" / name).is_file(), name
    report = json.loads((run / "fastmix" / "report.json").read_text())
    assert report["parameters"]["subject_column"] == "subject_id"
    assert len(list((run / "fastmix" / "gsea").glob("*.rnk"))) == len(report["samples"]["design_terms"])
    from PySide6.QtGui import QImage

    image = QImage(str(run / "window.png"))
    assert image.width() >= 600 and image.height() >= 400


def test_self_test_fails_when_results_disagree_with_truth(self_test_run, tmp_path):
    """Flip the planted-DEG labels of the kept study: the self-test must notice and exit 1."""
    from study.demo import demo_is_complete
    from study.selftest import SelfTest

    src, out = self_test_run
    assert out.returncode == 0
    shutil.copytree(src / "run" / "demo", tmp_path / "demo")
    deg_file = tmp_path / "demo" / "true_deg.csv"
    deg = pd.read_csv(deg_file, index_col=0)
    (1 - deg).to_csv(deg_file, lineterminator="\n")  # same size: the study still counts as complete
    assert demo_is_complete(tmp_path / "demo")
    lines: list[str] = []
    test = SelfTest(tmp_path, processes=1, echo=lines.append)
    assert test.run() == 1
    assert any("top 100 genes are planted DEGs" in f for f in test.failures), test.failures
    assert set(test.timings) >= {"demo", "gating", "fastmix", "export", "total"}


def test_bad_argument_exits_2(capsys):
    from study.selftest import main

    assert main(["--processes"]) == 2


@pytest.mark.parametrize("fdr, nes, rank, ok", [(0.01, 2.5, 1, True), (0.2, 2.5, 1, False), (0.01, -2.5, 1, False),
                                                (0.01, 2.5, 11, False)])
def test_enrichment_stage_needs_the_planted_pathway(tmp_path, fdr, nes, rank, ok):
    """The enrichment check fails when the planted pathway is not significant, goes the wrong way or
    is ranked below other sets."""
    from study.demo import PATHWAY, PATHWAY_TERM
    from study.selftest import SelfTest

    rows = [(PATHWAY_TERM, f"OTHER{i}", "gsea", 20, 5, 1e-6, 1e-4 * (i + 1), 2.0, "A;B") for i in range(rank - 1)]
    rows.append((PATHWAY_TERM, PATHWAY, "gsea", 31, 25, 1e-3, fdr, nes, "CCL2;CXCL8"))
    rows.append((PATHWAY_TERM, PATHWAY, "ora", 31, 31, 1e-9, 1e-8, None, "CCL2;CXCL8"))
    pd.DataFrame(rows, columns=["term", "gene_set", "method", "set_size", "overlap", "p", "fdr", "nes",
                                "leading_edge"]).to_csv(tmp_path / "enrichment.csv", index=False)
    test = SelfTest(tmp_path, echo=lambda _line: None)
    test.out = tmp_path
    detail = test.enrichment()
    assert (not test.failures) is ok, test.failures
    assert f"GSEA rank {rank} " in detail
