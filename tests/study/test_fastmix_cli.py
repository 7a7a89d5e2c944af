"""The headless ``fastmix`` command: R reference numbers, exact output contracts, clean failures."""
from __future__ import annotations

import json
import stat

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from engine.simulate import simulate_sim3
from study.export import sheet_names, write_rnk
from study.fastmix_cli import OUTPUT_FILES, main, run_fastmix
from study.files import file_mode
from study.report import sha256_file

FIXED_COLUMNS = ["term", "estimate", "std_error", "t", "df", "p_value", "p_adj"]
GENE_COLUMNS = ["gene", "term", "coefficient", "random_effect", "quasi_p", "quasi_fdr", "ols_p", "ols_fdr",
                "perm_p", "perm_fdr", "attribution", "fdr", "rank"]
TRICKY = {"Gene1": "SEPT1", "Gene2": "MARCH1", "Gene3": '=HYPERLINK("x")'}


@pytest.fixture(scope="module")
def sim3_run(shared_dir, tmp_path_factory):
    ref = shared_dir / "data" / "reference" / "sim3"
    out = tmp_path_factory.mktemp("sim3") / "out"
    args = ["--expression", str(ref / "expr.csv"), "--proportions", str(ref / "cellprop.csv"),
            "--covariates", str(ref / "covariates.csv"), "--out", str(out), "--variance", "pooled",
            "--permutations", "0"]
    return ref, out, args


