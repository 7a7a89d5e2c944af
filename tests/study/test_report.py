"""Run report: hashes, parameters, versions, results summary; JSON and escaped self-contained HTML."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import scipy

from engine.fastmix import FastMix
from engine.inputs import read_table
from study.report import build_run_report, jsonable, write_report_html, write_report_json


@pytest.fixture(scope="module")
def model(shared_dir):
    ref = shared_dir / "data" / "reference" / "sim3"
    expr = read_table(ref / "expr.csv", numeric=True).iloc[:200]
    return FastMix().fit(expr, read_table(ref / "cellprop.csv", numeric=True),
                         read_table(ref / "covariates.csv", numeric=True))


def test_report_content(model, tmp_path):
    f = tmp_path / "expr.csv"
    f.write_bytes(b"gene,S1\nG1,1.5\n")
    props = pd.DataFrame({"T": [0.5]}, index=["S1"])
    rep = build_run_report({"expression": f, "proportions": props, "covariates": None},
                           {"trim": 0.5, "reference": {"Group": "a"}, "lam": np.float64(0.25)},
                           results=model, timings={"fit": 1.5})
    by_role = {e["role"]: e for e in rep["inputs"]}
    assert set(by_role) == {"expression", "proportions"}
    assert by_role["expression"]["sha256"] == hashlib.sha256(b"gene,S1\nG1,1.5\n").hexdigest()
    assert by_role["expression"]["file"] == "expr.csv" and by_role["expression"]["bytes"] == 15
    assert len(by_role["proportions"]["sha256"]) == 64
    assert rep["parameters"] == {"trim": 0.5, "reference": {"Group": "a"}, "lam": 0.25}
    assert rep["libraries"]["scipy"] == scipy.__version__ and rep["libraries"]["numpy"] == np.__version__
    assert set(rep["libraries"]) >= {"numpy", "scipy", "pandas", "sklearn", "flowio", "flowutils", "openpyxl", "python"}
    assert rep["app"]["version"]
    created = dt.datetime.fromisoformat(rep["created_utc"])
    assert created.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.timezone.utc) - created).total_seconds()) < 60
    res = rep["results"]
    assert res["kept_genes"] == model.kept_genes_ and res["sigma2"] == pytest.approx(model.sigma2_)
    assert res["informative_terms"] == [t for t, v in model.informative_.items() if v]
    assert res["terms"] == list(model.design_.names) and res["genes"] == 200 and res["samples"] == 50
    assert rep["timings_s"] == {"fit": 1.5}


def test_jsonable_handles_numpy_and_nonfinite():
    out = jsonable({"a": np.int64(3), "b": np.array([1.0, np.nan]), "c": {1, 2}, "d": (np.bool_(True),)})
    assert out == {"a": 3, "b": [1.0, None], "c": [1, 2], "d": [True]}
    json.dumps(out, allow_nan=False)


def test_json_and_html_files(model, tmp_path):
    rep = build_run_report({}, {"note": "<script>alert(1)</script> & co"}, results=model)
    jp = write_report_json(rep, tmp_path / "report.json")
    assert json.loads(jp.read_text(encoding="utf-8")) == jsonable(rep)
    hp = write_report_html(rep, tmp_path / "report.html")
    page = hp.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "src=" not in page and "href=" not in page and "<link" not in page  # self-contained
    assert f"{model.sigma2_:.6g}" in page


def test_html_report_summary_reads_as_a_report(tmp_path):
    """The HTML opens with the inputs and their SHA-256, the design checks, a calls table equal to
    the results' calls and what each p-value tests; user text is escaped."""
    from html.parser import HTMLParser

    from engine.simulate import simulate_study
    from study.fastmix_cli import run_fastmix

    s = simulate_study(300, 30, seed=2, planted_fraction=0.05)
    cov = s.covariates.rename(columns={"Group": "<script>G</script>"})  # a column name is user text
    for name, frame in (("e.csv", s.expression), ("p.csv", s.proportions), ("c.csv", cov)):
        frame.to_csv(tmp_path / name)
    model, report = run_fastmix(tmp_path / "e.csv", tmp_path / "p.csv", tmp_path / "c.csv", tmp_path / "out",
                                permutations=30, date_ids="warn")
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self._row, self._in = [], None, False

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self._row = []
            elif tag in ("td", "th"):
                self._in = True
                self._row.append("")

        def handle_endtag(self, tag):
            if tag == "tr":
                self.rows.append(self._row)
            elif tag in ("td", "th"):
                self._in = False

        def handle_data(self, data):
            if self._in and self._row is not None:
                self._row[-1] += data

    parser = Cells()
    parser.feed(page)
    hashes = {r[1]: r[3] for r in parser.rows if len(r) == 4 and r[0] in ("expression", "proportions", "covariates")}
    assert hashes == {n: hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("e.csv", "p.csv", "c.csv")}
    res = model.results_
    calls = {r[0]: int(r[1]) for r in parser.rows if len(r) == 4 and r[0] in res.terms}
    assert calls == {t: res.calls(t) for t in res.terms} and sum(calls.values()) > 0
    assert "What each p-value column tests" in page and "Design checks" in page
