"""Feeds of a search, parsed as a reader would."""

from __future__ import annotations

import feedparser
from fastapi.testclient import TestClient


def parsed_feed(client: TestClient, kind: str, q: str) -> tuple[feedparser.FeedParserDict, bytes]:
    """A feed of a search, which must be well-formed XML, and its bytes."""
    response = client.get(f"/search.{kind}", params={"q": q})
    assert response.status_code == 200
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    return feed, response.content
