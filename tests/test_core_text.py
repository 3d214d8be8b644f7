"""Tokenizer and vocabulary (core.text), and what a WordModel does with awkward text."""

from __future__ import annotations

import itertools
import json
import random

import pytest
import torch

from core.models import CheckpointError, ModelConfig, WordModel, load, save
from core.text import BLANK, NUM, PAD, SPECIALS, UNK, Vocab, encode, tokenize
from core.trace import Trace

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man ZWJ woman ZWJ girl ZWJ boy
FLAG = "\U0001f1eb\U0001f1f7"  # regional indicators F R
THUMBS = "\U0001f44d\U0001f3fd"  # thumbs up + medium skin tone
HEART = "\u2764\ufe0f"  # heart + variation selector 16


pytestmark = pytest.mark.usefixtures("one_intra_op_thread")  # tests/conftest.py


def toks(text: str, **kw) -> list[str]:
    return list(tokenize(text, **kw).tokens)


# -- the lecture's sentences ------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,expected",
    [
        ("Apple is my favorite fruit", ["apple", "is", "my", "favorite", "fruit"]),
        (
            "Apple is my favorite ___, and I work there",
            ["apple", "is", "my", "favorite", "___", ",", "and", "i", "work", "there"],
        ),
        (
            "I grew up in the Middle East but now live in London. I speak fluent ___",
            [
                "i",
                "grew",
                "up",
                "in",
                "the",
                "middle",
                "east",
                "but",
                "now",
                "live",
                "in",
                "london",
                ".",
                "i",
                "speak",
                "fluent",
                "___",
            ],
        ),
        ("The food was good, not bad at all", ["the", "food", "was", "good", ",", "not", "bad", "at", "all"]),
        ("The food was bad, not good at all", ["the", "food", "was", "bad", ",", "not", "good", "at", "all"]),
        ("0.5^50", ["0.5", "^", "50"]),
        ("don't stop, someone's well-known", ["don't", "stop", ",", "someone's", "well", "-", "known"]),
    ],
)
def test_lecture_sentences(text, expected):
    tk = tokenize(text)
    assert list(tk.tokens) == expected
    assert (tk.truncated, tk.total, len(tk)) == (False, len(expected), len(expected))


def test_lower_casing():
    assert toks("APPLE Apple aPPle") == ["apple"] * 3
    assert toks("ÉCOLE École") == ["école"] * 2


@pytest.mark.parametrize("text", ["12abc", "2nd3", "x12y"])
def test_a_run_of_letters_and_digits_is_one_word(text):
    """A word is a run of letters, marks and digits: the digits in it are never split off."""
    assert toks(text) == [text]


@pytest.mark.parametrize("text", ["8.88e-16", "1.1259e15", "2^50 = 1.1259e15"])
def test_a_run_of_digits_is_never_split(text):
    """The lecture's numbers: whatever the tokens, no boundary falls between two adjacent digits."""
    tokens = toks(text)
    assert "".join(tokens) == text.replace(" ", "")
    pos = 0
    compact = text.replace(" ", "")
    for a, b in itertools.pairwise(tokens):
        pos += len(a)
        if compact[pos - 1].isdigit() and compact[pos].isdigit():
            pytest.fail(f"{text!r} -> {tokens}: a token boundary splits the digits {a!r} | {b!r}")


# -- numbers, unknown words, blanks ------------------------------------------------------------
@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab(["apple", "is", "my", "favorite", "fruit", ",", "i", "have", "apples"])


def test_numbers_map_to_num_but_keep_their_text(vocab):
    enc = encode("I have 1,200 apples, 3.5 and 7", vocab)
    assert enc.tokens == ("i", "have", "1,200", "apples", ",", "3.5", "and", "7")
    num = vocab.stoi[NUM]
    assert [enc.ids[i] for i in (2, 5, 7)] == [num] * 3
    assert enc.unknown == (6,)  # "and"; numbers are not unknown
    assert enc.ids[6] == vocab.stoi[UNK]


def test_unknown_words_map_to_unk_with_positions(vocab):
    enc = encode("Apple is my favorite zyzzyva , quux", vocab)
    assert enc.tokens == ("apple", "is", "my", "favorite", "zyzzyva", ",", "quux")
    assert enc.unknown == (4, 6)
    assert [enc.ids[i] for i in enc.unknown] == [vocab.stoi[UNK]] * 2
    assert vocab.decode(enc.ids) == ["apple", "is", "my", "favorite", UNK, ",", UNK]
    assert vocab.unknown(enc.tokens) == [4, 6]
    assert (enc.truncated, enc.total) == (False, 7)


def test_blanks(vocab):
    enc = encode("apple __ is ____ my _ fruit", vocab)
    assert enc.tokens == ("apple", "___", "is", "___", "my", "_", "fruit")
    assert enc.ids[1] == enc.ids[3] == vocab.stoi[BLANK]
    assert enc.ids[5] == vocab.stoi[UNK]


