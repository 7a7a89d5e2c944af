"""FCS reader: every shared file loads with $TOT x $PAR events or fails with a named FCSError."""
from __future__ import annotations

import io
import warnings

import flowio
import numpy as np
import pytest

from gating.errors import InputError
from gating.sample import FCSError, Sample, count_datasets, parse_spillover, read_fcs, read_fcs_metadata
from tests.conftest import SHARED

FCS_ROOT = SHARED / "data" / "fcs"  # parametrisation needs the list at collection time
ALL_FILES = sorted(p for p in FCS_ROOT.rglob("*") if p.suffix.lower() in (".fcs", ".lmd")) if FCS_ROOT.is_dir() else []
UNREADABLE = {"corrupted.fcs": "not an FCS file", "sample_header.fcs": "DATA segment truncated"}


def _kw(meta: dict, key: str) -> str:
    for k, v in meta.items():
        if k.strip().upper() == key:
            return v
    raise KeyError(key)


def test_shared_fcs_folder_is_complete(shared_dir):
    assert len(ALL_FILES) >= 36
    assert (shared_dir / "data" / "fcs").resolve() == FCS_ROOT.resolve()


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_file_loads_or_fails_typed(path):
    if path.name in UNREADABLE:
        with pytest.raises(FCSError) as info:
            read_fcs(path)
        assert path.name in str(info.value) and UNREADABLE[path.name] in str(info.value)
        assert isinstance(info.value, InputError)
        return
    for ds in range(count_datasets(path)):
        s = read_fcs(path, dataset=ds)
        meta = s.metadata
        assert s.events.shape == (int(_kw(meta, "$TOT")), int(_kw(meta, "$PAR")))
        assert s.events.dtype == np.float64 and np.isfinite(s.events).all()
        assert len(s.channels) == len(s.markers) == s.events.shape[1]
        assert len(set(s.channels)) == len(s.channels)
        assert s.name == path.stem


# files flowio reads directly (with the flag it needs): our events must equal flowio's preprocessing
FLOWIO_FLAGS = {
    "100715.fcs": {}, "3FITC_4PE_004.fcs": {}, "G11.fcs": {}, "fcs1_cleaned.lmd": {},
    "System II listmode with extra info in bits D10-D15.LMD": {},
    "Accuri - C6.fcs": dict(ignore_offset_discrepancy=True, ignore_offset_error=True),
    "Beckman Coulter - Cyan.fcs": dict(ignore_offset_discrepancy=True),
    "test_comp_example.fcs": dict(ignore_offset_error=True),
    "variable_int_example.fcs": {},
    "a2004_O1T2pb05i_A2_A02.fcs": {},
}


