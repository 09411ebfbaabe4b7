"""regen_speech.sentences: real sentence sources, deterministic selection, normalisation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from regen_speech.sentences import (
    SentenceSourceError,
    file_sentences,
    kjv_sentences,
    load_sentences,
    normalize_text,
    number_to_words,
    select_sentences,
    wordnet_sentences,
)

needs_wordnet = pytest.mark.skipif(
    not Path("/usr/share/wordnet/data.noun").is_file(), reason="Debian wordnet-base is not installed"
)


@needs_wordnet
def test_wordnet_examples_are_many_clean_sentences():
    s = wordnet_sentences()
    assert len(s) > 20000 and len(set(s)) == len(s) and list(s) == sorted(s)
    assert all(5 <= len(x.split()) <= 25 for x in s)
    assert all(x[0].isupper() and x[-1] in ".!?" and '"' not in x and "|" not in x for x in s)
    assert not any(ch.isdigit() for x in s[:2000] for ch in x)
    short = wordnet_sentences(min_words=5, max_words=8)
    assert 0 < len(short) < len(s) and all(len(x.split()) <= 8 for x in short)


@needs_wordnet
def test_selection_is_deterministic_from_the_seed():
    pool = load_sentences("wordnet")
    a, b, c = select_sentences(pool, 50, 3), select_sentences(pool, 50, 3), select_sentences(pool, 50, 4)
    assert a == b and a != c and len(set(a)) == 50


def test_selection_beyond_the_pool_uses_each_sentence_before_repeating():
    pool = ["a b c d e.", "f g h i j.", "k l m n o."]
    got = select_sentences(pool, 7, 0)
    assert sorted(got[:3]) == sorted(pool) and sorted(got[3:6]) == sorted(pool) and len(got) == 7
    with pytest.raises(ValueError):
        select_sentences(pool, 0, 0)


@pytest.mark.skipif(shutil.which("bible") is None, reason="Debian bible-kjv is not installed")
def test_kjv_sentences():
    s = kjv_sentences()
    assert len(s) > 10000 and "In the beginning God created the heaven and the earth." in s


def test_file_source_keeps_order_and_rejects_bad_lines(tmp_path):
    good = tmp_path / "s.txt"
    good.write_text("Second line comes first here.\n\n  Then   this one.  \n", encoding="utf-8")
    assert file_sentences(good) == ["Second line comes first here.", "Then this one."]
    assert load_sentences(good) == file_sentences(good)
    bad = tmp_path / "bad.txt"
    bad.write_text("fine sentence\nnot | fine\n", encoding="utf-8")
    with pytest.raises(SentenceSourceError, match=r"bad.txt:2"):
        file_sentences(bad)
    with pytest.raises(SentenceSourceError, match="not found"):
        file_sentences(tmp_path / "missing.txt")
    (tmp_path / "blank.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(SentenceSourceError, match="no sentences"):
        file_sentences(tmp_path / "blank.txt")


def test_missing_wordnet_names_the_debian_package(tmp_path):
    with pytest.raises(SentenceSourceError, match="wordnet-base"):
        wordnet_sentences(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He paid $5 & left.", "He paid five dollars and left."),
        ("In 1984 it rose 12.5%.", "In one thousand nine hundred eighty four it rose twelve point five percent."),
        ("The 21st and 3rd runners, 1,000,000 fans", "The twenty first and third runners, one million fans"),
        ("\u201cQuoted\u201d \u2014 dash\u2019s", '"Quoted" - dash\'s'),
    ],
)
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


def test_number_to_words():
    assert [number_to_words(n) for n in (0, 13, 40, 99, 101, 7000, 1_000_001)] == [
        "zero", "thirteen", "forty", "ninety nine", "one hundred one", "seven thousand", "one million one",
    ]  # fmt: skip
