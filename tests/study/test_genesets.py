"""Bundled GO libraries (reproducible from Debian's Bioconductor packages) and enrichment of a
term's calls: planted pathways come first, a null study calls no pathway."""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.enrichment import ENRICHMENT_COLUMNS, enrichment_table
from engine.fastmix import FastMix
from engine.simulate import simulate_study
from study.genesets import BUNDLED, load_library, resource_dir

BUILD = Path(__file__).resolve().parents[2] / "resources" / "genesets" / "build.py"


def _build_module():
    spec = importlib.util.spec_from_file_location("genesets_build", BUILD)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_libraries_hold_go_sets_of_10_to_500_genes():
    counts = {}
    for key, name in BUNDLED.items():
        lib = load_library(key)
        sizes = [len(s) for s in lib.sets.values()]
        counts[key] = len(sizes)
        assert min(sizes) >= 10 and max(sizes) <= 500
        assert all(n.startswith("GO:") for n in lib.sets)
        assert "GO release: 2022-07-01" in lib.version and "CC BY 4.0" in lib.version
    assert counts == {"go-bp": 6482, "go-mf": 1246, "go-cc": 794}
    assert sum((resource_dir() / f).stat().st_size for f in BUNDLED.values()) < 15e6
    tcr = next(s for n, s in load_library("go-bp").sets.items() if n.startswith("GO:0050852 "))
    assert {"CD3E", "ZAP70", "LCK"} <= tcr  # T cell receptor signaling pathway


def test_build_script_reproduces_the_committed_files_byte_for_byte(tmp_path):
    mod = _build_module()
    if not (mod.ORG.is_file() and mod.GO.is_file()):
        pytest.skip("Debian's r-bioc-org.hs.eg.db and r-bioc-go.db are not installed "
                    "(apt-get install r-bioc-org.hs.eg.db r-bioc-go.db); the committed files were checked above")
    mod.build(tmp_path)
    for name in BUNDLED.values():
        assert (tmp_path / name).read_bytes() == (resource_dir() / name).read_bytes(), name
        with gzip.open(tmp_path / name, "rt") as fh:
            assert fh.readline().startswith("# GO ")


def _study_with_symbols(seed: int, planted: list[set[str]], effect: float):
    """A simulated study whose genes carry real symbols; the genes of ``planted`` sets change with
    Group in neutrophils only (``effect`` residual SDs per unit of fraction x group)."""
    sets = load_library("go-bp").sets
    rng = np.random.default_rng(seed)
    universe = sorted(set().union(*sets.values()))
    chosen = set().union(*planted)
    genes = sorted(chosen | set(rng.choice([g for g in universe if g not in chosen], 3000 - len(chosen),
                                           replace=False)))
    s = simulate_study(len(genes), 40, seed=seed)
    expr = s.expression.set_axis(genes, axis=0)
    if effect:
        z = s.covariates["Group"].to_numpy() - s.covariates["Group"].mean()
        neu = s.proportions["Neutrophils"].to_numpy()
        rows = [genes.index(g) for g in chosen]
        sd = expr.iloc[rows].std(axis=1).to_numpy()[:, None]
        expr.iloc[rows] += effect * sd * (neu * z)[None, :] / (neu * z).std()
    return expr, s, sets


def _separate_sets(sets: dict, k: int) -> list[str]:
    """``k`` disjoint sets of 15-25 genes such that no other set is mostly made of their genes (GO is
    a hierarchy: a parent that is half planted genes would rightly rank among them)."""
    chosen: list[str] = []
    union: set[str] = set()
    for name in sorted(n for n, s in sets.items() if 15 <= len(s) <= 25):
        if sets[name] & union:
            continue
        trial = union | sets[name]
        if all(len(s & trial) < 0.3 * len(s) for n, s in sets.items() if n not in chosen and n != name):
            chosen.append(name)
            union = trial
            if len(chosen) == k:
                return chosen
    raise AssertionError("no separate sets found")


def test_planted_pathways_rank_first_and_a_null_study_calls_none():
    sets = load_library("go-bp").sets
    planted_names = _separate_sets(sets, 3)
    expr, s, _ = _study_with_symbols(3, [sets[n] for n in planted_names], effect=3.0)
    res = FastMix(permutations=50, include_covariate_main=False).fit(expr, s.proportions, s.covariates).results_
    table = enrichment_table(res, sets)
    assert list(table.columns) == ENRICHMENT_COLUMNS and table["nes"].isna().all()
    term = table[table["term"] == "Neutrophils.Group"].sort_values("p")
    assert set(term["gene_set"].head(3)) == set(planted_names)
    assert (term.set_index("gene_set").loc[planted_names, "fdr"] <= 0.05).all()
    nulls = []
    for seed in range(5):
        expr, s, _ = _study_with_symbols(100 + seed, [], effect=0.0)
        res = FastMix(permutations=30, include_covariate_main=False).fit(expr, s.proportions, s.covariates).results_
        t = enrichment_table(res, sets)
        nulls.append(bool((t["fdr"] <= 0.05).any()))
    assert sum(nulls) <= 0  # no called pathway in any null study (>= 90 % asked)


def test_cli_writes_enrichment_csv_and_the_library_in_the_report(tmp_path):
    import json

    from study.fastmix_cli import main

    expr, s, sets = _study_with_symbols(5, [], effect=0.0)
    expr.to_csv(tmp_path / "e.csv")
    s.proportions.to_csv(tmp_path / "p.csv")
    s.covariates.to_csv(tmp_path / "c.csv")
    out = tmp_path / "out"
    assert main(["-e", str(tmp_path / "e.csv"), "-p", str(tmp_path / "p.csv"), "-c", str(tmp_path / "c.csv"),
                 "--out", str(out), "--no-covariate-main", "--permutations", "20", "--gene-sets", "go-mf",
                 "--allow-date-ids"]) == 0
    table = pd.read_csv(out / "enrichment.csv")
    assert list(table.columns) == ENRICHMENT_COLUMNS
    report = json.loads((out / "report.json").read_text())
    assert report["gene_sets"]["library"] == "go-mf" and report["gene_sets"]["sets"] == 1246
    assert main(["-e", str(tmp_path / "e.csv"), "-p", str(tmp_path / "p.csv"), "-c", str(tmp_path / "c.csv"),
                 "--out", str(tmp_path / "none"), "--no-covariate-main", "--permutations", "0", "--gene-sets",
                 "none", "--allow-date-ids"]) == 0
    assert not (tmp_path / "none" / "enrichment.csv").exists()
