"""Preranked GSEA (engine.gsea over blitzgsea) on the project's simulator: planted pathways are
found first, a null study calls nothing, and both checks fail for broken methods."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.fastmix import FastMix
from engine.gsea import GSEA_COLUMNS, gsea_table, preranked, running_score
from engine.progress import Cancelled
from engine.simulate import simulate_study
from study.export import rnk_scores

M = 1000            # genes
N_DECOYS = 300      # decoy sets of 15-60 random genes
TERM = "Neutrophils.Group"
PERMUTATIONS = 200  # blitzgsea's random sets per anchor (few: the tests stay fast)
NULL_SEEDS = 10


def _study(seed: int, planted: bool) -> tuple[pd.Series, dict[str, set[str]], list[str]]:
    """(the app's ranking of TERM, gene sets, names of the planted sets) of one simulated study."""
    rng = np.random.default_rng(1000 + seed)
    genes = [f"Gene{i + 1}" for i in range(M)]
    sets = {f"DECOY{j:03d}": {genes[i] for i in rng.choice(M, rng.integers(15, 61), replace=False)}
            for j in range(N_DECOYS)}
    order = rng.permutation(M)
    effects = np.zeros(M)
    names = []
    for k, (a, b, sign) in enumerate(((0, 25, 1.0), (25, 60, -1.0), (60, 90, 1.0))):
        names.append(f"PLANTED{k}")
        sets[names[-1]] = {genes[i] for i in order[a:b]}
        effects[order[a:b]] = sign * 1.2 if planted else 0.0
    sim = simulate_study(M, 24, seed=seed, planted_effects=effects)
    fit = FastMix(permutations=50, random_state=seed).fit(sim.expression, sim.proportions, sim.covariates)
    return rnk_scores(fit.results_, TERM), sets, names


@pytest.fixture(scope="module")
def planted_study():
    return _study(1, planted=True)


@pytest.fixture(scope="module")
def null_runs():
    out = []
    for seed in range(NULL_SEEDS):
        rnk, sets, _ = _study(100 + seed, planted=False)
        out.append(preranked(rnk, sets, permutations=PERMUTATIONS, seed=seed))
    return out


def test_planted_sets_rank_first_by_fdr(planted_study):
    rnk, sets, planted = planted_study
    res = preranked(rnk, sets, permutations=PERMUTATIONS, seed=0)
    assert list(res.columns) == GSEA_COLUMNS
    top = res.sort_values(["fdr", "p"], kind="mergesort")
    assert set(top["gene_set"].iloc[:3]) == set(planted), top.head(5)
    assert (top["fdr"].iloc[:3] <= 0.05).all()
    assert len(res) == N_DECOYS + 3


def test_recovery_fails_for_a_shuffled_ranking(planted_study):
    """The recovery check has teeth: the same sets against a shuffled ranking are not found."""
    rnk, sets, planted = planted_study
    shuffled = pd.Series(np.random.default_rng(5).permutation(rnk.to_numpy()), index=rnk.index)
    res = preranked(shuffled, sets, permutations=PERMUTATIONS, seed=0).sort_values(["fdr", "p"], kind="mergesort")
    assert set(res["gene_set"].iloc[:3]) != set(planted)
    assert not (res.set_index("gene_set").loc[planted, "fdr"] <= 0.05).all()


def test_null_study_calls_no_set_in_90_percent_of_seeds(null_runs):
    clean = sum(bool((r["fdr"] > 0.05).all()) for r in null_runs)
    assert clean >= 0.9 * NULL_SEEDS, [r["fdr"].min() for r in null_runs]


def test_null_threshold_fails_without_multiple_testing(null_runs):
    """A broken method (each set called at its own p <= 0.05, no BH) fails the same 90 % check."""
    clean = sum(bool((r["p"] > 0.05).all()) for r in null_runs)
    assert clean < 0.9 * NULL_SEEDS


def test_deterministic_leading_edge_and_running_score(planted_study):
    rnk, sets, planted = planted_study
    a = preranked(rnk, sets, permutations=PERMUTATIONS, seed=3)
    b = preranked(rnk, sets, permutations=PERMUTATIONS, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert a["nes"].dtype == np.float64 and a["p"].dtype == np.float64
    position = {g: i for i, g in enumerate(rnk.sort_values(ascending=False, kind="mergesort").index)}
    row = a.set_index("gene_set").loc[planted[1]]
    edge = row["leading_edge"]
    assert row["overlap"] == len(edge) > 0 and set(edge) <= sets[planted[1]]
    assert [position[g] for g in edge] == sorted(position[g] for g in edge)
    hits, curve = running_score(rnk, sets[planted[1]])
    assert len(hits) == row["set_size"] and len(curve) == len(rnk)
    assert curve[np.abs(curve).argmax()] == pytest.approx(row["es"], abs=1e-6)
    assert np.sign(row["nes"]) == np.sign(row["es"])
    # the leading edge is the set's genes on the peak's side of the running sum
    peak = int(np.abs(curve).argmax())
    side = hits[hits <= peak] if row["es"] > 0 else hits[hits >= peak]
    assert abs(len(side) - len(edge)) <= 1


def test_table_per_term_and_cancel(planted_study):
    rnk, sets, planted = planted_study
    small = {k: sets[k] for k in [*planted, "DECOY000", "DECOY001"]}
    table = gsea_table({"A": rnk, "B": -rnk}, small, permutations=PERMUTATIONS)
    assert list(table.columns) == ["term", "gene_set", "method", "set_size", "overlap", "p", "fdr", "nes",
                                   "leading_edge"]
    assert table.groupby("term").size().to_dict() == {"A": 5, "B": 5}
    assert (table["method"] == "gsea").all()
    a = table[table.term == "A"].set_index("gene_set")["nes"]
    b = table[table.term == "B"].set_index("gene_set")["nes"]
    assert (np.sign(a.loc[planted]) == -np.sign(b.loc[planted])).all()
    seen = []

    def stop_after_first(done, total, message):
        seen.append(message)
        return done < 1

    with pytest.raises(Cancelled):
        gsea_table({"A": rnk, "B": -rnk}, small, permutations=PERMUTATIONS, progress=stop_after_first)
    assert seen == ["GSEA A", "GSEA B"]
