"""Near-duplicate clusters: what a searcher sees as one card."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.events import Opportunity, RawOpportunity
from pipeline.normalize import normalize
from pipeline.normalize.dedupe import MAX_ALSO_LISTED, Deduplicator

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def listing(source: str, n: int, title: str, org: str = "Zaļā Rīga", minutes: int = 0) -> Opportunity:
    return normalize(RawOpportunity(
        source_id=source, external_id=str(n), url=f"https://{source}.example/o/{n}", crawl_id="c",
        fetched_at=T0 + timedelta(minutes=minutes), extraction_method="json-ld", title=title,
        organisation_name=org, city="Rīga", country="LV", source_language="en",
        description_html="<p>Help us.</p>"), now=T0)


def place_all(opps: list[Opportunity]) -> tuple[Deduplicator, dict[str, Opportunity]]:
    dedupe = Deduplicator()
    return dedupe, {o.id: dedupe.place(o) for o in opps}


def test_the_same_opportunity_on_two_sites_is_one_cluster() -> None:
    host = listing("host", 1, "Tree planting weekend in Ķemeri park", minutes=0)
    portal = listing("portal", 9, "Tree planting weekend in Ķemeri park!", minutes=5)
    _, out = place_all([host, portal])
    assert out[portal.id].cluster_id == host.id
    assert out[portal.id].provenance.also_listed_on == [host.url]


def test_look_alike_listings_of_one_source_stay_apart() -> None:
    """A source lists each opportunity once: two of its listings are two
    opportunities, however alike (the real Hamburg data has hundreds of
    "Unterstützung im Team …" listings of one agency)."""
    finance = listing("hamburg", 1, "Unterstützung im Team Finanzen", org="Alte Freunde e.V.")
    office = listing("hamburg", 2, "Unterstützung im Team Büro", org="Alte Freunde e.V.", minutes=1)
    _, out = place_all([finance, office])
    assert out[office.id].cluster_id == office.id
    assert out[office.id].provenance.also_listed_on == []


def test_look_alikes_do_not_chain_into_one_cluster() -> None:
    """b duplicates a, c duplicates b but not a: c does not join a's cluster."""
    a = listing("s1", 1, "Homework club tutors", minutes=0)
    b = listing("s2", 2, "Homework club tutors: Saturday morning reading", minutes=1)
    c = listing("s3", 3, "Saturday morning reading, garden cleanup team", minutes=2)
    dedupe, out = place_all([a, b, c])
    assert out[b.id].cluster_id == a.id
    assert out[c.id].cluster_id == c.id
    assert dedupe.cluster(a.id) == [a.id, b.id]


def test_a_cluster_holds_one_listing_per_source() -> None:
    a = listing("s1", 1, "Beach clean-up volunteers", minutes=0)
    b = listing("s2", 2, "Beach clean-up volunteers", minutes=1)
    b2 = listing("s2", 3, "Beach clean-up volunteers", minutes=2)  # s2 lists it twice
    dedupe, out = place_all([a, b, b2])
    assert out[b.id].cluster_id == a.id
    assert out[b2.id].cluster_id == b2.id
    assert dedupe.cluster(a.id) == [a.id, b.id]


def test_cluster_ids_never_change_and_survive_the_founder() -> None:
    a = listing("s1", 1, "Animal shelter dog walking", minutes=0)
    b = listing("s2", 2, "Animal shelter dog walking", minutes=1)
    c = listing("s3", 3, "Animal shelter dog walking", minutes=2)
    dedupe, _ = place_all([a, b])
    dedupe.remove(a.id)  # the founder closes
    assert dedupe.place(c).cluster_id == a.id  # b's cluster keeps its id for newcomers
    changed = b.model_copy(update={"title": "Animal shelter dog walking (weekends)"})
    assert dedupe.place(changed).cluster_id == a.id  # an update keeps it too
    assert dedupe.place(a.model_copy()).cluster_id == a.id  # so does the founder coming back