# -- Unicode ------------------------------------------------------------------------------------
def test_nfc_decomposed_equals_composed():
    decomposed, composed = "cafe\u0301 Ame\u0301lie", "caf\u00e9 Am\u00e9lie"
    assert decomposed != composed
    assert toks(decomposed) == toks(composed) == ["caf\u00e9", "am\u00e9lie"]


def test_control_characters_dropped_whitespace_controls_are_spaces():
    assert toks("ap\x00ple") == ["apple"]  # NUL dropped, the word is whole
    assert toks("a\x01b\x07c\x1b\x7fd\x9be") == ["abcde"]  # C0 and C1 controls
    assert toks("one\ttwo\nthree\r\nfour\x0bfive\x0csix\x85seven") == [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
    ]
    for t in toks("x\x00 \x01y\ufeff"):
        assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c == "\ufeff" for c in t)


@pytest.mark.parametrize("control", [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]])
def test_bidi_overrides_and_isolates_are_dropped(control):
    assert toks(f"ab{control}cd {control}ef{control}") == ["abcd", "ef"]
    assert toks(control) == []


@pytest.mark.parametrize("emoji", [FAMILY, FLAG, THUMBS, HEART], ids=["family-zwj", "flag", "skin-tone", "heart-vs16"])
def test_emoji_sequences_are_one_token(emoji):
    assert toks(emoji) == [emoji]
    assert toks(f"i {emoji} ny") == ["i", emoji, "ny"]
    assert toks(f"{emoji}{emoji}") == [emoji, emoji]


def test_two_flags_are_two_tokens():
    assert toks(FLAG + "\U0001f1e9\U0001f1ea") == [FLAG, "\U0001f1e9\U0001f1ea"]


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
            ["\u0645\u0631\u062d\u0628\u0627", "\u0628\u0627\u0644\u0639\u0627\u0644\u0645"],
        ),  # Arabic
        (
            "\u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627",
            ["\u0645\u064e\u0631\u0652\u062d\u064e\u0628\u064b\u0627"],
        ),  # Arabic with vowel marks
        (
            "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd!",
            ["\u05e9\u05dc\u05d5\u05dd", "\u05e2\u05d5\u05dc\u05dd", "!"],
        ),  # Hebrew
        (
            "I said \u05e9\u05dc\u05d5\u05dd to \u0645\u0631\u062d\u0628\u0627",
            ["i", "said", "\u05e9\u05dc\u05d5\u05dd", "to", "\u0645\u0631\u062d\u0628\u0627"],
        ),
    ],
)
def test_right_to_left_words_are_tokens(text, expected):
    assert toks(text) == expected


def test_persian_word_with_zwnj_is_one_token():
    """core/text.py: "Joiners (ZWJ, ZWNJ) stay: emoji sequences and Persian words need them"."""
    word = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # mi-khaham, "I want", with a ZWNJ
    assert toks(word) == [word]


# -- the cap ----------------------------------------------------------------------------------
def test_cap_counts_tokens_not_characters():
    words = [f"word{i:04d}" + "x" * 11 for i in range(1000)]  # 19 characters + a space each
    text = " ".join(words)
    assert len(text) >= 19_999
    tk = tokenize(text)
    assert len(tk.tokens) == 512 and tk.cap == 512
    assert tk.truncated is True
    assert tk.total == 1000
    assert list(tk.tokens) == words[:512]
    small = tokenize(text, cap=5)
    assert (list(small.tokens), small.truncated, small.total) == (words[:5], True, 1000)
    exact = tokenize(" ".join(words[:512]))
    assert (len(exact), exact.truncated, exact.total) == (512, False, 512)
    with pytest.raises(ValueError):
        tokenize("a", cap=0)


def test_punctuation_counts_against_the_cap():
    tk = tokenize("a, " * 300)
    assert (len(tk), tk.truncated, tk.total) == (512, True, 600)


def test_a_long_word_is_one_token():
    word = "a" * 2000
    assert toks(word) == [word]
    assert toks(f"{word} end") == [word, "end"]
    assert toks("9" * 2000) == ["9" * 2000]


@pytest.mark.parametrize("text", ["", " ", "   ", "\t\n\r ", "\x00\x01", "\u202e\u2066", "\u00a0\u3000"])
def test_empty_and_whitespace_give_zero_tokens(text):
    tk = tokenize(text)
    assert (tk.tokens, tk.truncated, tk.total, len(tk)) == ((), False, 0, 0)


def test_tokenize_rejects_non_strings():
    with pytest.raises(TypeError):
        tokenize(b"bytes")


# -- Vocab ------------------------------------------------------------------------------------
def test_vocab_specials_first_and_lookup():
    v = Vocab(["b", "a"])
    assert v.itos[:4] == SPECIALS and v.itos[4:] == ("b", "a")
    assert v.stoi[PAD] == 0 and len(v) == 6
    assert "a" in v and "z" not in v
    assert v.encode(["a", "z", "42", "___"]) == [5, v.stoi[UNK], v.stoi[NUM], v.stoi[BLANK]]
    with pytest.raises(ValueError):
        Vocab(["a", "a"])


@pytest.mark.parametrize("words", [["b", "a", UNK], [UNK, PAD, NUM, BLANK, "a"], [PAD, UNK, "a", NUM, BLANK]],
                         ids=["special-at-the-end", "specials-swapped", "special-among-words"])
