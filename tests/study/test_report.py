"""Run report: hashes, parameters, versions, results summary; JSON and escaped self-contained HTML."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
import zlib
from html.parser import HTMLParser

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


# --- report.html as a real report (issue 13) -------------------------------------------------

class _Page(HTMLParser):
    """Collects tables (rows of cell texts, keyed by the preceding heading), image data URIs and text."""

    def __init__(self):
        super().__init__()
        self.heading, self.tables, self.images, self.text = "", {}, [], []
        self._tag, self._row, self._cell, self._table, self._depth = None, None, None, None, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("h2", "h3"):
            self._tag, self.heading = tag, ""
        elif tag == "table":
            self._depth += 1
            if self._depth == 1:
                self._table = [] if self.heading in self.tables else self.tables.setdefault(self.heading, [])
        elif tag == "tr" and self._depth == 1:
            self._row = []
        elif tag in ("td", "th") and self._row is not None and self._depth == 1:
            self._cell = ""
        for key in ("src", "href"):
            if key in attrs:
                self.images.append(attrs[key])

    def handle_endtag(self, tag):
        if tag == self._tag:
            self._tag = None
        elif tag in ("td", "th") and self._cell is not None and self._depth == 1:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._depth == 1:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._depth -= 1
            if self._depth == 0:
                self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._tag:
            self.heading += data
        if self._cell is not None:
            self._cell += data


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory):
    """A simulated study written to CSV (one gene named ``<script>``) and run end to end."""
    from engine.simulate import simulate_study
    from study.fastmix_cli import run_fastmix

    d = tmp_path_factory.mktemp("sim")
    sim = simulate_study(600, 24, seed=2, planted_fraction=0.05, effect=3.0)
    expr = sim.expression.copy()
    expr.index = ["<script>alert(1)</script>"] + list(expr.index[1:])
    expr.index.name = "gene"
    expr.to_csv(d / "expr.csv")
    sim.proportions.to_csv(d / "props.csv", index_label="sample")
    sim.covariates.rename(columns={"Group": "<script>G</script>"}).to_csv(d / "cov.csv", index_label="sample")
    model, report = run_fastmix(d / "expr.csv", d / "props.csv", d / "cov.csv", d / "out", permutations=20)
    page = (d / "out" / "report.html").read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(page)
    return d, model, report, page, parser


def _png(uri: str) -> tuple[int, int, bytes]:
    """Decode a data URI PNG: (width, height, inflated pixel bytes)."""
    assert uri.startswith("data:image/png;base64,")
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    idat = b"".join(data[i + 8:i + 8 + struct.unpack(">I", data[i:i + 4])[0]]
                    for i in _chunk_offsets(data) if data[i + 4:i + 8] == b"IDAT")
    return w, h, zlib.decompress(idat)


def _chunk_offsets(data: bytes):
    i = 8
    while i < len(data):
        yield i
        i += 12 + struct.unpack(">I", data[i:i + 4])[0]


def test_html_calls_table_matches_results(sim_run):
    _, model, _, _, page = sim_run
    res = model.results_
    table = next(rows for head, rows in page.tables.items() if head.startswith("Calls per term"))
    assert table[0] == ["term", "kind", "calls", "expected under permuted labels", "method behind fdr"]
    body = {r[0]: r for r in table[1:]}
    assert list(body) == list(res.terms)
    expected = res.calibration.calls(0.05)
    for t in res.terms:
        assert body[t][1] == res.term_kinds[t]
        assert int(body[t][2]) == res.calls(t, 0.05) == int((res.fdr[t] <= 0.05).sum())
        assert body[t][4] == res.fdr_methods[t]
        if t in expected:
            assert float(body[t][3]) == pytest.approx(expected[t]["expected_under_permutation"], abs=0.05)
        else:
            assert body[t][3] == "not permuted"
    assert sum(int(r[2]) for r in table[1:]) > 0  # planted genes are found


def test_html_inputs_hashes_and_sections(sim_run):
    d, model, report, _, page = sim_run
    rows = {r[0]: r for r in page.tables["Inputs"][1:]}
    for role, name in (("expression", "expr.csv"), ("proportions", "props.csv"), ("covariates", "cov.csv")):
        data = (d / name).read_bytes()
        assert rows[role][1] == name and rows[role][3] == hashlib.sha256(data).hexdigest()
        assert int(rows[role][2].replace(",", "")) == len(data)
    params = {r[0]: r[1] for r in page.tables["Parameters"][1:]}
    assert params["permutations"] == "20" and params["variance"] == "moderated" and params["seed"] == "0"
    software = {r[0]: r[1] for r in page.tables["Software"][1:]}
    assert software["numpy"] == np.__version__ and software["scipy"] == scipy.__version__
    vif = {r[0]: float(r[1]) for r in page.tables["Design checks"][1:]}
    assert vif == pytest.approx({k: round(v, 2) for k, v in report["design"]["vif"].items()}, abs=0.006)
    text = "".join(page.text)
    assert "What the p-value columns test" in text and "fdr = perm_fdr + (1 - attribution)" in text
    assert "R-compatible" in text


def test_html_volcano_images_decode_and_are_small(sim_run):
    _, model, _, html_text, page = sim_run
    res = model.results_
    covariate_terms = [t for t in res.terms if res.term_kinds[t] != "cell"]
    assert covariate_terms and len(page.images) == len(covariate_terms)
    for uri in page.images:
        w, h, raw = _png(uri)
        assert 300 <= w <= 600 and 200 <= h <= 400 and len(raw) == h * (1 + 3 * w)
        pixels = np.frombuffer(raw, dtype=np.uint8).reshape(h, 1 + 3 * w)[:, 1:].reshape(h, w, 3)
        assert (pixels < 250).any() and (pixels == 255).mean() > 0.5  # points drawn on white
        assert len(uri) < 200_000
    assert len(html_text.encode("utf-8")) < 1_000_000


def test_html_is_self_contained_and_escaped(sim_run):
    _, _, _, html_text, page = sim_run
    assert all(u.startswith("data:") for u in page.images)
    assert "<link" not in html_text and "http://" not in html_text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html_text.lower()
    assert "&lt;script&gt;G&lt;/script&gt;" in html_text  # the covariate's name, escaped
    assert any("<script>G</script>" in row[0] for row in page.tables["Design checks"][1:])  # parsed back
