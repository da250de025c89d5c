"""Static checks of the Max and Pd patches against the bridge's address table; plus Pd itself
loading the patch headless (skipped only when Pure Data is not installed)."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from synth.addresses import lookup

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


# Max 8 classes the patch uses -> (inlets, outlets) for the box's arguments, as Max creates them
# (checked against patches saved by Max: play~ NAME 2 has 1 inlet and 3 outlets, signal signal bang;
# buffer~ 1 and 2, float bang). A class missing here is one Max may not have.
MAX_NEWOBJ = {
    "udpsend": lambda a: (1, 0), "udpreceive": lambda a: (1, 1), "loadbang": lambda a: (1, 1),
    "loadmess": lambda a: (1, 1), "print": lambda a: (1, 0), "prepend": lambda a: (2, 1),
    "route": lambda a: (2, len(a) + 1), "sel": lambda a: (2 if len(a) == 1 else 1, len(a) + 1),
    "unpack": lambda a: (1, len(a)), "pack": lambda a: (len(a), 1), "zl.reg": lambda a: (2, 2),
    "sprintf": lambda a: (sum(w.count("%") for w in a[1:]), 1), "metro": lambda a: (2, 1),
    "gate": lambda a: (2, int(a[0]) if a else 1), "i": lambda a: (2, 1),
    "buffer~": lambda a: (1, 2), "play~": lambda a: (1, (int(a[1]) if len(a) > 1 else 1) + 1),
    "line~": lambda a: (2, 2), "*~": lambda a: (2, 1),
}
MAX_UI = {"message": (2, 1), "comment": (1, 0), "toggle": (1, 1), "slider": (1, 1), "button": (1, 1),
          "number": (1, 2), "flonum": (1, 2), "textedit": (1, 4), "ezdac~": (2, 0)}


def test_maxpat_uses_only_max_objects_with_their_real_inlets_and_outlets():
    for b in maxpat()["boxes"]:
        box = b["box"]
        if box["maxclass"] == "newobj":
            name, *args = box["text"].split()
            assert name in MAX_NEWOBJ, f"{box['id']}: {name!r} is not a Max object this test knows"
            expected = MAX_NEWOBJ[name](args)
        else:
            assert box["maxclass"] in MAX_UI, box
            expected = MAX_UI[box["maxclass"]]
        assert (box["numinlets"], box["numoutlets"]) == expected, (box["id"], box.get("text"), expected)


def test_maxpat_plays_what_arrives_and_shows_status_and_kind():
    patcher = maxpat()
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    by_text = {box.get("text", ""): i for i, box in boxes.items()}
    lines = {(tuple(ln["patchline"]["source"]), tuple(ln["patchline"]["destination"])) for ln in patcher["lines"]}
    route = by_text["route /synth/rendered /synth/error /synth/preset/list /synth/pong /synth/status"]
    unpack = by_text["unpack s i f s"]
    assert ((route, 0), (unpack, 0)) in lines
    assert ((unpack, 0), (by_text["prepend replace"], 0)) in lines
    assert ((by_text["prepend replace"], 0), (by_text["buffer~ lsynth-clip"], 0)) in lines
    assert ((by_text["buffer~ lsynth-clip"], 1), (by_text["gate"], 1)) in lines   # read done -> play if armed
    player = by_text["play~ lsynth-clip 2"]
    assert ((by_text["start"], 0), (player, 0)) in lines and ((by_text["stop"], 0), (player, 0)) in lines
    dac = next(i for i, box in boxes.items() if box["maxclass"] == "ezdac~")
    gains = {d for (s, o), (d, _) in lines if s == player and o in (0, 1)}   # left and right signal
    assert len(gains) == 2 and all(boxes[g]["text"] == "*~" for g in gains)
    assert {(d, i) for (s, _), (d, i) in lines if s in gains} == {(dac, 0), (dac, 1)}
    assert any(src == (route, 4) for src, _ in lines)          # /synth/status is shown
    assert any(src == (unpack, 3) for src, _ in lines)         # so is the kind, preview or final
    assert "/synth/status" in maxpat_addresses(patcher)
    assert sum(box["maxclass"] == "toggle" for box in boxes.values()) >= 4  # auto, play, arrival, loop


JAM = {"/synth/jam/start", "/synth/jam/stop", "/synth/jam/bars", "/synth/jam/continuity", "/synth/jam/sync", "/synth/bpm",
       "/synth/jam/quantize"}


def test_both_patches_have_a_jam_section():
    assert JAM <= set(maxpat_addresses(maxpat())) and JAM <= set(pd_addresses())
    texts = [b["box"].get("text", "") for b in maxpat()["boxes"]]
    assert {f"/synth/jam/bars {b}" for b in (1, 2, 4, 8)} <= set(texts)
    assert {"/synth/jam/sync internal", "/synth/jam/sync midi-clock", "/synth/jam/sync link"} <= set(texts)
    assert {f"/synth/jam/quantize {q}" for q in ("beat", "bar", "phrase")} <= set(texts)
    assert {"list link", "list beat", "list bar", "list phrase", "oscformat synth jam quantize"} <= {
        " ".join(words[4:]) for words in pd_boxes_and_connections()[0]}


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


# outlet counts of the Pd classes the patch uses (vanilla 0.52+: soundfiler's 2nd outlet lists the
# file's sample rate, channels, ...); None = one per argument (+1 reject outlet for route and sel)
PD_OUTLETS = {"loadbang": 1, "netsend": 2, "oscformat": 1, "oscparse": 1, "list": 1, "route": None,
              "s": 0, "r": 1, "hsl": 1, "bng": 1, "tgl": 1, "delay": 1, "unpack": None, "print": 0, "symbol": 1,
              "soundfiler": 2, "tabplay~": 2, "table": 0, "t": None, "sel": None, "spigot": 1, "f": 1, "metro": 1,
              "line~": 1, "*~": 1, "dac~": 0}
PD_INLETS = {"netsend": 1, "oscformat": 1, "oscparse": 1, "s": 1, "r": 0, "print": 1, "symbol": 2, "delay": 2,
             "hsl": 1, "bng": 1, "tgl": 1, "loadbang": 1, "soundfiler": 1, "tabplay~": 1, "table": 0, "t": 1,
             "spigot": 2, "f": 2, "metro": 2, "line~": 2, "*~": 2}
REJECT_OUTLET = ("route", "sel")


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
            if n is None:
                n = len(s) - 5 + (1 if s[4] in REJECT_OUTLET else 0)
            assert outlet < n, (src, outlet, s)
        elif s[1] in ("msg",):
            assert outlet == 0
        if d[1] == "obj":
            n = len(d) - 5 if d[4] == "dac~" else 2 if d[4] == "sel" and len(d) == 6 else PD_INLETS.get(d[4], 1)
            assert inlet < n, (dst, inlet, d)


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


def test_pd_patch_plays_what_arrives_and_shows_status_and_kind():
    boxes, conns = pd_boxes_and_connections()
    objs = [" ".join(b[4:]) for b in boxes if b[1] == "obj"]
    assert "route rendered error preset pong status" in objs and "unpack s f f s" in objs
    assert "soundfiler" in objs and "tabplay~ lsynth-clip-l" in objs and "tabplay~ lsynth-clip-r" in objs
    assert any(o.startswith("dac~") for o in objs) and "line~" in objs
    toggles = {b[8] for b in boxes if b[1] == "obj" and b[4] == "tgl"}   # receive names
    assert {"lsynth-playing", "lsynth-arrival", "lsynth-loop"} <= toggles
    assert any(b[4] == "hsl" and b[12] == "lsynth-level" for b in boxes if b[1] == "obj")
    assert "/synth/status" in pd_addresses()
    msgs = [" ".join(b[4:]) for b in boxes if b[1] == "msg"]
    assert r"read -resize \$1 lsynth-clip-l lsynth-clip-r" in msgs
