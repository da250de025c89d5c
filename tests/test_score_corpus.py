"""The score corpus generator: known parameters, truthful captions, atomic files."""
import json
import random
import re

from analysis.score_model import words as W
from analysis.score_model.captions import captions
from analysis.score_model.corpus import build_score_corpus, piece, read_score_corpus
from analysis.score_model.params import EMOTION_PRIORS, sample_params
from synth.score.score import Score


def test_rows_keep_their_true_parameters_and_are_reproducible():
    a, b = piece(5, 3, 3), piece(5, 3, 3)
    assert a == b and a != piece(6, 3, 3)
    score = Score.from_dict(a["score"])
    p = a["params"]
    assert score.bpm == p["bpm"] and score.tonic == p["tonic"] and score.mode == p["mode"]
    assert score.voice("melody").program == p["melody"]
    assert (score.voice("harmony") is not None) == (p["harmony"] is not None)
    assert bool(score.drums) == (p["drums"] is not None)


def test_captions_never_contradict_the_piece():
    rng = random.Random(0)
    no_drum_words = [w for w in W.NO_DRUM_WORDS]
    for _ in range(400):
        p = sample_params(rng)
        for c in captions(p, rng, 3):
            for num in re.findall(r"\b(\d{2,3})\b", c):
                assert int(num) == p.bpm, (c, p)
            if any(w in c for w in no_drum_words):
                assert p.drums is None, (c, p)
            if any(c.startswith(w) or f" {w} " in f" {c} " for w in W.SOLO_WORDS if w != "alone"):
                assert p.solo, (c, p)
            if "minor" in c:
                assert p.mode == "minor", (c, p)


def test_emotions_are_distributions_over_parameters():
    rng = random.Random(1)
    rows = [sample_params(rng) for _ in range(3000)]
    sad = [p for p in rows if p.emotion == "sad"]
    energetic = [p for p in rows if p.emotion == "energetic"]
    assert sum(p.mode == "minor" for p in sad) / len(sad) > 0.75
    assert max(p.bpm for p in sad) <= EMOTION_PRIORS["sad"]["bpm"][1] < min(p.bpm for p in energetic)
    assert sum(p.dynamics == "loud" for p in energetic) > sum(p.dynamics == "loud" for p in sad) * 5
    assert len({p.melody for p in rows}) > 100  # instruments from across the 128 GM programs


def test_captions_vary_and_mention_subsets():
    rng = random.Random(2)
    caps = [c for _ in range(300) for c in captions(sample_params(rng), rng, 3)]
    assert len(set(caps)) > 0.97 * len(caps)
    with_bpm = sum(bool(re.search(r"\d", c)) for c in caps) / len(caps)
    assert 0.15 < with_bpm < 0.5


def test_build_writes_corpus_and_manifest(tmp_path):
    manifest = build_score_corpus(12, tmp_path, seed=4, progress=False)
    rows = read_score_corpus(tmp_path)
    assert len(rows) == manifest["pieces"] == 12
    assert json.loads((tmp_path / "manifest.json").read_text())["captions"] == sum(len(r["captions"]) for r in rows)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left behind
