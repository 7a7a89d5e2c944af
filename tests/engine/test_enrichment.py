"""Over-representation against a hand-computed hypergeometric example, and .gmt parsing."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine.enrichment import RESULT_COLUMNS, over_representation, read_gmt
from engine.errors import InputError

BACKGROUND = [f"G{i}" for i in range(10)]
GENES = ["G0", "G1", "G2", "G5", "NOT_IN_BACKGROUND"]  # n = 4 within the background
SETS = {
    "A": {"G0", "G1", "G2", "G3", "G4"},          # K=5, k=3
    "B": {"G6", "G7", "G8", "OUTSIDE"},            # K=3 (OUTSIDE dropped), k=0
    "C": {"G0", "G5"},                              # K=2, k=2
}


def test_hypergeometric_matches_hand_computation():
    res = over_representation(GENES, BACKGROUND, SETS)
    assert list(res.columns) == RESULT_COLUMNS
    assert res["gene_set"].tolist() == ["C", "A", "B"]  # sorted by p
    r = res.set_index("gene_set")
    c = math.comb
    pA = (c(5, 3) * c(5, 1) + c(5, 4) * c(5, 0)) / c(10, 4)   # 55/210
    pC = c(2, 2) * c(8, 2) / c(10, 4)                          # 28/210
    assert r.loc["A", "p_value"] == pytest.approx(pA, rel=1e-12)
    assert r.loc["C", "p_value"] == pytest.approx(pC, rel=1e-12)
    assert r.loc["B", "p_value"] == pytest.approx(1.0)
    # BH by hand: C 3/1*pC = 0.4, A 3/2*pA = 0.392857 -> monotone min gives 0.392857 for both
    assert r.loc["C", "p_adj"] == pytest.approx(1.5 * pA, rel=1e-12)
    assert r.loc["A", "p_adj"] == pytest.approx(1.5 * pA, rel=1e-12)
    assert r.loc["B", "p_adj"] == pytest.approx(1.0)
    assert r.loc["A", "size"] == 5 and r.loc["B", "size"] == 3 and r.loc["A", "overlap"] == 3
    assert r.loc["A", "expected"] == pytest.approx(4 * 5 / 10)
    assert r.loc["A", "odds_ratio"] == pytest.approx(3 * 4 / (2 * 1))
    assert np.isinf(r.loc["C", "odds_ratio"]) and r.loc["B", "odds_ratio"] == 0
    assert r.loc["A", "genes"] == "G0,G1,G2"


def test_min_size_filters_sets():
    res = over_representation(GENES, BACKGROUND, SETS, min_size=3)
    assert sorted(res["gene_set"]) == ["A", "B"]


def test_read_gmt_roundtrip_and_errors(tmp_path):
    p = tmp_path / "sets.gmt"
    p.write_text("A\tdesc a\tG0\tG1\n# comment\n\nB\thttp://x\tG2\n", encoding="utf-8")
    assert read_gmt(p) == {"A": {"G0", "G1"}, "B": {"G2"}}
    bad = tmp_path / "bad.gmt"
    bad.write_text("A\td\tG0\nA\td\tG1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.gmt, row 'line 2'.*appears twice"):
        read_gmt(bad)
    with pytest.raises(InputError, match="file not found"):
        read_gmt(tmp_path / "missing.gmt")


def test_read_gmt_gz_padded_fields_and_unreadable_files(tmp_path):
    import gzip

    p = tmp_path / "sets.gmt.gz"
    p.write_bytes(gzip.compress("\ufeffA\td\t G0 \tG1\t\r\nB\td\r\n".encode("utf-8")))
    assert read_gmt(p) == {"A": {"G0", "G1"}, "B": set()}  # BOM, CRLF, padding and empty fields
    broken = tmp_path / "broken.gmt.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match=r"broken.gmt.gz.*not a readable .gz file"):
        read_gmt(broken)
    latin = tmp_path / "latin.gmt"
    latin.write_bytes("A\td\tG\xe9ne\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin.gmt.*not UTF-8 text \(byte 5\)"):
        read_gmt(latin)


def test_gene_set_arrays_match_the_dict_and_drop_repeats(tmp_path):
    from engine.gmt import GeneSets, read_gmt_sets

    p = tmp_path / "sets.gmt"
    p.write_text("A\td\tG0\tG1\tG0\nB\td\tG2\nC\td\tG1\tG9\n", encoding="utf-8")  # G0 twice in A
    table = read_gmt_sets(p)
    assert table.names == ("A", "B", "C") and table.sizes.tolist() == [2, 1, 2]
    assert table.as_dict() == {"A": {"G0", "G1"}, "B": {"G2"}, "C": {"G1", "G9"}} == read_gmt(p)
    assert GeneSets.from_dict(table.as_dict()).as_dict() == table.as_dict()


def test_set_index_from_arrays_equals_from_dict():
    from engine.enrichment import SetIndex
    from engine.gmt import GeneSets

    rng = np.random.default_rng(5)
    background = [f"G{i}" for i in range(400)]
    sets = {f"S{j}": {f"G{i}" for i in rng.choice(450, rng.integers(1, 40), replace=False)} for j in range(60)}
    genes = [f"G{i}" for i in rng.choice(400, 50, replace=False)]
    a = SetIndex(background, sets, min_size=3, max_size=30).test(genes)
    b = SetIndex(background, GeneSets.from_dict(sets), min_size=3, max_size=30).test(genes)
    assert a.equals(b) and len(a) > 20
    row = a.iloc[0]  # the strongest set, checked by hand
    members = sets[row["gene_set"]] & set(background)
    assert row["size"] == len(members) and row["genes"] == ",".join(sorted(members & set(genes)))