def test_sim3_matches_r_reference(sim3_run, capsys):
    ref, out, args = sim3_run
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "50 samples matched" in captured.out and "informative terms: none" in captured.out
    assert "Cell1.Group:" in captured.out and captured.err == ""
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES + ("enrichment.csv",))  # go-bp default
    assert not [p for p in out.parent.iterdir() if p.name != "out"]  # temp folder removed
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == dict.fromkeys(
        OUTPUT_FILES + ("enrichment.csv",), file_mode())

    fe = pd.read_csv(out / "fixed_effects.csv")
    assert list(fe.columns) == FIXED_COLUMNS
    r = pd.read_csv(ref / "R_fastmix_fixed_results.csv").set_index("term")
    fe = fe.set_index("term")
    assert list(fe.index) == list(r.index)
    for ours, theirs in [("estimate", "betahat"), ("t", "tstat"), ("p_value", "p.value"), ("p_adj", "p.adj"),
                         ("df", "df")]:
        np.testing.assert_allclose(fe[ours].to_numpy(), r[theirs].to_numpy(), rtol=1e-6, err_msg=ours)
    np.testing.assert_allclose(fe["std_error"], r["betahat"] / r["tstat"], rtol=1e-6)

    d = pd.read_csv(out / "covariance.csv", index_col=0)
    assert d.index.name == "term"
    rd = pd.read_csv(ref / "R_fastmix_cov_D.csv", index_col=0)
    assert list(d.columns) == list(rd.columns) and list(d.index) == list(rd.index)
    np.testing.assert_allclose(d.to_numpy(), rd.to_numpy(), rtol=1e-6)

    g = pd.read_csv(out / "gene_results.csv")
    assert list(g.columns) == GENE_COLUMNS and len(g) == 5000 * 7
    qp = pd.read_csv(ref / "R_fastmix_re_ind_pvalue.csv", index_col=0)
    one = g[g["term"] == "Cell1.Group"].set_index("gene")
    np.testing.assert_allclose(one["quasi_p"], qp.loc[one.index, "Cell1.Group"], rtol=1e-6)
    assert one["rank"].tolist() == list(range(1, 5001))
    assert np.all(np.diff(one["quasi_p"].to_numpy()) >= 0)  # R-compatible mode ranks by quasi_p
    np.testing.assert_array_equal(one["fdr"], one["quasi_fdr"])
    assert one[["perm_p", "perm_fdr", "attribution"]].isna().all().all()

    rep = json.loads((out / "report.json").read_text())
    sha = {e["role"]: e["sha256"] for e in rep["inputs"]}
    assert sha["expression"] == sha256_file(ref / "expr.csv")
    assert sha["covariates"] == sha256_file(ref / "covariates.csv")
    assert rep["results"]["kept_genes"] == 5000 and rep["results"]["informative_terms"] == []
    assert rep["parameters"]["trim"] == 0.5 and rep["parameters"]["detector"] == "gmm"
    assert {"read_inputs", "fit", "write_tables"} <= set(rep["timings_s"]) and rep["libraries"]["pandas"] == pd.__version__


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A small simulated study as the lab would hand it in: text Group, tricky gene symbols."""
    sim = simulate_sim3(m=500, n=40, seed=3)
    folder = tmp_path_factory.mktemp("study")
    expr = sim.expression.rename(index={**TRICKY, "Gene4": "1-Mar"})  # Excel-mangled MARCH1
    expr["Extra99"] = 1.0  # a sample with no proportions: warned about, left out
    expr.to_csv(folder / "expr.csv")
    (sim.proportions * 100).to_csv(folder / "props.csv", index_label="sample")  # percentages
    cov = sim.covariates.assign(Group=np.where(sim.covariates["Group"] > 0, "treated", "control"))
    cov.to_csv(folder / "cov.csv", index_label="sample")
    return sim, folder


def _args(folder, out, *extra, expr="expr.csv", props="props.csv", cov="cov.csv", dates="--allow-date-ids"):
    args = ["-e", str(folder / expr), "-p", str(folder / props), "-o", str(out)] + ([dates] if dates else [])
    if cov:
        args += ["-c", str(folder / cov)]
    return args + list(extra)


def test_simulated_study_outputs_and_xlsx(study, tmp_path, capsys):
    sim, folder = study
    out = tmp_path / "res"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(_args(folder, out)) == 0
    cap = capsys.readouterr()
    assert cap.err.count("\n") == 3 and "warning" in cap.err and "Extra99" in cap.err
    assert "main term is almost a multiple of the sum of its cell-type interactions" in cap.err  # sums: CV < 5 %
    assert "expr.csv: 1 gene ID(s) look like dates made by Excel (1-Mar)" in cap.err
    assert "percentages" in cap.out
    assert (out / "keep.txt").read_text() == "mine"
    fe = pd.read_csv(out / "fixed_effects.csv")
    assert fe["term"].tolist() == ["Cell1", "Cell2", "Cell3", "Group[treated]", "Cell1.Group[treated]",
                                   "Cell2.Group[treated]", "Cell3.Group[treated]"]
    g = pd.read_csv(out / "gene_results.csv", keep_default_na=False)
    assert {"SEPT1", "MARCH1", "'=HYPERLINK(\"x\")"} <= set(g["gene"])
    # the quasi-p-values find Simulation III's outlier DEGs (5% of genes): >= 40% of the top 20 are
    # true (every gene has a random Group effect there, so the calibrated fdr answers another question)
    top = g[g["term"] == "Cell1.Group[treated]"].nsmallest(20, "quasi_p")["gene"].str.removeprefix("'")
    truth = sim.deg.rename(index={**TRICKY, "Gene4": "1-Mar"}).iloc[:, 4]
    assert truth.mean() == 0.05 and truth.loc[top].mean() >= 0.4

    wb = load_workbook(out / "results.xlsx")
    names = sheet_names(fe["term"].tolist())
    assert wb.sheetnames[:7] == list(names.values())
    assert {"Fixed effects", "Covariance D", "Parameters", "Run report"} <= set(wb.sheetnames)
    ws = wb[names["Cell2.Group[treated]"]]
    header = next(ws.iter_rows(max_row=1, values_only=True))
    ranks = [r[header.index("rank")] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert ranks == list(range(1, 501))
    cells = {c.value: c for c in ws["A"][1:]}
    assert cells["SEPT1"].data_type == "s" and cells["MARCH1"].number_format == "@"
    assert "'=HYPERLINK(\"x\")" in cells and not any(c.data_type == "f" for c in ws["A"])


def test_sheet_names_have_no_brackets(study, tmp_path):
    sim, folder = study
    out = tmp_path / "r"
    assert main(_args(folder, out)) == 0
    names = load_workbook(out / "results.xlsx", read_only=True).sheetnames
    assert not any(ch in n for n in names for ch in "[]:*?/\\") and all(len(n) <= 31 for n in names)
    assert "Cell1.Group_treated_" in names


def test_reference_level_and_pipeline_equals_cli(study, tmp_path):
    sim, folder = study
    cli_out = tmp_path / "cli"
    assert main(_args(folder, cli_out, "--reference", "Group=treated")) == 0
    fe_cli = pd.read_csv(cli_out / "fixed_effects.csv").set_index("term")
    model, report = run_fastmix(folder / "expr.csv", folder / "props.csv", folder / "cov.csv", None, date_ids="warn")
    fe_default = model.results_.fixed_effects
    # switching the reference level flips the sign of every Group term, nothing else changes
    np.testing.assert_allclose(fe_cli.loc["Group[control]", "estimate"], -fe_default.loc["Group[treated]", "estimate"],
                               rtol=1e-9)
    np.testing.assert_allclose(fe_cli.loc["Cell1", "estimate"], fe_default.loc["Cell1", "estimate"], rtol=1e-9)
    # the function the GUI calls gives the same numbers as the command line
    m2, _ = run_fastmix(folder / "expr.csv", folder / "props.csv", folder / "cov.csv", tmp_path / "gui",
                        reference={"Group": "treated"}, date_ids="warn")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "gui" / "fixed_effects.csv").set_index("term"), fe_cli)
    assert report["samples"]["matched"] == 40 and any("Extra99" in w for w in report["samples"]["warnings"])
    # .rnk of the results parses, is sorted and has one line per gene
    rnk = pd.read_csv(write_rnk(m2.results_, tmp_path / "rnk")[4], sep="\t", header=None, keep_default_na=False)
    assert len(rnk) == 500 and rnk[0].is_unique and np.all(np.diff(rnk[1].to_numpy()) <= 0)


def _edit(folder, tmp_path, name, fn):
    """Copy of input ``name`` changed by ``fn(text) -> text``, other inputs copied unchanged."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for f in ("expr.csv", "props.csv", "cov.csv"):
        text = (folder / f).read_text()
        (tmp_path / f).write_text(fn(text) if f == name else text)
    return tmp_path


