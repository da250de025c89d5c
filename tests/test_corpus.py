"""Corpus builder: real-format source files (small excerpts of shared/corpora), probing sets, errors."""
import argparse
import itertools
import json
import os
import shutil
from pathlib import Path

import pytest

from analysis.sae import cli as cli_sae
from analysis.sae.corpus import SOURCE_FILES, CorpusError, build_corpus, dedupe_key, read_jsonl, write_jsonl
from analysis.sae.probe_prompts import CONTRAST_PAIRS, EMOTIONS, TRADITIONS, probe_rows

# The real corpora beside the checkout (../shared/corpora), or wherever LATENT_SYNTH_CORPORA points.
SHARED = Path(os.environ.get("LATENT_SYNTH_CORPORA", Path(__file__).resolve().parents[1].parent / "shared" / "corpora"))
EXPECTED_TRADITIONS = ["Ukrainian", "Yoruba", "Gamelan", "Arabic", "Jewish", "Franconian", "African American",
                       "Romani", "Japanese", "Korean", "Hindustani", "Tuvan", "Aboriginal Australian", "Flamenco",
                       "Electronic"]


@pytest.fixture
def sources(tmp_path):
    """The shared/corpora layout with the first lines of each real file (the whole file when small)."""
    if not SHARED.is_dir():
        pytest.skip("needs ../shared/corpora")
    root = tmp_path / "corpora"
    for rels in SOURCE_FILES.values():
        for rel in rels:
            src, dst = SHARED / rel, root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.suffix in (".csv", ".tsv") and src.stat().st_size > 100_000:
                import csv
                with src.open(newline="", encoding="utf-8") as f:
                    lines = list(itertools.islice(csv.reader(f), 41))
                with dst.open("w", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerows(lines)
            else:
                shutil.copyfile(src, dst)
    return root


def test_probe_sets_exact_names_and_sizes():
    rows = probe_rows()
    trad = [r for r in rows if "tradition" in r["labels"]]
    assert sorted({r["labels"]["tradition"] for r in trad}) == sorted(EXPECTED_TRADITIONS)
    assert list(TRADITIONS) == EXPECTED_TRADITIONS
    by_name = {t: [r["text"] for r in trad if r["labels"]["tradition"] == t] for t in EXPECTED_TRADITIONS}
    assert all(len(v) == 250 and len(set(v)) == 250 for v in by_name.values())
    # structurally identical: substituting the name back gives the same template list for every tradition
    templates = {t: [s.replace(f" {t} ", " {T} ") for s in v] for t, v in by_name.items()}
    first = templates["Ukrainian"]
    assert all(v == first for v in templates.values())
    assert all("{T}" in s for s in first)

    ref = [r for r in rows if "reference" in r["labels"]]
    assert ref == [{"text": "music", "source": "probe-reference", "labels": {"reference": "music"}}]

    for e in ("happy", "sad", "calm", "energetic"):
        em = [r for r in rows if r["labels"].get("emotion") == e]
        assert len(em) >= 100 and len({r["text"] for r in em}) == len(em)
        for facet in ("instrument", "genre", "intensity", "style"):
            assert len({r["labels"][facet] for r in em}) >= 4, facet
        assert all(e in r["text"] for r in em)
    assert set(EMOTIONS) == {"happy", "sad", "calm", "energetic"}


def test_contrast_pairs():
    assert len(CONTRAST_PAIRS) >= 10
    assert CONTRAST_PAIRS["smooth-harsh"] == ("sound smooth", "sound harsh")
    assert CONTRAST_PAIRS["rhythmic-sustained"] == ("sound rhythmic", "sound sustained")
    rows = [r for r in probe_rows() if "contrast" in r["labels"]]
    assert {"text": "sound smooth", "source": "probe-contrast",
            "labels": {"contrast": "smooth-harsh", "pole": "smooth"}} in rows
    assert {"text": "sound sustained", "source": "probe-contrast",
            "labels": {"contrast": "rhythmic-sustained", "pole": "sustained"}} in rows
    assert len(rows) == 2 * len(CONTRAST_PAIRS)


def test_build_from_real_layout(sources):
    rows, dropped = build_corpus(sources)
    by_source = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)
        assert set(r) >= {"text", "source", "labels"} and isinstance(r["labels"], dict) and r["text"]
    assert len(by_source["audiocaps"]) > 80  # 3 files x 40 lines, minus duplicates
    assert len(by_source["clotho"]) > 400  # 5 captions per clip
    mc = by_source["musiccaps"][0]
    assert isinstance(mc["labels"]["aspects"], list) and mc["labels"]["aspects"]
    assert len(by_source["wavcaps_soundbible"]) > 900
    assert any(r["text"] == "Human sounds" for r in by_source["audioset"])
    assert any(r["text"] == "electronic" for r in by_source["mtg_jamendo"])
    keys = [dedupe_key(r["text"]) for r in rows]
    assert len(keys) == len(set(keys))
    # every probing row survives deduplication (AudioSet's "Music" must not swallow the reference)
    assert sum(1 for r in rows if r["source"].startswith("probe-")) == len(probe_rows())
    assert dropped["audioset"] > 0  # the ontology and class list overlap


