"""html_to_text reads HTML of any depth (issue 24, finding 1).

libxml2's HTML parser stops at 255 levels of nesting (2,048 with huge_tree)
and used to drop the rest of a description without a word; a recursive walk
would hit Python's recursion limit long before 100,000 levels.
"""

from __future__ import annotations

import time

import pytest

from pipeline.normalize.text import html_to_text


def nested(depth: int, inner: str, tag: str = "div") -> str:
    return f"<{tag}>" * depth + inner + f"</{tag}>" * depth


@pytest.mark.parametrize("depth", [254, 255, 256, 300, 1_000, 2_047, 2_048, 5_000])
def test_deeply_nested_text_is_kept_with_the_text_around_it(depth: int) -> None:
    raw = "<p>Before the nesting.</p>" + nested(depth, "deep text") + "After the nesting."
    assert html_to_text(raw) == "Before the nesting.\n\ndeep text\n\nAfter the nesting."


def test_bare_deep_nesting() -> None:
    assert html_to_text(nested(300, "deep text")) == "deep text"


def test_deep_inline_nesting_keeps_all_text() -> None:
    assert html_to_text(nested(3_000, "bold", "b") + " tail") == "bold tail"


def test_a_hundred_thousand_levels_neither_recurse_nor_lose_text() -> None:
    raw = "intro " + nested(100_000, "deep &amp; text<script>evil()</script>") + " outro"
    started = time.monotonic()
    assert html_to_text(raw) == "intro\n\ndeep & text\n\noutro"
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("depth", [300, 3_000])
def test_deep_markup_reads_like_the_same_markup_shallow(depth: int) -> None:
    def page(depth: int) -> str:
        return ("<p>intro</p>" + nested(depth, "<style>x{}</style>middle<!-- c --> part", "span")
                + "<ul><li>one</li><li>two</li></ul>")

    assert html_to_text(page(depth)) == html_to_text(page(10)) == "intro\nmiddle part\none\n\ntwo"


@pytest.mark.parametrize(("raw", "text"), [
    ("<p>One</p><p>Two &amp; three</p>", "One\n\nTwo & three"),
    ("a<!-- c -->b<br>c", "ab\n\nc"),
    ("<div>x<script>bad()</script>y</div>z", "xy\nz"),
    ("<ul><li>a</li><li>b</li></ul>tail", "a\n\nb\ntail"),
    ("<p>a<p>b", "a\n\nb"),
    ("<b>bold</b> and <i>it</i>", "bold and it"),
])
def test_ordinary_html_reads_as_before(raw: str, text: str) -> None:
    assert html_to_text(raw) == text


def test_many_tags_but_shallow_reads_as_before() -> None:
    """Over the threshold of tags that gets the huge_tree parser: same output."""
    raw = "".join(f"<p>Item {n} <b>bold</b></p>" for n in range(300))
    assert html_to_text(raw) == "\n\n".join(f"Item {n} bold" for n in range(300))
