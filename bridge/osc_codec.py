"""A strict OSC 1.0 datagram parser and a small message encoder.

python-osc drops malformed packets silently and mis-reads the types I, S and c, but the bridge must
answer every bad message on /synth/error with the address it could read. So datagrams are parsed
here: a parse failure raises OscParseError carrying the address (when one was readable), and
undecodable UTF-8 is reported, not escaped into a traceback.
"""
from __future__ import annotations

import struct
from typing import Iterator

BUNDLE_TAG = b"#bundle\x00"

_INT = struct.Struct(">i")
_UINT = struct.Struct(">I")
_FLOAT = struct.Struct(">f")
_DOUBLE = struct.Struct(">d")
_INT64 = struct.Struct(">q")
_TIMETAG = struct.Struct(">II")


# Fixed-width argument types: tag -> (struct layout, unpacked tuple -> Python value).
_FIXED_WIDTH = {
    "i": (_INT, lambda v: v[0]),
    "f": (_FLOAT, lambda v: v[0]),
    "d": (_DOUBLE, lambda v: v[0]),
    "h": (_INT64, lambda v: v[0]),
    "r": (_UINT, lambda v: v[0]),
    "c": (_UINT, lambda v: chr(v[0] & 0x10FFFF)),
    "t": (_TIMETAG, lambda v: v[0] + v[1] / 2**32),
}
# Types that carry no bytes.
_CONSTANTS = {"T": True, "F": False, "N": None, "I": None}


class NotOsc(ValueError):
    """The datagram is not OSC at all (no leading '/' or '#bundle'): dropped, not answered."""


class OscParseError(ValueError):
    """A malformed OSC message; `address` is what could be read of it (for the error reply)."""

    def __init__(self, address: str, message: str):
        self.address = address
        super().__init__(message)


class Blob(bytes):
    """An OSC blob argument (kept distinct from strings)."""


class Midi(tuple):
    """An OSC 'm' argument: (port, status, data1, data2)."""


def _readable(raw: bytes) -> str:
    return raw.decode("utf-8", errors="backslashreplace")


def _read_string(data: bytes, pos: int, what: str, address: str) -> tuple[str, int]:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise OscParseError(address, f"{what} is not NUL-terminated")
    raw = data[pos:end]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OscParseError(address, f"{what} is not valid UTF-8: {_readable(raw)!r}") from None
    return text, (end + 4) & ~3


def parse_message(data: bytes) -> tuple[str, list]:
    """Decode one OSC message into (address, args). Ints come back as int, floats as float,
    strings as str, T/F as bool, N and I as None, blobs as Blob, 'm' as Midi, timetags as float."""
    end = data.find(b"\x00")
    if end < 0:
        raise OscParseError(_readable(data[:64]), "address is not NUL-terminated")
    raw_address = data[:end]
    try:
        address = raw_address.decode("utf-8")
    except UnicodeDecodeError:
        raise OscParseError(_readable(raw_address), "address is not valid UTF-8") from None
    pos = (end + 4) & ~3
    if pos >= len(data):
        return address, []  # no type tag string: an old-style message without arguments
    if data[pos:pos + 1] != b",":
        raise OscParseError(address, "type tag string does not start with ','")
    tags, pos = _read_string(data, pos, "type tag string", address)
    args: list = []
    n = len(data)
    try:
        for tag in tags[1:]:
            fixed = _FIXED_WIDTH.get(tag)
            if fixed is not None:
                layout, convert = fixed
                if pos + layout.size > n:
                    raise IndexError
                args.append(convert(layout.unpack_from(data, pos)))
                pos += layout.size
            elif tag in _CONSTANTS:
                args.append(_CONSTANTS[tag])
            elif tag in "sS":
                value, pos = _read_string(data, pos, f"string argument {len(args) + 1}", address)
                args.append(value)
            elif tag == "b":
                if pos + 4 > n:
                    raise IndexError
                size = _INT.unpack_from(data, pos)[0]
                if size < 0 or pos + 4 + size > n:
                    raise IndexError
                args.append(Blob(data[pos + 4:pos + 4 + size]))
                pos = (pos + 4 + size + 3) & ~3
            elif tag == "m":
                if pos + 4 > n:
                    raise IndexError
                args.append(Midi(data[pos:pos + 4]))
                pos += 4
            elif tag in "[]":
                raise OscParseError(address, "OSC arrays are not supported")
            else:
                raise OscParseError(address, f"unknown OSC type tag {tag!r}")
    except IndexError:
        raise OscParseError(address, f"message is truncated (type tags {tags!r})") from None
    return address, args


def iter_messages(data: bytes, depth: int = 0) -> Iterator[tuple[str, list] | OscParseError]:
    """Yield each message of a datagram (bundles are flattened and run at once, in order).
    A malformed element is yielded as an OscParseError so that the others still run."""
    if data[:1] == b"/":
        try:
            yield parse_message(data)
        except OscParseError as exc:
            yield exc
        return
    if not data.startswith(BUNDLE_TAG):
        raise NotOsc(f"not an OSC packet ({len(data)} bytes starting {data[:8]!r})")
    if depth > 8:
        yield OscParseError("#bundle", "bundles nested too deeply")
        return
    pos, n = 16, len(data)  # tag + 8-byte timetag
    if n < 16:
        yield OscParseError("#bundle", "bundle is truncated")
        return
    while pos < n:
        if pos + 4 > n:
            yield OscParseError("#bundle", "bundle element size is truncated")
            return
        size = _INT.unpack_from(data, pos)[0]
        pos += 4
        if size <= 0 or pos + size > n:
            yield OscParseError("#bundle", f"bundle element of {size} bytes does not fit")
            return
        element = data[pos:pos + size]
        pos += size
        try:
            yield from iter_messages(element, depth + 1)
        except NotOsc:
            yield OscParseError("#bundle", "bundle element is not an OSC message")


def _pad(raw: bytes) -> bytes:
    return raw + b"\x00" * (4 - len(raw) % 4)


def encode_message(address: str, args=()) -> bytes:
    """Encode a reply. str -> s, bool -> T/F, int -> i (h when it does not fit), float -> f."""
    tags = [","]
    body = []
    for arg in args:
        if isinstance(arg, str):
            tags.append("s")
            body.append(_pad(arg.encode("utf-8")))
        elif isinstance(arg, bool):
            tags.append("T" if arg else "F")
        elif isinstance(arg, int):
            if -2**31 <= arg < 2**31:
                tags.append("i")
                body.append(_INT.pack(arg))
            else:
                tags.append("h")
                body.append(_INT64.pack(arg))
        elif isinstance(arg, float):
            tags.append("f")
            body.append(_FLOAT.pack(arg))
        else:
            raise TypeError(f"cannot encode {arg!r} as an OSC argument")
    return _pad(address.encode("utf-8")) + _pad("".join(tags).encode("ascii")) + b"".join(body)