def _replace_cell(row_id, col_index, value):
    def fn(text):
        lines = text.split("\n")
        for i, line in enumerate(lines):
            parts = line.split(",")
            if parts[0] == row_id:
                parts[col_index] = value
                lines[i] = ",".join(parts)
        return "\n".join(lines)
    return fn


def _cov_with(extra: dict):
    def fn(text):
        lines = text.rstrip("\n").split("\n")
        head = lines[0] + "," + ",".join(extra)
        body = [line + "," + ",".join(str(v[i]) for v in extra.values()) for i, line in enumerate(lines[1:])]
        return "\n".join([head] + body) + "\n"
    return fn


AGE = np.round(np.linspace(20, 70, 40), 1)
ERRORS = {
    "missing file": (None, None, ["-e", "nothere.csv"], r"nothere.csv: file not found"),
    "non-numeric": ("expr.csv", _replace_cell("Gene7", 3, "abc"), [],
                    r"expr.csv, column 'Subj3', row 'Gene7': value 'abc' is not a number"),
    "NA": ("props.csv", _replace_cell("Subj5", 2, "NA"), [], r"props.csv, column 'Cell2', row 'Subj5': value is missing"),
    "duplicate gene": ("expr.csv", lambda t: t.replace("Gene9,", "Gene8,"), [],
                       r"expr.csv, row 'Gene8': duplicate ID in the first column"),
    "duplicate sample": ("expr.csv", lambda t: t.replace(",Subj4,", ",Subj3,", 1), [],
                         r"expr.csv, column 'Subj3': duplicate column name"),
    "no overlap": ("props.csv", lambda t: t.replace("Subj", "Patient"), [],
                   r"no sample IDs in common between props.csv \(rows\) and expr.csv \(columns\)"),
    "fewer samples than terms": ("cov.csv", lambda t: "\n".join(t.split("\n")[:4] + t.split("\n")[-3:]), [],
                                 r"5 matched samples but the model has 7 terms.*--no-covariate-main"),
    "constant column": ("cov.csv", _cov_with({"Site": ["A"] * 40}), [],
                        r"cov.csv, column 'Site': covariate is constant across the 40 matched samples"),
    "collinear column": ("cov.csv", _cov_with({"Age": AGE, "AgeMonths": AGE * 12}), [],
                         r"design matrix is singular.*\[columns: .*Age, AgeMonths.*\].*--no-covariate-main"),
    "bad reference": (None, None, ["--reference", "Group=placebo"],
                      r"cov.csv, column 'Group': reference level 'placebo' not found \(levels: control, treated\)"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_input_one_line_exit_2_nothing_written(case, study, tmp_path, capsys):
    sim, folder = study
    name, fn, extra, pattern = ERRORS[case]
    src = _edit(folder, tmp_path / "in", name, fn) if name else folder
    out = tmp_path / "work" / "out"
    args = _args(src, out) + extra
    if extra[:1] == ["-e"]:
        args = _args(src, out, expr=extra[1]) + extra[2:]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastmix: error: ") and err.count("\n") == 1, err
    assert pd.Series([err]).str.contains(pattern, regex=True).iloc[0], err
    assert not (tmp_path / "work").exists()  # nothing written, not even the folder


def test_singular_proportions_suggest_no_covariate_main(study, tmp_path, capsys):
    sim, folder = study
    props = sim.proportions.div(sim.proportions.sum(axis=1), axis=0)  # rows sum to exactly 1
    props.to_csv(tmp_path / "closed.csv", index_label="sample")
    for f in ("expr.csv", "cov.csv"):
        (tmp_path / f).write_text((folder / f).read_text())
    assert main(_args(tmp_path, tmp_path / "o1", props="closed.csv")) == 2
    err = capsys.readouterr().err
    assert "singular" in err and "Group[treated]" in err and "--no-covariate-main" in err
    assert main(_args(tmp_path, tmp_path / "o2", "--no-covariate-main", props="closed.csv")) == 0
    fe = pd.read_csv(tmp_path / "o2" / "fixed_effects.csv")
    assert "Group[treated]" not in set(fe["term"]) and "Cell1.Group[treated]" in set(fe["term"])


def test_subject_and_weights(study, tmp_path, capsys):
    sim, folder = study
    cov = pd.read_csv(folder / "cov.csv", index_col=0)
    cov["Donor"] = [f"D{i // 2}" for i in range(len(cov))]  # two samples per donor
    cov.to_csv(tmp_path / "cov.csv")
    (tmp_path / "expr.csv").write_text((folder / "expr.csv").read_text())
    (tmp_path / "props.csv").write_text((folder / "props.csv").read_text())
    assert main(_args(tmp_path, tmp_path / "rep", "--subject", "Donor")) == 0
    out = capsys.readouterr().out
    assert "within-subject correlation rho" in out
    fe = pd.read_csv(tmp_path / "rep" / "fixed_effects.csv")
    assert not any("Donor" in t for t in fe["term"]) and len(fe) == 7
    # weights all equal to 1 are the unweighted fit
    pd.Series(1.0, index=cov.index, name="weight").to_csv(tmp_path / "w.csv")
    assert main(_args(folder, tmp_path / "w1", "--weights", str(tmp_path / "w.csv"))) == 0
    assert main(_args(folder, tmp_path / "w0")) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "w1" / "fixed_effects.csv"),
                                  pd.read_csv(tmp_path / "w0" / "fixed_effects.csv"), rtol=1e-9)
    w = pd.Series(1.0, index=cov.index, name="weight")
    w.iloc[3] = -2
    w.to_csv(tmp_path / "w.csv")
    capsys.readouterr()
    assert main(_args(folder, tmp_path / "w2", "--weights", str(tmp_path / "w.csv"))) == 2
    assert "w.csv, row 'Subj4': weight -2 is not positive" in capsys.readouterr().err
    assert main(_args(tmp_path, tmp_path / "w3", "--subject", "Patient")) == 2
    assert "cov.csv, column 'Patient': subject column 'Patient' not found" in capsys.readouterr().err
    assert not (tmp_path / "w2").exists() and not (tmp_path / "w3").exists()