@pytest.mark.parametrize("name", sorted(FLOWIO_FLAGS))
def test_events_match_flowio(name):
    path = next(p for p in ALL_FILES if p.name == name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fd = flowio.FlowData(str(path), **FLOWIO_FLAGS[name])
    fd.text.pop("timestep", None)  # we do not apply $TIMESTEP by default
    ref = fd.as_array(preprocess=True)
    s = read_fcs(path)
    np.testing.assert_allclose(s.events, ref, rtol=1e-12)
    assert s.channels[:3] == [c for c in fd.pnn_labels[:3]]


def test_timestep_preprocessing_matches_flowio_truth(shared_dir):
    d = shared_dir / "data" / "fcs" / "flowio"
    truth = np.load(d / "B01 KC-A-W---91-US_preprocessed_events.npy")
    with_ts = read_fcs(d / "B01 KC-A-W---91-US.fcs", apply_timestep=True)
    np.testing.assert_allclose(with_ts.events, truth, rtol=1e-12)
    plain = read_fcs(d / "B01 KC-A-W---91-US.fcs")
    t = plain.channel_index("Time")
    np.testing.assert_allclose(plain.events[:, t] * 0.1, truth[:, t], rtol=1e-12)  # $TIMESTEP 0.1
    others = [i for i in range(plain.channel_count) if i != t]
    np.testing.assert_array_equal(plain.events[:, others], truth[:, others])


def test_offset_discrepancies_are_recorded(shared_dir):
    d = shared_dir / "data" / "fcs"
    a = read_fcs(d / "flowio" / "data_start_offset_discrepancy_example.fcs")
    b = read_fcs(d / "flowio" / "variable_int_example.fcs")
    assert any("HEADER" in w and "TEXT" in w for w in a.warnings)
    np.testing.assert_array_equal(a.events, b.events)  # same data, only the HEADER differs
    acc = read_fcs(d / "cytoflow-instruments" / "Accuri - C6.fcs")
    assert any("off-by-one" in w for w in acc.warnings)


def test_multi_dataset_lmd(shared_dir):
    p = shared_dir / "data" / "fcs" / "flowio" / "coulter.lmd"
    assert count_datasets(p) == 2
    first, second = read_fcs(p), read_fcs(p, dataset=1)
    assert first.version == "2.0" and second.version == "3.0"
    assert first.event_count == second.event_count == 18110
    assert any("2 datasets" in w for w in first.warnings)
    with pytest.raises(FCSError, match="dataset 2 requested"):
        read_fcs(p, dataset=2)


def test_bitmask_and_odd_width_integers(shared_dir):
    d = shared_dir / "data" / "fcs" / "cytoflow-instruments"
    s = read_fcs(d / "System II listmode with extra info in bits D10-D15.LMD")
    raw16 = s.events  # linear channels: masked 10-bit values
    assert raw16.max() < 1024 and any("masked" in w for w in s.warnings)
    fc = read_fcs(d / "Beckman Coulter - Cytomics FC500.LMD")  # 10-bit values in 16-bit words
    lin = [fc.channel_index("FS Lin"), fc.channel_index("SS Lin")]
    assert fc.events[:, lin].max() <= 1023 and fc.events[:, lin].mean() > 100
    d3 = read_fcs(shared_dir / "data" / "fcs" / "flowcal" / "Data003.fcs")  # 24-bit big-endian
    assert d3.events[:, d3.channel_index("FSC")].max() <= 1023


def test_blank_padded_datatype_keyword(shared_dir):
    s = read_fcs(shared_dir / "data" / "fcs" / "cytoflow-instruments" / "Partec - CyFlow v2.9.fcs")
    assert s.event_count == 72989 and s.channels == ["FSC", "SSC", "FL_Green", "Time"]
    assert s.events[:, 2].max() <= 10 ** 4 * 0.1 + 1e-9  # 4 decades, log(0) 0.1: log decoded


def _write(events, names, markers=None, meta=None) -> bytes:
    fh = io.BytesIO()
    flowio.create_fcs(fh, events.ravel(), names, opt_channel_names=markers, metadata_dict=meta or {})
    return fh.getvalue()


def test_missing_datatype_defaults_with_warning(tmp_path):
    ev = np.arange(12, dtype=np.float64).reshape(4, 3) * 1.5
    raw = _write(ev, ["FSC-A", "SSC-A", "FL1-A"], ["", "", "CD3"])
    assert b"$DATATYPE" in raw
    p = tmp_path / "nodt.fcs"
    p.write_bytes(raw.replace(b"$DATATYPE", b"$XATATYPE"))
    s = read_fcs(p)
    np.testing.assert_allclose(s.events, ev)
    assert any("$DATATYPE missing" in w for w in s.warnings)
    assert s.label(2) == "FL1-A (CD3)" and s.channel_index("CD3") == 2 and s.channel_index("ssc-a") == 1


def test_gain_is_divided_and_log_decoded(tmp_path):
    ev = np.array([[100.0, 512.0], [200.0, 0.0]])
    raw = _write(ev, ["FL1-A", "FL2-A"], meta={"p1g": "4"})
    p = tmp_path / "gain.fcs"
    p.write_bytes(raw)
    s = read_fcs(p)
    np.testing.assert_allclose(s.events[:, 0], [25.0, 50.0])


def test_spillover_written_and_read_back(tmp_path):
    from gating.simulate import write_fcs

    spill = (["FL1-A", "FL2-A"], np.array([[1.0, 0.1], [0.02, 1.0]]))
    s = Sample.from_array(np.arange(15.0).reshape(5, 3), ["FL1-A", "FL2-A", "FSC-A"], ["CD3", "CD4", ""], spillover=spill)
    r = read_fcs(write_fcs(s, tmp_path / "sp.fcs"))
    assert r.spillover[0] == spill[0] and np.array_equal(r.spillover[1], spill[1])
    assert r.markers == ["CD3", "CD4", ""] and r.label(0) == "FL1-A (CD3)" and r.label(2) == "FSC-A"


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FCSError, match="nothere.fcs: file not found"):
        read_fcs(tmp_path / "nothere.fcs")
    bad = tmp_path / "text.fcs"
    bad.write_bytes(b"hello world, this is not cytometry data at all" * 3)
    with pytest.raises(FCSError, match="text.fcs: not an FCS file"):
        read_fcs(bad)
    with pytest.raises(InputError, match="no channel or marker named 'CD99'"):
        Sample.from_array(np.zeros((2, 1)), ["FSC-A"]).channel_index("CD99")


