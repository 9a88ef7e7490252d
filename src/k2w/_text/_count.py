"""Word splitting and word and syllable counts.

k2w does no dictionary-based word segmentation. A word is a run of letters, digits and
combining marks. An apostrophe inside a run joins it ("don't"), and so does a hyphen, except
in Vietnamese where a hyphen separates syllables ("Mát-xcơ-va" is three). A dot or comma
between digits joins a number ("1,5" and "3.14" are one word). Every Chinese character and
every Japanese kana is a word of its own, because those scripts put no spaces between words.
Everything else, punctuation and emoji included, separates words and is not counted.

Written Vietnamese puts a space between syllables, not between words: "máy lọc không khí"
is two words but four syllables. Without segmentation, each space-separated syllable counts
as one word, so for Vietnamese the word count equals the syllable count. The SEO bands in
k2w (for example paragraphs of at most 150 words) are applied to these counts unchanged.
"""

from __future__ import annotations

import unicodedata

from k2w._text._language import validate_language

__all__ = ["count_syllables", "count_words", "split_words"]

_APOSTROPHES = frozenset("'’")
_HYPHENS = frozenset("-‐‑")
_DECIMAL_SEPARATORS = frozenset(".,")

# Han ideographs (with extension A, compatibility ideographs and the supplementary
# planes), hiragana, katakana and half-width katakana.
_IDEOGRAPHIC_RANGES = (
    (0x3040, 0x30FF),
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
    (0x20000, 0x3FFFF),
)
_HANGUL_SYLLABLES = (0xAC00, 0xD7A3)

_VOWELS = frozenset("aeiouy")


def split_words(text: str, language: str) -> list[str]:
    """Split ``text`` into words in NFC, dropping punctuation, symbols and emoji.

    The rules are in this module's documentation. ``language`` must be one of
    :data:`SUPPORTED_LANGUAGES`. It changes only how hyphens are read.

    >>> split_words("Máy lọc không khí: 1,5 triệu đồng!", "vi")
    ['Máy', 'lọc', 'không', 'khí', '1,5', 'triệu', 'đồng']
    """
    language = validate_language(language)
    composed = unicodedata.normalize("NFC", text)
    joiners = _APOSTROPHES if language == "vi" else _APOSTROPHES | _HYPHENS

    words: list[str] = []
    current: list[str] = []
    for position, char in enumerate(composed):
        following = composed[position + 1] if position + 1 < len(composed) else ""

        if _is_ideographic(char):
            _flush(current, words)
            words.append(char)
        elif _is_word_char(char) or _joins_word(current, char, following, joiners):
            current.append(char)
        else:
            _flush(current, words)

    _flush(current, words)
    return words


def count_words(text: str, language: str) -> int:
    """Count the words in plain ``text`` as :func:`split_words` splits them.

    For Vietnamese, each space-separated syllable counts as a word, so this equals
    :func:`count_syllables`. NFC and NFD input give the same count.
    """
    return len(split_words(text, language))


def count_syllables(text: str, language: str) -> int:
    """Estimate the syllables in plain ``text``.

    - Vietnamese and Thai: one per word, which is exact for Vietnamese and an undercount
      for Thai, whose words are not split.
    - Chinese and Japanese: one per character, which for kana is closer to a mora count.
    - Korean: one per Hangul syllable block.
    - Other languages: the runs of vowels in each word with accents removed, at least one
      per word. English also drops a silent final "e" and the silent "e" of "-ed" and
      "-es" endings. This is an estimate that misses words like "create".

    A number counts as one syllable. NFC and NFD input give the same count.
    """
    language = validate_language(language)
    return sum(_word_syllables(word, language) for word in split_words(text, language))


def _flush(current: list[str], words: list[str]) -> None:
    if current:
        words.append("".join(current))
        current.clear()


def _joins_word(current: list[str], char: str, following: str, joiners: frozenset[str]) -> bool:
    if not current or not following:
        return False
    if char in joiners:
        return _is_word_char(following) and not _is_ideographic(following)
    return char in _DECIMAL_SEPARATORS and current[-1].isdigit() and following.isdigit()


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM"


def _is_ideographic(char: str) -> bool:
    code = ord(char)
    return any(start <= code <= end for start, end in _IDEOGRAPHIC_RANGES)


def _is_hangul_syllable(char: str) -> bool:
    start, end = _HANGUL_SYLLABLES
    return start <= ord(char) <= end


def _word_syllables(word: str, language: str) -> int:
    hangul = sum(1 for char in word if _is_hangul_syllable(char))
    if hangul:
        return hangul

    if language in {"vi", "th", "zh", "ja"} or _is_ideographic(word[0]):
        return 1

    letters = _ascii_letters(word)
    if not letters:
        return 1

    return _vowel_group_syllables(letters, english=language == "en")


def _ascii_letters(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.casefold())
    return "".join(char for char in decomposed if "a" <= char <= "z")


def _vowel_group_syllables(letters: str, *, english: bool) -> int:
    groups = 0
    previous_is_vowel = False
    for position, char in enumerate(letters):
        # A "y" that starts a word is a consonant ("yes", "young").
        is_vowel = char in _VOWELS and not (char == "y" and position == 0)
        if is_vowel and not previous_is_vowel:
            groups += 1
        previous_is_vowel = is_vowel

    if english and groups > 1 and _ends_with_silent_e(letters):
        groups -= 1

    return max(groups, 1)


def _ends_with_silent_e(letters: str) -> bool:
    if len(letters) < 3:
        return False

    last, before, before_that = letters[-1], letters[-2], letters[-3]
    if last == "e":
        # "make" has a silent e, but "table" and "coffee" do not.
        return before not in _VOWELS and not (before == "l" and before_that not in _VOWELS)
    if last == "d" and before == "e":
        # "jumped" loses the e, "wanted" keeps it.
        return before_that not in _VOWELS and before_that not in "td"
    if last == "s" and before == "e":
        # "makes" loses the e, "boxes" and "changes" keep it.
        return before_that not in _VOWELS and before_that not in "sxzcgh"
    return False
