"""The WordNet corpus (derive script, core.corpus) and the long-range probes (core.probes)."""
from __future__ import annotations

import gzip
import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import pytest

from core import corpus, probes
from core.text import tokenize

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "assets" / "corpus" / "derive_wordnet.py"


def _derive_module():
    spec = importlib.util.spec_from_file_location("derive_wordnet", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- derive_wordnet.py on a tiny fake WordNet ---------------------------------------

HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n  2   \n"
FAKE = {
    "noun": HEADER
    + "00002452 03 n 01 thing 0 001 @ 00001930 n 0000 | a separate and  self-contained entity  \n"
    + '00003553 03 n 01 whole 0 001 @ 00002684 n 0000 | (law) an assemblage of parts (usually followed by `of\') that is regarded as a single entity; "how big is that part compared to the whole?"; "the team is a unit"  \n',
    "verb": HEADER
    + '00001740 29 v 04 breathe 0 take_a_breath 0 respire 0 suspire 3 001 * 00005041 v 0000 01 + 02 00 | draw air into, and expel out of, the lungs; "I can breathe better when the air is clean"--Anon; "ok"  \n',
    "adj": HEADER + "00001740 00 a 01 able 0 000 | (usually followed by `to') having the necessary means or skill  \n",
    "adv": HEADER + '00001740 02 r 01 very 0 000 | to a high degree; "very hot"  \n',
}


def _fake_wordnet(tmp_path: Path) -> Path:
    d = tmp_path / "wn"
    d.mkdir()
    for name, text in FAKE.items():
        (d / f"data.{name}").write_text(text, encoding="ascii")
    return d


def test_derive_script_is_deterministic_and_parses_the_real_format(tmp_path):
    wn = _fake_wordnet(tmp_path)
    out1, out2 = tmp_path / "a.tsv.gz", tmp_path / "b.tsv.gz"
    subprocess.run([sys.executable, str(SCRIPT), "--wordnet-dir", str(wn), "--out", str(out1)], check=True, capture_output=True)
    mod = _derive_module()
    assert mod.main(["--wordnet-dir", str(wn), "--out", str(out2)]) == 0
    raw = out1.read_bytes()
    assert raw == out2.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0

    rows = [line.split("\t") for line in gzip.decompress(raw).decode("utf-8").splitlines()]
    assert all(len(r) == 3 for r in rows)
    got = [(kind, text) for _, kind, text in rows]
    assert got == [
        ("gloss", "a separate and self-contained entity."),
        ("gloss", "an assemblage of parts that is regarded as a single entity."),
        ("example", "how big is that part compared to the whole?"),
        ("example", "the team is a unit."),
        ("gloss", "draw air into, and expel out of, the lungs."),
        ("example", "I can breathe better when the air is clean."),  # attribution dropped; "ok" too short
        ("gloss", "having the necessary means or skill."),
        # adverb: "to a high degree" kept; the 2-word example "very hot" is dropped
        ("gloss", "to a high degree."),
    ]
    # split per synset: same for a synset's gloss and examples, and equal to the documented hash
    splits = [s for s, _, _ in rows]
    assert splits[1] == splits[2] == splits[3] == mod.split_of("n", "00003553")
    assert splits[4] == splits[5] == mod.split_of("v", "00001740")
    assert set(splits) <= {"train", "valid", "test"}
    # the hash split is about 90/5/5
    counts = {s: 0 for s in ("train", "valid", "test")}
    for i in range(20000):
        counts[mod.split_of("n", f"{i:08d}")] += 1
    assert 0.88 < counts["train"] / 20000 < 0.92 and 0.04 < counts["test"] / 20000 < 0.06


def test_derive_script_names_a_missing_wordnet_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.noun"):
        _derive_module().derive(tmp_path)


# --- core.corpus -----------------------------------------------------------------------


def test_sentences_splits_are_nonempty_and_disjoint():
    train, valid, test = (set(corpus.sentences(s)) for s in corpus.SPLITS)
    assert len(train) > 100_000 and len(valid) > 5000 and len(test) > 5000
    assert not train & test and not train & valid and not valid & test
    assert set(corpus.sentences("train", "gloss")) | set(corpus.sentences("train", "example")) == train
    assert all(s.endswith((".", "!", "?")) for s in corpus.sentences("test"))
    with pytest.raises(ValueError):
        corpus.sentences("dev")


def test_missing_corpus_names_file_and_command(tmp_path):
    missing = tmp_path / "wordnet.tsv.gz"
    with pytest.raises(FileNotFoundError, match="derive_wordnet.py") as err:
        corpus._load(missing)
    assert str(missing) in str(err.value)


def test_filler_tokens_length_determinism_and_avoid():
    for n in (0, 1, 7, 250):
        assert len(corpus.filler_tokens("test", n, random.Random(n))) == n
    a = corpus.filler_tokens("train", 100, random.Random(3))
    assert a == corpus.filler_tokens("train", 100, random.Random(3))
    assert a != corpus.filler_tokens("train", 100, random.Random(4))
    f = corpus.filler_tokens("train", 3000, random.Random(5), avoid=("(", "the", "of a"))
    assert "(" not in f and "the" not in f
    assert not any(f[i : i + 2] == ["of", "a"] for i in range(len(f) - 1))
    # running text: the first sentence of the filler is a whole corpus sentence
    g = corpus.filler_tokens("valid", 400, random.Random(6))
    rng = random.Random(6)
    first = corpus.sentences("valid")[rng.randrange(len(corpus.sentences("valid")))]
    head = list(tokenize(first).tokens)
    assert g[: len(head)] == head


# --- core.probes -----------------------------------------------------------------------

ALL_HELDOUT_CUES = set(probes.COUNTRIES_HELDOUT) | set(probes.REGIONS_HELDOUT) | set(probes.NOUNS_HELDOUT) | set(
    probes.NOUNS_HELDOUT.values()
)


def _table(family: str, heldout: bool) -> dict[str, str]:
    return probes._pairs(family, heldout)


def _check_probe(p: probes.Probe, heldout: bool | None) -> None:
    """The probe is cue clause + filler + final clause + answer, and the answer is right for the cue."""
    toks = p.tokens
    assert toks[-1] == p.answer
    filler = list(toks[p.filler_start : p.filler_start + p.distance])
    head, tail = toks[: p.filler_start], toks[p.filler_start + p.distance : -1]
    cue_toks = list(tokenize(p.cue).tokens)
    assert list(toks[p.cue_position - len(cue_toks) + 1 : p.cue_position + 1]) == cue_toks
    assert not set(filler) & set(probes.FILLER_AVOID)
    tables = [False, True] if heldout is None else [heldout]
    if p.family == "agreement":
        singular = {k: v for h in tables for k, v in _table("agreement", h).items()}
        plural = {v: k for k, v in singular.items()}
        assert p.cue in singular or p.cue in plural
        assert p.answer == ("is" if p.cue in singular else "are")
        assert p.cue_position == 1 and toks[0] in probes.DETERMINERS
        if p.distance:
            assert head[-1] == "(" and list(tail) == [")"] and len(head) == 3
        else:
            assert len(head) == 2 and tail == ()
        return
    table = {k: v for h in tables for k, v in _table(p.family, h).items()}
    assert p.answer == table[p.cue]
    assert " ".join(tail) in probes.FINALS
    clauses = probes.COUNTRY_CUES if p.family == "country" else probes.LECTURE_CUES
    text = " ".join(head)
    if p.family == "country":
        assert text in [c.format(x=p.cue) for c in clauses]
    else:
        cities = {**probes.CITIES_TRAIN, **probes.CITIES_HELDOUT}
        city = head[-2]
        assert text in [c.format(x=p.cue, city=city) for c in clauses]
        assert cities[city] != p.answer  # the distractor city's language differs


@pytest.mark.parametrize("split", probes.PROBE_SPLITS)
@pytest.mark.parametrize("family", probes.FAMILIES)
def test_sampled_probes_are_well_formed(split, family):
    rng = random.Random(11)
    for d in (0, 1, 2, 5, 37, 120):
        for _ in range(8):
            p = probes.sample(rng, split, d, family)
            assert p.family == family and p.distance == d
            _check_probe(p, heldout=(split == "test"))


def test_heldout_set_is_deterministic_heldout_and_nested():
    dists = (0, 5, 10, 20, 50, 100, 200)
    hs = probes.heldout_set(distances=dists, per_family=12, seed=0)
    assert hs == probes.heldout_set(distances=dists, per_family=12, seed=0)
    assert hs != probes.heldout_set(distances=dists, per_family=12, seed=1)
    assert len(hs) == 3 * len(dists) * 12
    for p in hs:
        _check_probe(p, heldout=True)
        if p.family == "lecture":
            assert p.tokens[p.filler_start - 2] in probes.CITIES_HELDOUT
    # the same item at two distances: same cue clause, the shorter filler is a prefix of the longer
    by = {(p.family, p.distance): [] for p in hs}
    for p in hs:
        by[(p.family, p.distance)].append(p)
    for fam in probes.FAMILIES:
        for short, long in zip(by[(fam, 50)], by[(fam, 200)]):
            assert short.cue == long.cue and short.answer == long.answer
            assert short.tokens[: short.filler_start + 50] == long.tokens[: long.filler_start + 50]
    # balanced: every held-out country and noun (both numbers) shows up
    assert {p.cue for p in hs if p.family == "country"} == set(probes.COUNTRIES_HELDOUT)
    assert {p.answer for p in hs if p.family == "agreement"} == {"is", "are"}


def test_heldout_pairs_never_seen_at_long_range_in_training():
    rng = random.Random(0)
    stream = probes.training_probes(rng, max_distance=250)
    ps = [next(stream) for _ in range(3000)]
    long_range = [p for p in ps if p.distance > probes.FACT_MAX_DISTANCE]
    assert len(long_range) > 1500
    for p in ps:
        _check_probe(p, heldout=None)
    for p in long_range:
        assert p.cue not in ALL_HELDOUT_CUES
        _check_probe(p, heldout=False)
        if p.family == "lecture":
            assert p.tokens[p.filler_start - 2] in probes.CITIES_TRAIN
    # held-out words never occur anywhere in a long-range training probe (they are avoided in fillers);
    # held-out nouns may occur inside fillers (ordinary text), but never as the cue
    heldout_names = [*probes.COUNTRIES_HELDOUT, *probes.CITIES_HELDOUT, *(r.removeprefix("the ") for r in probes.REGIONS_HELDOUT)]
    for p in long_range:
        text = f" {' '.join(p.tokens)} "
        assert not [n for n in heldout_names if f" {n} " in text], text
    # held-out pairs are taught at short range
    facts = {p.cue for p in ps if p.distance <= probes.FACT_MAX_DISTANCE}
    assert facts & set(probes.COUNTRIES_HELDOUT) and facts & set(probes.REGIONS_HELDOUT)
    assert facts & (set(probes.NOUNS_HELDOUT) | set(probes.NOUNS_HELDOUT.values()))
    # every distance range occurs
    dist = [p.distance for p in ps]
    assert min(dist) == 0 and max(dist) > 240 and sum(d > 100 for d in dist) > 600


def test_training_stream_is_probes_with_a_period_and_deterministic():
    a = probes.training_stream(random.Random(7), max_distance=60)
    b = probes.training_probes(random.Random(7), max_distance=60)
    c = probes.training_stream(random.Random(8), max_distance=60)
    first = [next(a) for _ in range(50)]
    assert first == [[*next(b).tokens, "."] for _ in range(50)]
    assert first != [next(c) for _ in range(50)]
    assert all(s[-1] == "." and len(s) >= 4 for s in first)


def test_sample_determinism():
    xs = [probes.sample(random.Random(42), "train", 30) for _ in range(3)]
    assert xs[0] == xs[1] == xs[2]
    r1, r2 = random.Random(1), random.Random(1)
    assert [probes.sample(r1, "test", 10) for _ in range(20)] == [probes.sample(r2, "test", 10) for _ in range(20)]


def test_every_non_filler_probe_word_is_in_vocabulary_words():
    vocab = set(probes.vocabulary_words())
    rng = random.Random(3)
    ps = [probes.sample(rng, s, d) for s in probes.PROBE_SPLITS for d in (0, 4) for _ in range(300)]
    ps += probes.heldout_set(distances=(0, 3), per_family=40)
    for p in ps:
        outside = p.tokens[: p.filler_start] + p.tokens[p.filler_start + p.distance :]
        assert set(outside) <= vocab, set(outside) - vocab
    every_cue_and_answer = set()
    for fam in probes.FAMILIES:
        for h in (False, True):
            for k, v in _table(fam, h).items():
                every_cue_and_answer |= set(tokenize(k).tokens) | {v}
    assert every_cue_and_answer <= vocab


def test_pair_tables_split_as_documented():
    for fam in probes.FAMILIES:
        train, held = _table(fam, False), _table(fam, True)
        assert not set(train) & set(held)
        assert 0.2 <= len(held) / (len(train) + len(held)) <= 0.35
    nouns = {**probes.NOUNS_TRAIN, **probes.NOUNS_HELDOUT}
    assert len(nouns) >= 55 and not set(nouns) & set(nouns.values())
    assert len(probes.COUNTRIES_TRAIN) + len(probes.COUNTRIES_HELDOUT) >= 38
    # every held-out language is the answer of a training pair at long range
    train_langs = set(probes.COUNTRIES_TRAIN.values()) | set(probes.REGIONS_TRAIN.values())
    assert set(probes.COUNTRIES_HELDOUT.values()) <= train_langs
    assert set(probes.REGIONS_HELDOUT.values()) <= train_langs
    # cue words of the families do not overlap (a held-out country is never a training region)
    names = [set(probes.COUNTRIES_TRAIN) | set(probes.COUNTRIES_HELDOUT),
             set(probes.REGIONS_TRAIN) | set(probes.REGIONS_HELDOUT),
             set(probes.CITIES_TRAIN) | set(probes.CITIES_HELDOUT)]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    # single-token countries, languages, cities and nouns
    for w in [*names[0], *names[2], *nouns, *nouns.values(), *train_langs]:
        assert tokenize(w).tokens == (w,)


def test_lecture_headline_example_is_a_training_probe():
    assert probes.REGIONS_TRAIN["the middle east"] == "arabic" and "london" in probes.CITIES_TRAIN
    want = tokenize("I grew up in the Middle East but now live in London. I speak fluent Arabic").tokens
    rng = random.Random(0)
    for _ in range(50_000):
        p = probes.sample(rng, "train", 0, "lecture")
        if p.tokens == want:
            assert p.cue == "the middle east" and p.tokens[p.cue_position] == "east"
            break
    else:
        pytest.fail("the lecture's headline sentence never came out of sample('train', 0, 'lecture')")
