"""Inflected forms: the stems a place name and a word of running text share.

In Latvian, Lithuanian, Polish, Estonian, Russian and Ukrainian a name
changes its ending with its role ("Igaunijā", "в Риге", "у Ризі",
"Vilniuje", "w Krakowie", "Tartus"): a capitalised word matches a name when
it is the name, or the name's stem plus an ending of up to three letters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pipeline.normalize.text import fold

_VOWELS = set("aeiouyаеиіыьюяєїэо")
WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


def name_stems(name: str) -> set[str]:
    """The name and the stems its inflected forms share (folded)."""
    out = {name}
    if len(name) >= 4 and name[-1] in _VOWELS:
        out.add(name[:-1])
        if name[-2:] in {"га", "ha"}:
            out.add(name[:-2] + "з")
        if name[-2:] == "ка":
            out.add(name[:-2] + "ц")
    if len(name) > 5 and name[-2:] in {"as", "is", "us", "ys", "es"}:
        out.add(name[:-2])
    if len(name) > 4 and name[-1] == "s":
        out.add(name[:-1])
    return {s for s in out if len(s) >= 3}


def word_stems(word: str) -> Iterator[str]:
    """The stems an inflected word may have, longest first, leaving a plausible
    ending: at most one letter after a 3-letter stem, two after 4, three after longer."""
    folded = fold(word)
    for cut in range(4):
        stem = folded[: len(folded) - cut] if cut else folded
        if len(stem) < 3:
            break
        if cut > max(1, len(stem) - 2) or (len(stem) == 4 and cut > 2):
            continue
        yield stem


def lookup_word(word: str, index: Any) -> list:
    """Entries under the longest stem of ``word`` (:func:`word_stems`) that has any."""
    for stem in word_stems(word):
        found = index.get(stem)
        if found:
            return found
    return []



def capitalised(text: str) -> list[re.Match[str]]:
    return [m for m in WORD.finditer(text) if m.group(0)[0].isupper()]



# Baltic locative endings: "Igaunijā", "Portugālē", "Lietuvoje", "Vilniuje".
LOCATIVE_ENDING = re.compile(r"(?:[āēīū]|oje|uje|yje|ėje)$", re.IGNORECASE)
