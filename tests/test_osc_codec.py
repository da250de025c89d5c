import math
import struct

import pytest
from pythonosc.osc_bundle_builder import OscBundleBuilder, IMMEDIATELY
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.osc_codec import NotOsc, OscParseError, encode_message, iter_messages, parse_message


def build(address, *args):
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def test_parses_python_osc_messages():
    assert parse_message(build("/synth/seed", 7)) == ("/synth/seed", [7])
    address, args = parse_message(build("/synth/preset/morph", "a", "b", 0.5))
    assert address == "/synth/preset/morph" and args == ["a", "b", 0.5]
    assert parse_message(build("/synth/ping")) == ("/synth/ping", [])
    assert parse_message(build("/x", True, False, None)) == ("/x", [True, False, None])


def test_types_python_osc_gets_wrong():
    # I (impulse), S (symbol) and c (char) followed by an int: python-osc misreads the int
    dgram = b"/x\x00\x00" + b",Sci\x00\x00\x00\x00" + b"sym\x00" + struct.pack(">I", ord("A")) + struct.pack(">i", 5)
    assert parse_message(dgram) == ("/x", ["sym", "A", 5])
    dgram = b"/x\x00\x00" + b",Ii\x00" + struct.pack(">i", 9)
    assert parse_message(dgram) == ("/x", [None, 9])


def test_double_int64_blob():
    dgram = b"/x\x00\x00,dhb\x00\x00\x00\x00" + struct.pack(">d", 1.25) + struct.pack(">q", 2**40) + struct.pack(">i", 3) + b"abc\x00"
    address, args = parse_message(dgram)
    assert args[:2] == [1.25, 2**40] and bytes(args[2]) == b"abc"


def test_invalid_utf8_in_address_and_string():
    with pytest.raises(OscParseError) as info:
        parse_message(b"/synth/\xff\xfe\x00\x00,\x00\x00\x00")
    assert info.value.address.startswith("/synth/") and "UTF-8" in str(info.value)
    with pytest.raises(OscParseError) as info:
        parse_message(b"/synth/prompt\x00\x00\x00,s\x00\x00\xc3\x28\x00\x00")
    assert info.value.address == "/synth/prompt" and "UTF-8" in str(info.value)


@pytest.mark.parametrize("dgram", [
    b"/synth/seed\x00,i\x00\x00\x00\x01",          # truncated int
    b"/synth/seed\x00,q\x00\x00",                   # unknown tag
    b"/synth/seed\x00ii\x00\x00",                   # tag string without ','
    b"/synth/prompt\x00\x00\x00,s\x00\x00abc",      # unterminated string
    b"/synth/seed",                                 # unterminated address
])
def test_malformed_messages_raise_with_address(dgram):
    with pytest.raises(OscParseError) as info:
        parse_message(dgram)
    assert info.value.address.startswith("/synth")


def test_non_osc_raises_notosc():
    with pytest.raises(NotOsc):
        list(iter_messages(b"junk"))
    with pytest.raises(NotOsc):
        list(iter_messages(b"\x00\x01"))


def test_bundles_flatten_and_keep_good_elements():
    bb = OscBundleBuilder(IMMEDIATELY)
    bb.add_content(OscMessageBuilder("/synth/seed").build())
    inner = OscMessageBuilder("/synth/cfg")
    inner.add_arg(3.0)
    bb.add_content(inner.build())
    items = list(iter_messages(bb.build().dgram))
    assert items == [("/synth/seed", []), ("/synth/cfg", [3.0])]
    bad = b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 8) + b"/a\x00\x00,i\x00\x00"
    items = list(iter_messages(bad))
    assert len(items) == 1 and isinstance(items[0], OscParseError)


def test_encode_reads_back_with_python_osc():
    msg = OscMessage(encode_message("/synth/rendered", ["/tmp/a b.wav", 7, 1.5]))
    assert msg.address == "/synth/rendered" and msg.params == ["/tmp/a b.wav", 7, 1.5]
    msg = OscMessage(encode_message("/synth/preset/list", []))
    assert msg.params == []
    assert parse_message(encode_message("/x", [2**40, True, "é"])) == ("/x", [2**40, True, "é"])
    f = parse_message(encode_message("/x", [math.pi]))[1][0]
    assert f == pytest.approx(math.pi, rel=1e-6)