def test_vocab_refuses_specials_out_of_place(words, tmp_path):
    """Reordering them would shift every id: a vocab.json with <unk> at 0 would load with its words moved."""
    with pytest.raises(ValueError, match="special tokens must be the first 4"):
        Vocab(words)
    (tmp_path / "vocab.json").write_text(json.dumps(words), encoding="utf-8")
    with pytest.raises(ValueError, match="shift the ids"):
        Vocab.load(tmp_path / "vocab.json")


def test_a_model_folder_with_a_reordered_vocabulary_does_not_load(tmp_path):
    model = WordModel(ModelConfig("rnn", 6, embed_dim=4, hidden_size=3), Vocab(["a", "b"]))
    save(model, tmp_path / "rnn")
    (tmp_path / "rnn" / "vocab.json").write_text(json.dumps([UNK, PAD, NUM, BLANK, "a", "b"]), encoding="utf-8")
    with pytest.raises(CheckpointError, match="vocab.json"):
        load("rnn", tmp_path)


def test_vocab_save_load_round_trip(tmp_path):
    v = Vocab(["apple", "caf\u00e9", "\u0645\u0631\u062d\u0628\u0627", FAMILY, "don't", ","])
    path = tmp_path / "vocab.json"
    v.save(path)
    back = Vocab.load(path)
    assert back.itos == v.itos and back.stoi == v.stoi
    path.write_text('{"not": "a list"}', encoding="utf-8")
    with pytest.raises(ValueError):
        Vocab.load(path)


def test_vocab_build_is_deterministic_and_keeps_keep_words():
    sentences = [
        toks(s)
        for s in [
            "the food was good not bad at all",
            "the food was bad not good at all",
            "apple is my favorite fruit",
            "apple is my favorite ___ and i work there 42",
        ]
    ]
    a = Vocab.build(sentences, size=12, keep=["london", "fluent", "london"])
    b = Vocab.build(list(reversed(sentences)), size=12, keep=["london", "fluent"])
    shuffled = sentences[:]
    random.Random(0).shuffle(shuffled)
    c = Vocab.build(shuffled, size=12, keep=["london", "fluent"])
    assert a.itos == b.itos == c.itos
    assert len(a) == 12
    assert a.itos[:6] == (*SPECIALS, "london", "fluent")
    # most frequent first, ties alphabetical; numbers and blanks are never words
    assert a.itos[6:] == ("all", "apple", "at", "bad", "favorite", "food")
    assert "42" not in a and "___" not in a
    assert len(Vocab.build(sentences, size=1000)) == 4 + len({t for s in sentences for t in s} - {"42", "___"})


# -- awkward text through a WordModel ------------------------------------------------------------
AWKWARD = {
    "empty": "",
    "spaces": "   ",
    "whitespace controls": "\t\n\r",
    "NUL and controls": "\x00\x01\x7f",
    "bidi only": "\u202e\u2066\u202c",
    "bidi inside": "apple \u202eis\u202c my",
    "NUL inside": "app\x00le is",
    "lone surrogate": "apple \ud800 fruit",
    "decomposed": "cafe\u0301",
    "family emoji": FAMILY,
    "flag and skin tone": f"{FLAG} {THUMBS}",
    "zwj alone": "\u200d",
    "combining mark alone": "\u0301",
    "arabic": "\u0645\u0631\u062d\u0628\u0627",
    "hebrew": "\u05e9\u05dc\u05d5\u05dd",
    "numbers": "1,200 3.5 0.5^50 = 8.88e-16",
    "blanks": "___ ___",
    "specials typed": "<unk> <pad> <num>",
    "private use": "\ue000\U0010fffd",
    "long word": "a" * 2000,
    "long text": " ".join(["apple"] * 1000) + "x" * 15_000,
    "html": "<script>alert(1)</script>",
}


@pytest.fixture(scope="module")
def models() -> dict[str, WordModel]:
    vocab = Vocab.build([toks("apple is my favorite fruit and i work there")], size=14)
    out = {}
    for arch in ("rnn", "lstm", "gru", "bilstm", "transformer"):
        torch.manual_seed(0)
        out[arch] = WordModel(ModelConfig(arch, len(vocab), embed_dim=6, hidden_size=5, heads=2), vocab).eval()
    return out


@pytest.mark.parametrize("text", list(AWKWARD.values()), ids=list(AWKWARD))
@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru", "bilstm", "transformer"])
def test_word_model_trace_on_awkward_text_gives_a_trace_or_a_clear_value_error(models, arch, text):
    model = models[arch]
    tk = tokenize(text)
    try:
        tr = model.trace(text)
    except ValueError as e:
        assert len(tk) == 0, f"a ValueError for text that has tokens: {e}"
        assert "word" in str(e)
        return
    assert isinstance(tr, Trace)
    assert len(tk) > 0
    assert tr.tokens == tk.tokens and tr.truncated == tk.truncated
    assert tr["logits"].shape == (len(tk), len(model.vocab))
    assert torch.isfinite(tr["logits"]).all()
