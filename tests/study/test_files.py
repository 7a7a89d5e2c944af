"""The one atomic writer: nothing half-written, the old file kept on error, normal permissions."""
from __future__ import annotations

import json
import os
import stat
import tempfile

import pytest

from study.files import atomic_path, file_mode, write_bytes, write_json, write_text


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_path_leaves_the_old_file_and_no_temp_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_every_writer_gives_normal_permissions_where_mkstemp_alone_gives_0600(tmp_path):
    fd, bare = tempfile.mkstemp(dir=tmp_path)
    os.close(fd)
    assert mode(bare) == 0o600  # what a writer that forgets the chmod leaves behind
    umask = os.umask(0o022)
    os.umask(umask)
    assert file_mode() == 0o666 & ~umask
    written = [write_text(tmp_path / "a.txt", "x\n"), write_bytes(tmp_path / "b.bin", b"\0"),
               write_json(tmp_path / "c.json", {"µ": 1})]
    with atomic_path(tmp_path / "d.csv") as tmp:
        tmp.write_text("a,b\n")
    written.append(tmp_path / "d.csv")
    for path in written:
        assert mode(path) == file_mode(), path.name
    if umask == 0o022:
        assert file_mode() == 0o644
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8")) == {"µ": 1}


def test_temp_file_keeps_the_suffix_and_sits_beside_the_target(tmp_path):
    """Writers that pick the format by suffix (pandas, pyqtgraph exporters) see the real one."""
    with atomic_path(tmp_path / "sub" / "plot.svg") as tmp:
        assert tmp.parent == tmp_path / "sub" and tmp.suffix == ".svg" and tmp.name.startswith(".plot.svg.")
        tmp.write_text("<svg/>")
    assert (tmp_path / "sub" / "plot.svg").read_text() == "<svg/>"
