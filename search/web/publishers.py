"""Who publishes a listing, as a result card names it.

A card's source link said the host of the listing's address; for the replay
every source is ``127.0.0.1``, and for a real one a host such as
``youth.europa.eu`` says less to a newcomer than "European Youth Portal". The
app is given each registered source's publisher, home page and domains (plain
data: the search layer does not read the registry) and names a listing's
source by its id, and an "also listed on" address by the source whose domains
hold it (the one whose home page shares most path segments with it when several
publishers share a host)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Publisher:
    name: str
    home_url: str
    domains: tuple[str, ...]

    def holds(self, host: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class Publishers:
    by_source: dict[str, Publisher] = field(default_factory=dict)

    def of_source(self, source_id: str) -> str | None:
        publisher = self.by_source.get(source_id)
        return publisher.name if publisher else None

    def of_url(self, url: str) -> str | None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        candidates = [p for p in self.by_source.values() if p.holds(host)]
        if len({p.name for p in candidates}) <= 1:
            return candidates[0].name if candidates else None

        def shared(p: Publisher) -> int:
            home = urlsplit(p.home_url)
            if home.netloc.lower() != parts.netloc.lower():
                return -1
            same = 0
            for a, b in zip(home.path.split("/"), parts.path.split("/"), strict=False):
                if a != b:
                    break
                same += 1
            return same

        ranked = sorted(candidates, key=shared, reverse=True)
        best = shared(ranked[0])
        if best < 0 or {p.name for p in ranked if shared(p) == best} != {ranked[0].name}:
            return None
        return ranked[0].name