def test_spillover_parsing(shared_dir):
    names, mat = parse_spillover("2,FL1-A,FL2-A,1,0.1,0.02,1")
    assert names == ["FL1-A", "FL2-A"] and mat.tolist() == [[1.0, 0.1], [0.02, 1.0]]
    s = read_fcs(shared_dir / "data" / "fcs" / "flowkit" / "test_comp_example.fcs")
    det, m = s.spillover
    assert m.shape == (len(det), len(det)) == (14, 14)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert set(det) <= set(s.channels)
    acc = read_fcs(shared_dir / "data" / "fcs" / "cytoflow-instruments" / "Accuri - C6.fcs")
    assert acc.spillover[0][:2] == ["FL1-A", "FL2-A"]  # parameter numbers mapped to names
    meta = read_fcs_metadata(shared_dir / "data" / "fcs" / "flowio" / "G11.fcs")
    assert "™" in "".join(meta.values())


def test_fcs_scaling_log_decoding_and_gain_on_isac_data1(shared_dir):
    """ISAC data1.fcs (FCS 2.0 integer): $PnE 4,0 channels are decoded as 10^(4 x / $PnR) and
    FSC-H / SSC-H are divided by $PnG 3.67 / 8; the other channels stay as stored."""
    p = shared_dir / "data" / "gatingml" / "FCSFiles" / "data1.fcs"
    fd = flowio.FlowData(str(p))
    raw = np.asarray(fd.events, dtype=np.float64).reshape(-1, fd.channel_count)  # undecoded integers
    s = read_fcs(p)
    assert s.channels == ["FSC-H", "SSC-H", "FL1-H", "FL2-H", "FL3-H", "FL2-A", "FL4-H", "Time"]
    assert s.event_count == 13367 and raw.max() < 1024
    np.testing.assert_allclose(s.events[:, 0], raw[:, 0] / 3.67, rtol=1e-13)
    np.testing.assert_allclose(s.events[:, 1], raw[:, 1] / 8.0, rtol=1e-13)
    for i in (2, 3, 4, 6):  # FL1-H, FL2-H, FL3-H, FL4-H: 4 decades over 1024 channels
        np.testing.assert_allclose(s.events[:, i], 10.0 ** (4.0 * raw[:, i] / 1024.0), rtol=1e-13)
    assert s.events[:, 2].min() >= 1.0 and s.events[:, 2].max() <= 1e4
    np.testing.assert_array_equal(s.events[:, [5, 7]], raw[:, [5, 7]])


def test_bit_packed_9bit_fcs2_is_read_lsb_first(shared_dir):
    """FlowJo tutorial files: $PnB = 9, values form one LSB-first bit stream ($BYTEORD 4,3,2,1 notwithstanding)."""
    path = shared_dir / "data/flowjo-labkey/advanced/931115-D02- Sample 03.fcs"
    s = read_fcs(path)
    assert s.event_count == 10000 and s.channels == ["ForSc", "OrthSc", "Fluor", "PhyEry", "Cy5PE"]
    raw = path.read_bytes()[768:768 + 56250]
    b0, b1, b2 = raw[0], raw[1], raw[2]
    first = b0 | (b1 & 1) << 8  # event 0, ForSc
    second = (b1 >> 1) | (b2 & 3) << 7  # event 0, OrthSc
    assert s.events[0, 0] == pytest.approx(first / 2.5)  # $P1G 2.50
    assert s.events[0, 1] == pytest.approx(0.2 * 10 ** (3.84 * second / 512))  # $P2E 3.84,0.2
    assert s.events[:, 0].max() <= 511 / 2.5 and any("bit stream" in w for w in s.warnings)


def test_offset_quirks_of_the_labkey_files(shared_dir):
    """Space-padded / junk-suffixed offsets ("   768I"), HEADER TEXT-end two bytes early, TEXT $ENDDATA past EOF."""
    adv = read_fcs(shared_dir / "data/flowjo-labkey/advanced/931115-E02- Sample 04.fcs")
    assert adv.event_count == 10000 and adv.metadata.get("$BEGINDATA", "").strip() == "768I"
    micro = read_fcs(shared_dir / "data/flowjo-labkey/flowjoquery/microFCS/118795.fcs")
    mini = read_fcs(shared_dir / "data/flowjo-labkey/flowjoquery/miniFCS/118795.fcs")
    assert micro.event_count == 10000 and mini.event_count == 1000
    np.testing.assert_array_equal(micro.events[:1000], mini.events)  # first 1,000 events byte-identical
    assert any("HEADER (2072-482071) and TEXT (2072-10739863)" in w for w in micro.warnings)
    assert any("used TEXT DATA offsets" in w for w in micro.warnings)