def test_missing_file_names_it(sources):
    (sources / "musiccaps" / "musiccaps-public.csv").unlink()
    with pytest.raises(CorpusError, match="musiccaps-public.csv"):
        build_corpus(sources)


def test_malformed_files_name_them(sources):
    bad = sources / "audiocaps" / "val.csv"
    bad.write_text("id,text\n1,a dog\n")
    with pytest.raises(CorpusError, match=r"val\.csv.*caption"):
        build_corpus(sources)
    bad.unlink()
    (sources / "audiocaps" / "val.csv").write_text("audiocap_id,youtube_id,start_time,caption\n1,x,0,a dog\n")
    (sources / "wavcaps_soundbible" / "sb_final.json").write_text('{"data": [ {"caption": "x"}, ')
    with pytest.raises(CorpusError, match="sb_final.json"):
        build_corpus(sources)


def test_only_selects_sources_and_unknown_is_rejected(sources):
    rows, _ = build_corpus(sources, include=["audioset"], probes=False)
    assert {r["source"] for r in rows} == {"audioset"}
    with pytest.raises(CorpusError, match="unknown corpus source 'foo'"):
        build_corpus(sources, include=["foo"])
    with pytest.raises(CorpusError, match="not found"):
        build_corpus(sources / "nope")


def test_jsonl_round_trip_and_bad_lines(tmp_path):
    rows = [{"text": "a", "source": "s", "labels": {"emotion": "sad"}}, {"text": "é", "source": "s", "labels": {}}]
    write_jsonl(rows, tmp_path / "c.jsonl")
    assert read_jsonl(tmp_path / "c.jsonl") == rows
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{oops\n')
    with pytest.raises(CorpusError, match=r"bad.jsonl: line 2"):
        read_jsonl(tmp_path / "bad.jsonl")


def test_cli_prints_counts_per_source(sources, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli_sae.register(parser.add_subparsers())
    out = tmp_path / "corpus.jsonl"
    args = parser.parse_args(["corpus", "--sources", str(sources), "--out", str(out)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    for source in ("audiocaps", "clotho", "musiccaps", "wavcaps_soundbible", "audioset", "mtg_jamendo",
                   "probe-tradition", "probe-emotion", "probe-contrast", "probe-reference"):
        n = sum(1 for r in lines if r["source"] == source)
        assert any(l.split()[:2] == [source, str(n)] for l in printed.splitlines()), source


def _audiocaps_only(root, captions):
    src = root / "audiocaps"
    src.mkdir(parents=True)
    import csv

    for name in ("train", "val", "test"):
        with (src / f"{name}.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["audiocap_id", "youtube_id", "start_time", "caption"])
            w.writerows([i, "x", 0, c] for i, c in enumerate(captions if name == "train" else []))
    return root


def test_score_corpus_captions_join_the_corpus(tmp_path):
    from analysis.score_model.corpus import build_score_corpus, read_score_corpus

    build_score_corpus(6, tmp_path / "score", seed=4, progress=False)
    pieces = read_score_corpus(tmp_path / "score")
    first = pieces[0]["captions"][0]
    root = _audiocaps_only(tmp_path / "corpora", ["a dog barks", first.upper()])   # a real caption equal to one
    rows, dropped = build_corpus(root, include=["audiocaps"], probes=False, score_corpus=tmp_path / "score")
    score_rows = [r for r in rows if r["source"] == "score:procedural"]
    captions = [c for p in pieces for c in p["captions"]]
    assert {r["text"] for r in score_rows} | {first} == set(captions)
    assert dropped["score:procedural"] == len(captions) - len(score_rows) >= 1        # the real caption wins
    assert next(r for r in rows if dedupe_key(r["text"]) == dedupe_key(first))["source"] == "audiocaps"
    assert all(isinstance(r["labels"]["score_piece"], int) for r in score_rows)
    # the same command line gives the same corpus file
    out1, out2 = tmp_path / "c1.jsonl", tmp_path / "c2.jsonl"
    for out in (out1, out2):
        args = argparse.Namespace(sources=str(root), only=["audiocaps"], no_probes=True,
                                  score_corpus=str(tmp_path / "score"), out=str(out))
        assert cli_sae.cmd_corpus(args) == 0
    assert out1.read_bytes() == out2.read_bytes()


def test_missing_score_corpus_is_one_line(tmp_path):
    root = _audiocaps_only(tmp_path / "corpora", ["a dog barks"])
    with pytest.raises(CorpusError, match=r"^--score-corpus: .*holds no corpus.jsonl.*analysis score-corpus") as exc:
        build_corpus(root, include=["audiocaps"], probes=False, score_corpus=tmp_path / "nowhere")
    assert "\n" not in str(exc.value)