@pytest.fixture(scope="module")
def sim2_files(tmp_path_factory):
    """Simulation II (4 outlier terms, 1000 genes) written as the lab would hand it in."""
    from engine.simulate import simulate_sim2

    sim = simulate_sim2(1000, 50, seed=11)
    folder = tmp_path_factory.mktemp("sim2")
    sim.expression.to_csv(folder / "expr.csv")
    sim.proportions.to_csv(folder / "props.csv", index_label="sample")
    sim.covariates.to_csv(folder / "cov.csv", index_label="sample")
    return sim, folder


def test_model_options_reach_the_fit(sim2_files, tmp_path):
    """--trim, --detector, --independent and --seed change the fit as FastMix(...) does, and are reported."""
    from engine.fastmix import FastMix

    sim, folder = sim2_files
    outliers = ["Cell1", "Severity", "Cell2.Severity", "Cell2.Sex"]  # the simulator's DEG terms
    runs = {"default": [], "trim": ["--trim", "0.3"], "shapiro": ["--detector", "shapiro", "--seed", "7"],
            "ind": ["--independent"]}
    rep, fe = {}, {}
    for key, extra in runs.items():
        assert main(_args(folder, tmp_path / key, *extra)) == 0
        rep[key] = json.loads((tmp_path / key / "report.json").read_text())
        fe[key] = pd.read_csv(tmp_path / key / "fixed_effects.csv").set_index("term")
    assert rep["default"]["results"]["informative_terms"] == outliers
    assert rep["default"]["results"]["kept_genes"] == 500 and rep["trim"]["results"]["kept_genes"] == 700
    assert rep["trim"]["parameters"]["trim"] == 0.3
    # Shapiro-Wilk flags one more (false) term on this data set; the mixture detector does not
    assert rep["shapiro"]["results"]["informative_terms"] == outliers[:2] + ["Cell1.Severity"] + outliers[2:]
    assert rep["shapiro"]["parameters"]["detector"] == "shapiro" and rep["shapiro"]["parameters"]["seed"] == 7
    assert rep["ind"]["parameters"]["independent"] is True
    d_ind = pd.read_csv(tmp_path / "ind" / "covariance.csv", index_col=0).to_numpy()
    d_def = pd.read_csv(tmp_path / "default" / "covariance.csv", index_col=0).to_numpy()
    off = ~np.eye(11, dtype=bool)
    assert np.all(d_ind[off] == 0) and np.abs(d_def[off]).max() > 0.1  # simulated correlation is 0
    q_default = pd.read_csv(tmp_path / "default" / "gene_results.csv").pivot(index="gene", columns="term",
                                                                               values="quasi_p")
    for key, kw in (("trim", dict(trim=0.3)), ("shapiro", dict(detector="shapiro")), ("ind", dict(independent=True))):
        ref = FastMix(**kw).fit(sim.expression, sim.proportions, sim.covariates)
        np.testing.assert_allclose(fe[key]["estimate"].to_numpy(), ref.fixed_effects_["estimate"].to_numpy(),
                                   rtol=1e-9, err_msg=key)
        np.testing.assert_allclose(fe[key]["t"].to_numpy(), ref.fixed_effects_["t"].to_numpy(), rtol=1e-9, err_msg=key)
        q = pd.read_csv(tmp_path / key / "gene_results.csv").pivot(index="gene", columns="term", values="quasi_p")
        q = q.loc[list(ref.quasi_p_.index), list(ref.quasi_p_.columns)]
        np.testing.assert_allclose(q.to_numpy(), ref.quasi_p_.to_numpy(), rtol=5e-7, err_msg=key)  # 7 significant digits
        assert not np.allclose(q.to_numpy(), q_default.loc[q.index, q.columns].to_numpy(), rtol=1e-6), key


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_trim_out_of_range_is_bad_input(study, tmp_path, capsys, value):
    sim, folder = study
    assert main(_args(folder, tmp_path / "work" / "out", "--trim", value)) == 2
    err = capsys.readouterr().err
    assert err == f"fastmix: error: --trim must be in [0, 1), got {float(value)}\n"
    assert not (tmp_path / "work").exists()


