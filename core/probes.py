"""Long-range dependency probes: the last word depends on a word far back.

Every probe is ``cue clause + filler + final clause + answer``; the filler is
``distance`` tokens of running corpus text (``core.corpus.filler_tokens``)
and ``Probe.tokens[:-1]`` is the prompt after which a model must predict
``Probe.answer``. Three families:

``country``
    ``i grew up in {country} . {filler} i speak fluent {language}``.
    Cue clauses: "i grew up in X .", "i was born in X .", "my family comes
    from X ."; final clauses: "i speak fluent", "my first language is", "at
    home we speak". The templates are shared by all splits: what is held out
    is the country.

``agreement``
    ``{det} {noun} ( {filler} ) {is|are}``: the verb agrees with the subject
    noun (singular -> "is", plural -> "are"), whose number is decided only by
    the noun far back; the filler sits in parentheses, so the closing ")"
    tells the model that the verb comes next. det is one of the number-neutral
    "the", "my", "our", "your". At distance 0 there is no filler and no
    parentheses: ``the keys are``. Fillers never contain "(" or ")".

``lecture``
    The lecture's own example: ``i grew up in {region} but now live in {city}
    . {filler} i speak fluent {language}``; the city is a distractor whose
    language always differs from the region's. Cue clauses also "i was born
    in ... but now live in ..." and "i grew up in ... but now work in ...";
    final clauses as for ``country``. "the middle east" -> arabic, with london
    among the cities, is a training pair: it is the app's headline example.

Splits (``sample(rng, split, ...)``)
    * ``train``: training pairs (``*_TRAIN`` tables), fillers from the corpus
      train split.
    * ``valid``: training pairs, fillers from the valid split (new filler
      text, known pairs).
    * ``test``: held-out pairs (``*_HELDOUT`` tables: countries, nouns,
      regions and cities), fillers from the test split.

Held-out pairs in training
    ``training_probes`` / ``training_stream`` mix long-range probes built from
    training pairs only (distance 0..max_distance) with short "facts": probes
    of any pair, held-out ones included, at distance 0, 1 or 2 with train
    fillers (e.g. "i grew up in austria . i speak fluent german"). So a
    held-out pair is learnable, but the model never sees it at a distance
    above 2, and the test fillers are text it never saw: the held-out set
    measures memory over distance on pairs never seen at long range.
    Every held-out language (country and lecture families) is also the answer
    of some training pair, so it is a word the model has produced at long
    range.

Fillers avoid corpus sentences that mention any country, language, region or
city of the tables (or contain parentheses), so the only place the answer can
come from is the cue; agreement nouns are not avoided (other nouns in the
filler are ordinary attractors).

All randomness comes from the ``random.Random`` passed in: the same seed gives
the same probes.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Iterator

from core.corpus import filler_tokens
from core.text import tokenize

FAMILIES = ("country", "agreement", "lecture")
PROBE_SPLITS = ("train", "valid", "test")
FACT_MAX_DISTANCE = 2  # held-out pairs appear in training at filler length <= this
FACT_RATE = 0.3  # share of facts in the training stream

# --- country -> language -------------------------------------------------------
COUNTRIES_TRAIN: dict[str, str] = {
    "france": "french", "germany": "german", "spain": "spanish", "italy": "italian",
    "japan": "japanese", "china": "chinese", "russia": "russian", "greece": "greek",
    "turkey": "turkish", "poland": "polish", "sweden": "swedish", "norway": "norwegian",
    "portugal": "portuguese", "egypt": "arabic", "iran": "persian", "israel": "hebrew",
    "korea": "korean", "vietnam": "vietnamese", "thailand": "thai", "hungary": "hungarian",
    "finland": "finnish", "denmark": "danish", "netherlands": "dutch", "argentina": "spanish",
    "england": "english", "australia": "english", "ukraine": "ukrainian", "romania": "romanian",
    "indonesia": "indonesian", "morocco": "arabic",
}
COUNTRIES_HELDOUT: dict[str, str] = {
    "austria": "german", "mexico": "spanish", "brazil": "portuguese", "iraq": "arabic",
    "taiwan": "chinese", "scotland": "english", "colombia": "spanish", "syria": "arabic",
    "peru": "spanish", "cyprus": "greek",
}

# --- lecture: region -> language, distractor city -> language --------------------
REGIONS_TRAIN: dict[str, str] = {
    "the middle east": "arabic", "bavaria": "german", "saxony": "german", "tuscany": "italian",
    "lombardy": "italian", "andalusia": "spanish", "castile": "spanish", "provence": "french",
    "normandy": "french", "siberia": "russian", "anatolia": "turkish", "manchuria": "chinese",
    "crete": "greek", "flanders": "dutch", "ohio": "english", "yorkshire": "english",
}
REGIONS_HELDOUT: dict[str, str] = {
    "north africa": "arabic", "quebec": "french", "sicily": "italian", "patagonia": "spanish",
    "hokkaido": "japanese", "the midwest": "english",
}
CITIES_TRAIN: dict[str, str] = {
    "london": "english", "paris": "french", "berlin": "german", "madrid": "spanish",
    "rome": "italian", "tokyo": "japanese", "moscow": "russian", "beijing": "chinese",
    "lisbon": "portuguese", "athens": "greek", "amsterdam": "dutch", "stockholm": "swedish",
    "warsaw": "polish", "cairo": "arabic", "istanbul": "turkish", "seoul": "korean",
}
CITIES_HELDOUT: dict[str, str] = {
    "vienna": "german", "chicago": "english", "sydney": "english", "milan": "italian",
    "kyoto": "japanese", "barcelona": "spanish",
}

# --- agreement: singular -> plural ----------------------------------------------
NOUNS_TRAIN: dict[str, str] = {
    "key": "keys", "dog": "dogs", "cat": "cats", "child": "children", "book": "books",
    "car": "cars", "house": "houses", "tree": "trees", "bird": "birds", "friend": "friends",
    "teacher": "teachers", "student": "students", "door": "doors", "window": "windows",
    "letter": "letters", "box": "boxes", "chair": "chairs", "road": "roads", "river": "rivers",
    "mountain": "mountains", "city": "cities", "story": "stories", "picture": "pictures",
    "flower": "flowers", "horse": "horses", "apple": "apples", "doctor": "doctors",
    "man": "men", "woman": "women", "foot": "feet", "person": "people", "baby": "babies",
    "boy": "boys", "girl": "girls", "king": "kings", "bridge": "bridges", "ship": "ships",
    "shoe": "shoes", "church": "churches", "knife": "knives", "leaf": "leaves", "wife": "wives",
    "potato": "potatoes", "farmer": "farmers", "garden": "gardens",
}
NOUNS_HELDOUT: dict[str, str] = {
    "mouse": "mice", "tooth": "teeth", "goose": "geese", "wolf": "wolves", "shelf": "shelves",
    "lady": "ladies", "hero": "heroes", "queen": "queens", "table": "tables", "engine": "engines",
    "painting": "paintings", "neighbor": "neighbors", "bottle": "bottles", "island": "islands",
    "question": "questions",
}
VERB = {"singular": "is", "plural": "are"}
DETERMINERS = ("the", "my", "our", "your")

# --- templates ("{x}" is the cue, the answer follows the final clause) ------------
COUNTRY_CUES = ("i grew up in {x} .", "i was born in {x} .", "my family comes from {x} .")
LECTURE_CUES = (
    "i grew up in {x} but now live in {city} .",
    "i was born in {x} but now live in {city} .",
    "i grew up in {x} but now work in {city} .",
)
FINALS = ("i speak fluent", "my first language is", "at home we speak")

# Words and phrases the fillers must not contain.
FILLER_AVOID: tuple[str, ...] = tuple(
    sorted(
        {"(", ")"}
        | set(COUNTRIES_TRAIN) | set(COUNTRIES_HELDOUT)
        | set(COUNTRIES_TRAIN.values()) | set(COUNTRIES_HELDOUT.values())
        | set(CITIES_TRAIN) | set(CITIES_HELDOUT)
        | set(CITIES_TRAIN.values()) | set(CITIES_HELDOUT.values())
        | {r.removeprefix("the ") for r in (*REGIONS_TRAIN, *REGIONS_HELDOUT)}
    )
)


@dataclass(frozen=True)
class Probe:
    family: str  # "country" | "agreement" | "lecture"
    tokens: tuple[str, ...]  # the whole probe up to and including the answer, tokenized
    answer: str  # the last token
    cue_position: int  # index in tokens of the word the answer depends on (country / noun / region's last token)
    distance: int  # filler length in tokens
    filler_start: int  # tokens[filler_start : filler_start + distance] is the filler
    cue: str  # the cue as text: "france", "keys", "the middle east"

    @property
    def prompt(self) -> tuple[str, ...]:
        return self.tokens[:-1]


def _toks(text: str) -> list[str]:
    return list(tokenize(text, cap=10_000).tokens)


def _pairs(family: str, heldout: bool) -> dict[str, str]:
    if family == "country":
        return COUNTRIES_HELDOUT if heldout else COUNTRIES_TRAIN
    if family == "lecture":
        return REGIONS_HELDOUT if heldout else REGIONS_TRAIN
    if family == "agreement":
        return NOUNS_HELDOUT if heldout else NOUNS_TRAIN
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")


@dataclass(frozen=True)
class _Spec:
    """Everything of a probe but its filler."""

    family: str
    head: tuple[str, ...]  # cue clause
    cue_position: int
    cue: str
    tail: tuple[str, ...]  # final clause, without the answer
    answer: str


def _spec(family: str, rng: random.Random, pairs: dict[str, str], cities: dict[str, str],
          key: str | None = None, number: str | None = None) -> _Spec:
    """Draw pair (unless ``key``), templates and (agreement) number from ``rng``."""
    if key is None:
        key = rng.choice(sorted(pairs))
    if family == "agreement":
        if number is None:
            number = rng.choice(("singular", "plural"))
        noun = key if number == "singular" else pairs[key]
        head = (rng.choice(DETERMINERS), noun)
        return _Spec(family, head, 1, noun, (), VERB[number])
    language = pairs[key]
    final = tuple(_toks(rng.choice(FINALS)))
    cue_toks = _toks(key)
    if family == "country":
        template = rng.choice(COUNTRY_CUES)
        city = None
    else:
        template = rng.choice(LECTURE_CUES)
        city = rng.choice(sorted(c for c, lang in cities.items() if lang != language))
    before = _toks(template.split("{x}")[0])
    head = tuple(_toks(template.format(x=key, city=city)))
    return _Spec(family, head, len(before) + len(cue_toks) - 1, key, final, language)


def _assemble(spec: _Spec, filler: list[str]) -> Probe:
    head = spec.head
    if spec.family == "agreement" and filler:
        head = head + ("(",)
        tail = (")",) + spec.tail
    else:
        tail = spec.tail
    tokens = head + tuple(filler) + tail + (spec.answer,)
    return Probe(spec.family, tokens, spec.answer, spec.cue_position, len(filler), len(head), spec.cue)


def _check_split(split: str) -> None:
    if split not in PROBE_SPLITS:
        raise ValueError(f"split must be one of {PROBE_SPLITS}, got {split!r}")


def sample(rng: random.Random, split: str, distance: int, family: str | None = None) -> Probe:
    """One probe: training pairs for ``train``/``valid``, held-out pairs for ``test``;
    the filler (``distance`` tokens) comes from the corpus split of the same name."""
    _check_split(split)
    if distance < 0:
        raise ValueError(f"distance must be >= 0, got {distance}")
    if family is None:
        family = rng.choice(FAMILIES)
    heldout = split == "test"
    spec = _spec(family, rng, _pairs(family, heldout), CITIES_HELDOUT if heldout else CITIES_TRAIN)
    return _assemble(spec, filler_tokens(split, distance, rng, avoid=FILLER_AVOID))


def heldout_set(distances=(0, 5, 10, 20, 50, 100, 200), per_family: int = 50, seed: int = 0) -> list[Probe]:
    """The fixed evaluation set: held-out pairs, test-split fillers.

    For each family, item i uses held-out pair i (cycling through them; agreement
    alternates singular and plural) with templates and a filler start drawn from
    its own seeded generator; the item is then built at every distance, the
    shorter fillers being prefixes of the longest, so a recall-by-distance
    curve compares the same sentences at different lengths. Ordered by family,
    then distance, then item. Deterministic for a given ``seed``.
    """
    distances = tuple(int(d) for d in distances)
    if any(d < 0 for d in distances):
        raise ValueError("distances must be >= 0")
    longest = max(distances, default=0)
    out: list[Probe] = []
    for family in FAMILIES:
        pairs = _pairs(family, heldout=True)
        keys = sorted(pairs)
        items = []
        for i in range(per_family):
            rng = random.Random(f"gatescope-heldout:{seed}:{family}:{i}")
            number = None
            if family == "agreement":
                key, number = keys[(i // 2) % len(keys)], ("singular", "plural")[i % 2]
            else:
                key = keys[i % len(keys)]
            spec = _spec(family, rng, pairs, CITIES_HELDOUT, key=key, number=number)
            items.append((spec, filler_tokens("test", longest, rng, avoid=FILLER_AVOID)))
        for d in distances:
            out.extend(_assemble(spec, filler[:d]) for spec, filler in items)
    return out


def draw_distance(rng: random.Random, max_distance: int) -> int:
    """Training filler length: a 50/50 mixture of uniform on 0..max_distance and
    log-uniform (floor(exp(U(0, ln(max_distance + 1)))) - 1). Every length occurs;
    short ones are commoner (a gentle curriculum) while about 38% of the
    draws for max_distance 250 are above 100."""
    if max_distance < 0:
        raise ValueError(f"max_distance must be >= 0, got {max_distance}")
    if rng.random() < 0.5:
        return rng.randint(0, max_distance)
    d = int(math.exp(rng.uniform(0.0, math.log(max_distance + 1)))) - 1
    return min(max(d, 0), max_distance)


def training_probes(rng: random.Random, max_distance: int | Callable[[], int] = 250,
                    fact_rate: float = FACT_RATE) -> Iterator[Probe]:
    """Endless training probes with train-split fillers, family chosen uniformly.

    With probability ``fact_rate`` a fact: any pair (training or held-out, and any
    city), distance 0..FACT_MAX_DISTANCE. Otherwise a long-range probe: training
    pairs and cities only, distance from ``draw_distance``. ``max_distance`` may
    be a function, asked before every probe (a curriculum that lengthens the fillers).
    """
    while True:
        limit = max_distance() if callable(max_distance) else max_distance
        yield training_probe(rng, draw_distance(rng, limit), fact_rate)


def training_probe(rng: random.Random, distance: int, fact_rate: float = FACT_RATE) -> Probe:
    """One training probe, train-split filler, family chosen uniformly: with probability
    ``fact_rate`` a fact (any pair, held-out ones included, distance 0..FACT_MAX_DISTANCE),
    otherwise a long-range probe of a training pair at ``distance``."""
    family = rng.choice(FAMILIES)
    if rng.random() < fact_rate:
        pairs = {**_pairs(family, False), **_pairs(family, True)}
        spec = _spec(family, rng, pairs, {**CITIES_TRAIN, **CITIES_HELDOUT})
        distance = rng.randint(0, FACT_MAX_DISTANCE)
    else:
        spec = _spec(family, rng, _pairs(family, False), CITIES_TRAIN)
    return _assemble(spec, filler_tokens("train", distance, rng, avoid=FILLER_AVOID))


def training_stream(rng: random.Random, max_distance: int = 250) -> Iterator[list[str]]:
    """``training_probes`` as token lists, each closed with "." (a sentence for the LM)."""
    for probe in training_probes(rng, max_distance):
        yield [*probe.tokens, "."]


def vocabulary_words() -> list[str]:
    """Every token a probe can produce outside its filler, sorted."""
    words: set[str] = {"(", ")", ".", *VERB.values(), *DETERMINERS}
    texts = [*COUNTRY_CUES, *LECTURE_CUES, *FINALS]
    for table in (COUNTRIES_TRAIN, COUNTRIES_HELDOUT, REGIONS_TRAIN, REGIONS_HELDOUT, CITIES_TRAIN, CITIES_HELDOUT):
        texts += [*table, *table.values()]
    for table in (NOUNS_TRAIN, NOUNS_HELDOUT):
        texts += [*table, *table.values()]
    for text in texts:
        words.update(_toks(text.replace("{x}", " ").replace("{city}", " ")))
    return sorted(words)
