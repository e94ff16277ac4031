"""Reading sources and committed exports: only regular files of bounded size, decoded as
Python decodes them."""

from __future__ import annotations

import errno
import os
import tokenize
from pathlib import Path

import pytest

from helion2json.sources import UnreadableSource, read_regular_file, read_source


@pytest.mark.parametrize(
    "data",
    [
        b"x = 1\r\ny = 2\r\n",
        b"\xef\xbb\xbfx = '\xc3\xa9'\n",
        b"# -*- coding: latin-1 -*-\nx = '\xe9'\n",
        b"x = 1\ry = 2",
    ],
    ids=["crlf", "bom", "coding-cookie", "lone-cr"],
)
def test_a_source_reads_as_tokenize_open_reads_it(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "k.py"
    path.write_bytes(data)
    with tokenize.open(path) as handle:
        assert read_source(path) == handle.read()


def test_a_link_to_a_device_is_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    with pytest.raises(UnreadableSource) as raised:
        read_source(tmp_path / "zero.py")
    assert raised.value.reason == "not a regular file (a character device)"


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f.py")
    with pytest.raises(UnreadableSource, match="not a regular file \\(a FIFO\\)"):
        read_source(tmp_path / "f.py")


def test_a_directory_is_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "d.py").mkdir()
    with pytest.raises(UnreadableSource, match="a directory"):
        read_regular_file(tmp_path / "d.py")


def test_a_missing_file_keeps_its_errno(tmp_path: Path) -> None:
    with pytest.raises(UnreadableSource) as raised:
        read_regular_file(tmp_path / "missing.py")
    assert raised.value.errno == errno.ENOENT
    assert isinstance(raised.value, OSError)


def test_a_file_over_the_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.py"
    path.write_bytes(b"#" * 4096)
    assert read_regular_file(path, limit=4096) == b"#" * 4096
    with pytest.raises(UnreadableSource, match="larger than 4095 bytes"):
        read_regular_file(path, limit=4095)


def test_undecodable_text_says_so(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_bytes(b"x = '\xff'\n")
    with pytest.raises(UnreadableSource, match="undecodable text"):
        read_source(path)