def test_date_like_gene_ids_stop_the_run_unless_allowed_or_restored(study, tmp_path, capsys):
    sim, folder = study
    expr = pd.read_csv(folder / "expr.csv", index_col=0).rename(index={"Gene7": "9-Sep", "Gene8": "2024-03-05"})
    expr.to_csv(tmp_path / "dates.csv")
    assert main(_args(folder, tmp_path / "a", expr=str(tmp_path / "dates.csv"), dates=None)) == 2
    err = capsys.readouterr().err
    assert "3 gene ID(s) look like dates made by Excel" in err and "9-Sep (-> SEPT9)" in err
    assert "2024-03-05 (-> MARCH5)" in err and "--restore-date-ids" in err and not (tmp_path / "a").exists()
    assert main(_args(folder, tmp_path / "b", expr=str(tmp_path / "dates.csv"), dates="--restore-date-ids")) == 0
    cap = capsys.readouterr()
    genes = pd.read_csv(tmp_path / "b" / "gene_results.csv", keep_default_na=False)["gene"]
    assert {"SEPT9", "MARCH5", "1-Mar"} <= set(genes) and "9-Sep" not in set(genes)  # 1-Mar: MARCH1 or MARC1
    assert "2 date-like gene ID(s) restored: 9-Sep -> SEPT9, 2024-03-05 -> MARCH5" in cap.out


