"""Static checks of the Max and Pd patches against the bridge's address table; plus Pd itself
loading the patch headless (skipped only when Pure Data is not installed)."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge.addresses import lookup

PATCHES = Path(__file__).resolve().parents[1] / "max_patches"
MAXPAT = PATCHES / "latent_synth.maxpat"
PD = PATCHES / "latent_synth.pd"


def maxpat():
    return json.loads(MAXPAT.read_text())["patcher"]


def maxpat_addresses(patcher) -> list[str]:
    """Every OSC address the Max patch can send to udpsend."""
    out = []
    for b in patcher["boxes"]:
        box = b["box"]
        text = box.get("text", "")
        words = text.split()
        if box["maxclass"] == "message" and words and words[0].startswith("/"):
            out.append(words[0])
        elif box["maxclass"] == "newobj" and words[:1] == ["prepend"] and len(words) > 1 and words[1].startswith("/"):
            out.append(words[1])
        elif box["maxclass"] == "newobj" and words[:2] == ["sprintf", "set"]:
            out.append(re.sub(r"%l?d", "0", words[2]))
    return out


def test_maxpat_is_valid_json_and_lines_join_existing_boxes_and_inlets():
    patcher = maxpat()
    boxes = {}
    for b in patcher["boxes"]:
        box = b["box"]
        assert box["id"] not in boxes, f"duplicate id {box['id']}"
        for key in ("maxclass", "numinlets", "numoutlets", "patching_rect"):
            assert key in box, f"{box['id']} lacks {key}"
        boxes[box["id"]] = box
    assert patcher["lines"]
    for ln in patcher["lines"]:
        (src, outlet), (dst, inlet) = ln["patchline"]["source"], ln["patchline"]["destination"]
        assert src in boxes and dst in boxes, ln
        assert 0 <= outlet < boxes[src]["numoutlets"], ln
        assert 0 <= inlet < boxes[dst]["numinlets"], ln


def test_maxpat_sends_only_addresses_the_bridge_has_and_has_the_controls():
    patcher = maxpat()
    addresses = maxpat_addresses(patcher)
    unknown = [a for a in addresses if lookup(a) is None]
    assert not unknown, f"addresses the bridge does not have: {unknown}"
    assert sum(a.startswith("/synth/mix/") for a in addresses) >= 4
    assert len({a for a in addresses if a.startswith("/synth/feature/")}) >= 8
    for needed in ("/synth/prompt/0", "/synth/render", "/synth/preset/save", "/synth/preset/load", "/synth/reply_to"):
        assert needed in addresses
    texts = [b["box"].get("text", "") for b in patcher["boxes"]]
    assert any(t.startswith("udpsend 127.0.0.1") for t in texts)
    assert any(t.startswith("udpreceive") for t in texts)
    assert any(t.startswith("route") and "/synth/rendered" in t for t in texts)
    sliders = [b for b in patcher["boxes"] if b["box"]["maxclass"] == "slider"]
    assert len(sliders) >= 12


def test_address_extraction_catches_a_bad_address():
    patcher = maxpat()
    patcher["boxes"].append({"box": {"id": "x", "maxclass": "message", "text": "/synth/volume 1"}})
    assert "/synth/volume" in maxpat_addresses(patcher) and lookup("/synth/volume") is None


def pd_records():
    text = PD.read_text()
    return [r.strip() for r in re.split(r"(?<!\\);", text) if r.strip()]


def pd_boxes_and_connections():
    boxes, conns = [], []
    for rec in pd_records():
        words = rec.split()
        if words[:2] in (["#X", "obj"], ["#X", "msg"], ["#X", "text"], ["#X", "floatatom"], ["#X", "symbolatom"], ["#X", "listbox"]):
            boxes.append(words)
        elif words[:2] == ["#X", "connect"]:
            conns.append(tuple(int(w) for w in words[2:6]))
    return boxes, conns


# outlet counts of the Pd classes the patch uses (vanilla 0.51+)
PD_OUTLETS = {"loadbang": 1, "netsend": 2, "oscformat": 1, "oscparse": 1, "list": 1, "route": None,
              "s": 0, "r": 1, "hsl": 1, "bng": 1, "tgl": 1, "delay": 1, "unpack": None, "print": 0, "symbol": 1}
PD_INLETS = {"netsend": 1, "oscformat": 1, "oscparse": 1, "s": 1, "r": 0, "print": 1, "symbol": 2, "delay": 2,
             "hsl": 1, "bng": 1, "tgl": 1, "loadbang": 1}


def test_pd_patch_is_vanilla_and_connections_are_valid():
    boxes, conns = pd_boxes_and_connections()
    classes = {b[4] for b in boxes if b[1] == "obj"}
    assert classes <= set(PD_OUTLETS), f"classes outside the vanilla set used: {classes - set(PD_OUTLETS)}"
    assert "netsend" in classes and "oscformat" in classes and "oscparse" in classes
    assert any(b[1] == "obj" and b[4:7] == ["netsend", "-u", "-b"] for b in boxes)
    for src, outlet, dst, inlet in conns:
        assert 0 <= src < len(boxes) and 0 <= dst < len(boxes), (src, dst)
        s, d = boxes[src], boxes[dst]
        assert s[1] != "text" and d[1] != "text"
        if s[1] == "obj":
            n = PD_OUTLETS[s[4]]
            if n is None:  # route/unpack: one outlet per argument (+1 for route's reject outlet)
                n = len(s) - 5 + (1 if s[4] == "route" else 0)
            assert outlet < n, (src, outlet, s)
        elif s[1] in ("msg",):
            assert outlet == 0
        if d[1] == "obj" and d[4] in PD_INLETS:
            assert inlet < PD_INLETS[d[4]], (dst, inlet, d)


def pd_addresses() -> list[str]:
    boxes, _ = pd_boxes_and_connections()
    out = []
    for b in boxes:
        if b[1] == "obj" and b[4] == "oscformat":
            out.append("/" + "/".join(b[5:]))
        if b[1] == "msg" and b[4:7] == ["set", "synth", "feature"]:
            out.append("/synth/feature/0")  # the feature-id box re-targets a row's oscformat
    return out


def test_pd_sends_only_addresses_the_bridge_has_and_has_the_controls():
    addresses = pd_addresses()
    unknown = [a for a in addresses if lookup(a) is None]
    assert not unknown, unknown
    assert sum(a.startswith("/synth/mix/") for a in addresses) >= 4
    assert len({a for a in addresses if a.startswith("/synth/feature/")}) >= 8
    for needed in ("/synth/prompt/0", "/synth/render", "/synth/preset/save", "/synth/preset/load"):
        assert needed in addresses
    boxes, _ = pd_boxes_and_connections()
    assert sum(1 for b in boxes if b[1] == "obj" and b[4] == "hsl") >= 12
    assert any(b[1] == "obj" and b[4:6] == ["route", "rendered"] for b in boxes)
    # every address the table documents for sending is reachable from at least one patch
    sent = set(addresses) | set(maxpat_addresses(maxpat()))
    assert {lookup(a).pattern for a in sent} >= {"/synth/mix/<slot>", "/synth/feature/<id>", "/synth/render"}


@pytest.mark.skipif(shutil.which("pd") is None, reason="Pure Data (pd) is not installed")
def test_pd_loads_the_patch_without_errors(tmp_path):
    quitter = tmp_path / "quit.pd"
    quitter.write_text("#N canvas 0 0 200 200 10;\n#X obj 10 10 loadbang;\n#X obj 10 40 delay 300;\n"
                       "#X msg 10 70 \\; pd quit;\n#X connect 0 0 1 0;\n#X connect 1 0 2 0;\n")
    proc = subprocess.run(
        ["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-noprefs", "-open", str(PD), "-open", str(quitter),
         "-send", "lsynth-port 9"],
        capture_output=True, text=True, timeout=30,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    for bad in ("couldn't create", "connection failed", "no such object", "error"):
        assert bad not in log, log