def test_also_listed_on_is_bounded() -> None:
    opps = [listing(f"s{i}", i, "European Solidarity Corps team in Cēsis", minutes=i)
            for i in range(MAX_ALSO_LISTED + 20)]
    _, out = place_all(opps)
    last = out[opps[-1].id]
    assert last.cluster_id == opps[0].id
    assert len(last.provenance.also_listed_on) == MAX_ALSO_LISTED
    assert opps[0].url in last.provenance.also_listed_on  # the earliest are kept


def test_restore_rebuilds_the_published_clusters() -> None:
    a = listing("s1", 1, "Choir singers wanted for a charity concert", minutes=0)
    b = listing("s2", 2, "Choir singers wanted for a charity concert", minutes=1)
    _, out = place_all([a, b])
    fresh = Deduplicator()
    for opp in out.values():
        fresh.restore(opp)
    c = listing("s3", 3, "Choir singers wanted for a charity concert", minutes=2)
    assert fresh.place(c).cluster_id == a.id
    assert sorted(fresh.place(c).provenance.also_listed_on) == sorted([a.url, b.url])


def test_real_corpus_clusters_are_small_and_one_per_source() -> None:
    """The real ESC, Hamburg and NYC records (with the gold set): clusters
    hold at most one listing per source, so no card hides hundreds of
    different listings (connected components made one of 399)."""
    from devtools.corpus import realistic_events

    opps = [normalize(e, now=e.fetched_at) for e in realistic_events() if e.title and e.title.strip()]
    dedupe, _ = place_all(opps)
    members: dict[str, list[Opportunity]] = defaultdict(list)
    for opp in {o.id: o for o in opps}.values():  # the gold set repeats some real records
        members[dedupe.apply(opp.model_copy()).cluster_id].append(opp)
    for cluster in members.values():
        assert max(Counter(o.source_id for o in cluster).values()) == 1
    assert any(len(c) > 1 for c in members.values())


def test_a_killed_normalizer_leaves_no_cluster_file(tmp_path: Path) -> None:
    """The clustering state is a private temporary SQLite file: a normalizer
    killed with -9 (or by the OOM killer) leaves nothing in the temp folder."""
    script = (
        "import sys, time\n"
        "from pipeline.normalize.dedupe import Deduplicator\n"
        "from devtools.corpus import realistic_events\n"
        "from pipeline.normalize import normalize\n"
        "d = Deduplicator()\n"
        "for e in realistic_events()[:300]:\n"
        "    d.place(normalize(e))\n"
        "d.flush()\n"
        "print(len(d), flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path), "SQLITE_TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert int(proc.stdout.readline()) > 0  # placed: the state is in use
    finally:
        proc.kill()
        proc.wait(10)
    assert list(tmp_path.iterdir()) == []


def test_a_rebuilt_index_links_listings_published_before_their_duplicates() -> None:
    """``link_all`` (tilts reindex): the normalized topic holds each listing as it
    was published; the founder, published first, learns of the later members."""
    from pipeline.links import cluster_links, link_all, member

    opps = [listing(f"s{i}", i, "Choir singers wanted for a charity concert", minutes=i) for i in range(3)]
    _, out = place_all(opps)
    published = [out[o.id] for o in opps]
    assert published[0].provenance.also_listed_on == []  # it was first
    assert link_all(published) == 2  # the founder and the second member missed someone
    for opp in published:
        assert sorted(opp.provenance.also_listed_on) == sorted(o.url for o in opps if o.id != opp.id)
    assert link_all(published) == 0 and cluster_links([member(o) for o in published]) == {}
    # bounded, earliest first, however many members
    many = [listing(f"m{i}", i, "European Solidarity Corps team in Cēsis", minutes=i)
            for i in range(MAX_ALSO_LISTED + 20)]
    links = cluster_links([member(m) for m in reversed(many)])
    assert len(links[many[0].id]) == MAX_ALSO_LISTED and many[1].url in links[many[0].id]
    assert many[-1].url not in links[many[0].id]