def test_sample_ids_differing_by_case_stop_unless_matched_loosely(study, tmp_path, capsys):
    sim, folder = study
    cov = pd.read_csv(folder / "cov.csv", index_col=0)
    cov.index = [i.lower() if k < 3 else i for k, i in enumerate(cov.index)]
    cov.to_csv(tmp_path / "cov.csv")
    assert main(_args(folder, tmp_path / "a", cov=str(tmp_path / "cov.csv"))) == 2
    err = capsys.readouterr().err
    assert "3 sample ID(s) differ from the proportions' IDs only by case or whitespace" in err
    assert "--match-ids loose" in err
    assert main(_args(folder, tmp_path / "b", "--match-ids", "loose", cov=str(tmp_path / "cov.csv"))) == 0
    out = capsys.readouterr().out
    assert "40 samples matched" in out and "matched ignoring case and whitespace" in out


def test_cell_types_choose_columns_before_the_sum_check(study, tmp_path, capsys):
    sim, folder = study
    props = pd.read_csv(folder / "props.csv", index_col=0)
    props["Debris"] = 30.0  # rows now add up to ~130 %: refused as a whole
    props.to_csv(tmp_path / "props.csv")
    assert main(_args(folder, tmp_path / "a", props=str(tmp_path / "props.csv"))) == 2
    assert "proportions sum to" in capsys.readouterr().err
    cells = ",".join(c for c in props.columns if c != "Debris")
    assert main(_args(folder, tmp_path / "b", "--cell-types", cells, props=str(tmp_path / "props.csv"))) == 0
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["parameters"]["cell_types"] == cells.split(",")
    assert main(_args(folder, tmp_path / "c", "--cell-types", "Cell1,Nope", props=str(tmp_path / "props.csv"))) == 2
    assert "cell type 'Nope' is not a column" in capsys.readouterr().err


def test_gene_sets_file_gives_ora_and_gsea_rows_csv_and_sheet(study, tmp_path, capsys):
    """A user .gmt: enrichment.csv holds ORA and GSEA rows for every covariate term, and results.xlsx
    an ``enrichment`` sheet with the same rows."""
    sim, folder = study
    deg = sim.deg.iloc[:, 4]
    hits = [g for g in deg.index[deg.to_numpy()] if g.startswith("Gene") and g not in TRICKY and g != "Gene4"]
    rest = [g for g in sim.expression.index if g not in hits and g not in TRICKY and g != "Gene4"]
    gmt = tmp_path / "sets.gmt"
    gmt.write_text(f"DEGS\tplanted\t{chr(9).join(hits)}\n"
                   + "".join(f"R{k}\trandom\t{chr(9).join(rest[k * 20:(k + 1) * 20])}\n" for k in range(8)),
                   encoding="utf-8")
    out = tmp_path / "res"
    assert main(_args(folder, out, "--gene-sets", str(gmt), "--gsea-permutations", "200")) == 0
    capsys.readouterr()
    e = pd.read_csv(out / "enrichment.csv", keep_default_na=False)
    assert list(e.columns) == ["term", "gene_set", "method", "set_size", "overlap", "p", "fdr", "nes",
                               "leading_edge"]
    terms = ["Group[treated]", "Cell1.Group[treated]", "Cell2.Group[treated]", "Cell3.Group[treated]"]
    gsea = e[e["method"] == "gsea"]
    assert sorted(gsea["term"].unique()) == sorted(terms)
    assert gsea.groupby("term").size().tolist() == [9] * 4
    assert (e.loc[e["method"] == "ora", "nes"] == "").all() and (gsea["nes"] != "").all()
    row = gsea[gsea["leading_edge"].str.contains(";")].iloc[0]
    assert len(row["leading_edge"].split(";")) == row["overlap"]
    assert set(e["method"]) <= {"ora", "gsea"} and "Cell1" not in set(e["term"])
    wb = load_workbook(out / "results.xlsx", read_only=True)
    rows = list(wb["enrichment"].iter_rows(values_only=True))
    wb.close()
    assert list(rows[0]) == list(e.columns) and len(rows) == len(e) + 1
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["gene_sets"]["library"] == "sets.gmt" and report["gene_sets"]["rows"]["gsea"] == 36
    assert main(_args(folder, tmp_path / "res2", "--gene-sets", str(gmt), "--gsea-permutations", "-1")) == 2
    assert "--gsea-permutations must be 0 or more" in capsys.readouterr().err
