"""A small, deterministic zip writer whose large entries deflate on every core.

Deflating the collection is a sixth of a large build. It uses zlib-ng, a maintained fork of zlib
with SIMD code paths: at the same level it is 1.7 times as fast here, for slightly smaller output
(zlib itself where zlib-ng cannot be installed). Both release the GIL, so the file is cut in two
and each half is deflated by its own thread, the second primed with the last 32 KiB
of the first; the first half ends with a sync flush, so the two streams joined are one valid
deflate stream (the technique of pigz). The standard zipfile module cannot take data that is
already compressed, hence this writer: plain zip entries, no zip64, fixed dates and modes.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Sequence
from typing import IO

try:
    from zlib_ng import zlib_ng as zlib
except ImportError:  # pragma: no cover - a platform without zlib-ng's wheels
    import zlib  # type: ignore[no-redef]

error: type[Exception] = zlib.error  # type: ignore[assignment]  # raised only for want of memory

LEVEL = 5
BLOCK = 1 << 20
PARALLEL_MIN = 8 << 20
_LIMIT = 0xFFFFFFFF


# Never follow a symbolic link put in a checked file's place, never block opening a FIFO,
# never take a terminal as controlling terminal.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class TooLarge(Exception):
    """The archive needs zip64; the caller writes it with the zipfile module instead."""


class Unreadable(OSError):
    """A file to be zipped cannot be read as the regular file it was when checked; ``filename``
    names it and ``strerror`` says why."""


def open_regular(path: str) -> int:
    """A descriptor of the regular file at ``path``, checked on the descriptor itself.

    The deck was checked earlier (render.py refuses FIFOs, devices and folders), but a file can
    be replaced between that check and the write: reading a FIFO would hang the build, a
    device would never end. So the file is opened once, without following a symbolic link
    now in its place and without blocking, and what was opened must be a regular file; every
    read of it then goes through this descriptor. Raises Unreadable.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        why = "it was replaced by a symbolic link since it was checked" if e.errno == errno.ELOOP else None
        raise Unreadable(e.errno, why or e.strerror or str(e), path) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as e:
        os.close(fd)
        raise Unreadable(e.errno, e.strerror or str(e), path) from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO, device or socket"
        raise Unreadable(errno.EINVAL, f"it is now {kind}, not the regular file it was when checked", path)
    return fd


def write_zip(out: IO[bytes], entries: Sequence[tuple[str, bytes | str]], date: tuple[int, ...]) -> None:
    """Write ``entries`` ((name, bytes or path of a file)) to the binary stream ``out``."""
    dos_time = (date[3] << 11) | (date[4] << 5) | (date[5] // 2)
    dos_date = ((date[0] - 1980) << 9) | (date[1] << 5) | date[2]
    central = []
    offset = 0
    for name, source in entries:
        crc, size, chunks = _deflate(source)
        packed = sum(len(c) for c in chunks)
        if max(size, packed, offset) >= _LIMIT:
            raise TooLarge
        raw_name = name.encode()
        header = (
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, dos_time, dos_date, crc, packed, size, len(raw_name), 0
            )
            + raw_name
        )
        out.write(header)
        for chunk in chunks:
            out.write(chunk)
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                (3 << 8) | 20,
                20,
                0,
                8,
                dos_time,
                dos_date,
                crc,
                packed,
                size,
                len(raw_name),
                0,
                0,
                0,
                0,
                0o100644 << 16,
                offset,
            )
            + raw_name
        )
        offset += len(header) + packed
    directory = b"".join(central)
    out.write(directory)
    out.write(
        struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(directory), offset, 0)
    )


def _deflate(source: bytes | str) -> tuple[int, int, list[bytes]]:
    """(crc32, size, deflated chunks) of bytes or of a file (opened once, see open_regular)."""
    if isinstance(source, bytes):
        c = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
        return zlib.crc32(source), len(source), [c.compress(source), c.flush()]
    fd = open_regular(source)
    try:
        return _deflate_fd(fd, source)
    finally:
        os.close(fd)


def _deflate_fd(fd: int, path: str) -> tuple[int, int, list[bytes]]:
    size = os.fstat(fd).st_size
    if size < PARALLEL_MIN or (os.cpu_count() or 1) < 2:
        return _deflate_range(fd, path, 0, size, None, True)
    from concurrent.futures import ThreadPoolExecutor  # only large collections need it

    middle = size // 2
    primer = _read_at(fd, path, middle - 32768, 32768)
    with ThreadPoolExecutor(2) as pool:
        try:
            first = pool.submit(_deflate_range, fd, path, 0, middle, None, False)
            second = pool.submit(_deflate_range, fd, path, middle, size, primer, True)
        except RuntimeError:  # no thread can start (a memory limit): deflate it here, in one piece
            pool.shutdown(wait=True, cancel_futures=True)
            return _deflate_range(fd, path, 0, size, None, True)
        crc_a, _, chunks_a = first.result()
        crc_b, _, chunks_b = second.result()
    return _crc_combine(crc_a, crc_b, size - middle), size, chunks_a + chunks_b


def _read_at(fd: int, path: str, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset`` (pread: the two threads share the descriptor, not a position)."""
    try:
        block = os.pread(fd, size, offset)
    except OSError as e:
        raise Unreadable(e.errno, e.strerror or str(e), path) from None
    if not block:
        raise Unreadable(errno.EIO, "it changed while it was being written", path)
    return block


def _deflate_range(
    fd: int, path: str, start: int, end: int, primer: bytes | None, last: bool
) -> tuple[int, int, list[bytes]]:
    c = (
        zlib.compressobj(LEVEL, zlib.DEFLATED, -15, zdict=primer)
        if primer
        else zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    )
    crc, chunks = 0, list[bytes]()
    offset = start
    while offset < end:
        block = _read_at(fd, path, offset, min(BLOCK, end - offset))
        offset += len(block)
        crc = zlib.crc32(block, crc)
        chunks.append(c.compress(block))
    chunks.append(c.flush() if last else c.flush(zlib.Z_SYNC_FLUSH))
    return crc, end - start, chunks


def _crc_combine(crc1: int, crc2: int, len2: int) -> int:
    """crc32 of A+B from crc32(A), crc32(B) and len(B) (zlib's crc32_combine, in GF(2))."""

    def times(matrix: list[int], vector: int) -> int:
        total, i = 0, 0
        while vector:
            if vector & 1:
                total ^= matrix[i]
            vector >>= 1
            i += 1
        return total

    def square(matrix: list[int]) -> list[int]:
        return [times(matrix, matrix[n]) for n in range(32)]

    operator = [0xEDB88320] + [1 << n for n in range(31)]  # appends one zero bit
    for _ in range(3):
        operator = square(operator)  # one zero byte
    while len2:
        if len2 & 1:
            crc1 = times(operator, crc1)
        len2 >>= 1
        operator = square(operator)
    return crc1 ^ crc2
