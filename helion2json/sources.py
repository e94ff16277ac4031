"""Reading a file that h2j was only told the name of: a Python source, or a committed export.

A tree under review can hold anything a ``.py`` name can be given: a symbolic link to
``/dev/zero`` (read for ever), a FIFO (blocks the reader until someone writes), a device, a
gigabyte of text. Only a regular file of bounded size is ever read: the file is opened
without blocking, checked with ``fstat`` on the open descriptor (so it cannot be swapped
between the check and the read) and read up to the bound.
"""

from __future__ import annotations

import io
import os
import stat
import tokenize

MAX_SOURCE_BYTES = 16 * 2**20


class UnreadableSource(OSError):
    """Why a file is not read: missing, not a regular file, too large, or not decodable."""

    def __init__(self, path: str | os.PathLike[str], reason: str, errno: int | None = None) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.errno = errno
        self.path = os.fspath(path)
        self.reason = reason


def read_regular_file(path: str | os.PathLike[str], limit: int = MAX_SOURCE_BYTES) -> bytes:
    """The bytes of the regular file at ``path`` (links followed), at most ``limit`` of them.

    Raises :class:`UnreadableSource` with the reason otherwise; a file that does not exist
    raises it with ``errno`` ``ENOENT``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        raise UnreadableSource(path, exc.strerror or str(exc), exc.errno) from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableSource(path, f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > limit:
            raise UnreadableSource(path, f"larger than {_size(limit)} ({_size(info.st_size)})")
        data = _read_up_to(descriptor, limit + 1)
    except UnreadableSource:
        raise
    except OSError as exc:
        raise UnreadableSource(path, exc.strerror or str(exc), exc.errno) from None
    finally:
        os.close(descriptor)
    if len(data) > limit:  # it grew since the fstat
        raise UnreadableSource(path, f"larger than {_size(limit)}")
    return data


def read_source(path: str | os.PathLike[str], limit: int = MAX_SOURCE_BYTES) -> str:
    """The text of a Python source, decoded as Python decodes it (coding cookie, BOM,
    universal newlines: the same text as :func:`tokenize.open` gives)."""
    data = read_regular_file(path, limit)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        with io.TextIOWrapper(io.BytesIO(data), encoding) as text:
            return text.read()
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise UnreadableSource(path, f"undecodable text ({reason})") from None


def _read_up_to(descriptor: int, count: int) -> bytes:
    chunks: list[bytes] = []
    while count > 0 and (chunk := os.read(descriptor, min(count, 2**20))):
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "a special file")


def _size(count: int) -> str:
    return f"{count / 2**20:.0f} MiB" if count >= 2**20 else f"{count} bytes"
