"""engine.xlsx (our own .xlsx writer) against xlsxwriter, the library it replaces: both files
read back with openpyxl hold the same cells; gene symbols stay text; formulas stay inert."""
from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlsxwriter

from engine.cells import excel_value, safe_cell
from engine.xlsx import sheet_xml, write_workbook

TRICKY = pd.DataFrame({
    "gene": ["SEPT1", "MARCH1", "=HYPERLINK(\"x\")", "1-Dec", "00123", "Ünïcødé <&>", "tab\there", None],
    "coefficient": [1.5, -2.25e-300, np.nan, np.inf, -np.inf, 1e308, 0.1 + 0.2, -0.0],
    "rank": np.arange(1, 9, dtype=np.int64),
    "flag": [True, False, True, False, True, False, True, False],
    "note": ["+1", "-x", "@sum", "plain", "ctrl\x01char", "", "5", None],
})


def _reference(path, sheets) -> None:
    """The same workbook written by xlsxwriter, cell by cell, with the same value rules."""
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                        "strings_to_numbers": False})
    bold, text = wb.add_format({"bold": True}), wb.add_format({"num_format": "@"})
    for name, df, text_cols in sheets:
        ws = wb.add_worksheet(name)
        ws.freeze_panes(1, 0)
        for j, c in enumerate(df.columns):
            ws.write_string(0, j, safe_cell(str(c)), bold)
            for i, v in enumerate(df[c].to_numpy(dtype=object), start=1):
                if c in text_cols:
                    if v is not None and not (isinstance(v, float) and math.isnan(v)):
                        ws.write_string(i, j, safe_cell(str(v)).replace("\x01", ""), text)
                    continue
                v = excel_value(v)
                if isinstance(v, str):
                    ws.write_string(i, j, v.replace("\x01", ""))
                elif isinstance(v, bool):
                    ws.write_boolean(i, j, v)
                elif v is not None:
                    ws.write_number(i, j, v)
    wb.close()


def _cells(path):
    wb = openpyxl.load_workbook(path)
    return {ws.title: ([[c.value for c in row] for row in ws.iter_rows()],
                       [[c.number_format for c in row] for row in ws.iter_rows(min_row=2)], ws.freeze_panes)
            for ws in wb.worksheets}


@pytest.fixture
def books(tmp_path):
    sheets = [("Genes", TRICKY, ("gene",)), ("Notes", TRICKY[["note", "rank"]], ())]
    ours, ref = tmp_path / "ours.xlsx", tmp_path / "ref.xlsx"
    write_workbook(ours, [(n, sheet_xml(df, text_columns=t)) for n, df, t in sheets])
    _reference(ref, sheets)
    return ours, ref


def test_same_cells_as_xlsxwriter(books):
    ours, ref = map(_cells, books)
    assert ours.keys() == ref.keys() == {"Genes", "Notes"}
    for name in ours:
        # xlsxwriter stores numbers with 16 significant digits, we store the exact double (repr)
        approx = [[pytest.approx(v, rel=1e-15) if isinstance(v, float) else v for v in row] for row in ref[name][0]]
        assert ours[name][0] == approx, name
        assert ours[name][2] == ref[name][2] == "A2"  # header row frozen


def test_symbols_are_text_and_formulas_inert(books):
    values, formats, _ = _cells(books[0])["Genes"]
    genes = [row[0] for row in values[1:]]
    assert genes[:2] == ["SEPT1", "MARCH1"] and genes[3] == "1-Dec" and genes[4] == "00123"
    assert genes[2] == "'=HYPERLINK(\"x\")"
    assert all(f[0] == "@" for f in formats[:-1])  # the gene column is formatted as text
    notes = [row[4] for row in values[1:]]
    assert notes[:3] == ["'+1", "'-x", "'@sum"] and notes[4] == "ctrlchar"
    coef = [row[1] for row in values[1:]]
    assert coef[0] == 1.5 and coef[1] == -2.25e-300 and coef[2:5] == [None] * 3 and coef[6] == 0.1 + 0.2
    assert [row[3] for row in values[1:3]] == [True, False]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_opens_it(books, tmp_path):
    """LibreOffice converts our workbook to CSV with the same first sheet as xlsxwriter's."""
    out = {}
    for path in books:
        d = tmp_path / path.stem
        subprocess.run(["soffice", "--headless", "--convert-to", "csv", "--outdir", str(d), str(path)],
                       check=True, capture_output=True, timeout=180)
        out[path.stem] = (d / f"{path.stem}.csv").read_text(encoding="utf-8", errors="replace")
    assert out["ours"] == out["ref"] and "SEPT1" in out["ours"] and "MARCH1" in out["ours"]


def test_workbook_zip_adds_sheets_in_order_and_counts_them(tmp_path):
    from engine.xlsx import WorkbookZip

    a, b = sheet_xml(pd.DataFrame({"x": [1.0]})), sheet_xml(pd.DataFrame({"y": ["t"]}))
    with WorkbookZip(tmp_path / "ok.xlsx", ["A", "B"]) as wb:
        wb.add(a)
        wb.add(b)
    book = openpyxl.load_workbook(tmp_path / "ok.xlsx")
    assert book.sheetnames == ["A", "B"] and book["B"]["A2"].value == "t"
    with pytest.raises(ValueError, match="1 of 2 sheets were added"):
        with WorkbookZip(tmp_path / "short.xlsx", ["A", "B"]) as wb:
            wb.add(a)
    with pytest.raises(ValueError, match="has 1 sheets; no more"):
        with WorkbookZip(tmp_path / "long.xlsx", ["A"]) as wb:
            wb.add(a)
            wb.add(b)
