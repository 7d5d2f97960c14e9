"""One contract, two search backends: SQLite FTS5 and real Elasticsearch.

Where a backend lacks something (its ``capabilities``), the test of it is an
expected failure on that backend, with the reason, and strict: a backend that
gains it fails the test until its capabilities say so.
"""

from __future__ import annotations

import threading

import pytest

from pipeline.events import Eligibility, LanguageRequirement, Status, Theme
from search.backends import SearchBackend, SearchRequest, open_backend
from tests.support.opportunities import make_opportunity


def expect_gap(request: pytest.FixtureRequest, backend: SearchBackend, lacks: bool, reason: str) -> None:
    """Mark this test an expected failure on ``backend`` when it ``lacks`` the capability."""
    if lacks:
        request.applymarker(pytest.mark.xfail(reason=f"{backend.name}: {reason}", strict=True))


def seed(backend: SearchBackend) -> None:
    docs = [
        make_opportunity(1, title="Food bank helper", country="LV", city="Riga",
                         themes=(Theme.social,), description="Sort food parcels for families."),
        make_opportunity(2, title="River clean-up", country="EE", city="Tartu",
                         themes=(Theme.environment,), description="Collect litter along the river."),
        make_opportunity(3, title="Forest planting", country="LV", city="Cēsis",
                         themes=(Theme.environment, Theme.community), description="Plant trees with locals."),
        make_opportunity(4, title="Language cafe host", country="DE", city="Berlin",
                         themes=(Theme.migrants_refugees,), description="Talk with newcomers learning German.",
                         language="de"),
    ]
    assert backend.upsert_many(docs) == []
    backend.refresh()


def ids(backend: SearchBackend, **kw: object) -> set[str]:
    return {h.id for h in backend.search(SearchRequest(**kw)).hits}  # type: ignore[arg-type]


def test_upsert_get_and_count(backend: SearchBackend) -> None:
    seed(backend)
    assert backend.count() == 4
    doc = backend.get("test-2")
    assert doc is not None and doc["title"] == "River clean-up"
    assert backend.get("missing") is None


def test_reupsert_is_idempotent_and_overwrites(backend: SearchBackend) -> None:
    seed(backend)
    seed(backend)
    changed = make_opportunity(1, title="Food bank driver", country="LV")
    backend.upsert_many([changed])
    backend.refresh()
    assert backend.count() == 4
    assert backend.get("test-1")["title"] == "Food bank driver"  # type: ignore[index]
    assert ids(backend, q="driver") == {"test-1"}
    assert ids(backend, q="helper") == set()


def test_delete(backend: SearchBackend) -> None:
    seed(backend)
    backend.delete_many(["test-2", "never-existed"])
    backend.refresh()
    assert backend.count() == 3
    assert backend.get("test-2") is None
    assert ids(backend, q="river") == set()


def test_text_query(backend: SearchBackend) -> None:
    seed(backend)
    assert ids(backend, q="river") == {"test-2"}
    assert ids(backend, q="trees") == {"test-3"}
    hits = backend.search(SearchRequest(q="food parcels")).hits
    assert [h.id for h in hits] == ["test-1"]
    # Query syntax in user input is matched literally, never an error.
    for hostile in ['"unbalanced', "a AND OR", "title:(x", "*", "NEAR(", "-"]:
        backend.search(SearchRequest(q=hostile))


def test_country_filter(backend: SearchBackend) -> None:
    seed(backend)
    assert ids(backend, country=["LV"]) == {"test-1", "test-3"}
    assert ids(backend, country=["LV", "EE"]) == {"test-1", "test-2", "test-3"}
    assert ids(backend, country=["LV"], q="forest") == {"test-3"}
    assert ids(backend, country=["FR"]) == set()


def test_facet_counts(backend: SearchBackend) -> None:
    seed(backend)
    everything = backend.search(SearchRequest())
    assert everything.total == 4
    assert everything.facets["country"] == {"LV": 2, "EE": 1, "DE": 1}
    assert everything.facets["theme"]["environment"] == 2
    assert everything.facets["language"] == {"en": 3, "de": 1}
    # A facet ignores its own filter (other countries stay visible) but applies the others.
    lv = backend.search(SearchRequest(country=["LV"]))
    assert lv.total == 2
    assert lv.facets["country"] == {"LV": 2, "EE": 1, "DE": 1}
    assert lv.facets["theme"] == {"social": 1, "environment": 1, "community": 1}
    env = backend.search(SearchRequest(theme=["environment"]))
    assert env.facets["country"] == {"LV": 1, "EE": 1}



# Listing number -> its language requirements, each the languages that meet it.
LANGUAGE_LISTINGS: dict[int, list[list[str]]] = {
    11: [],  # requires no language
    12: [["en", "ru"]],  # English or Russian
    13: [["de"]],
    14: [["en", "ru"], ["de"]],  # English or Russian, and German
    15: [["en"], ["ru"]],  # English and Russian
    16: [["lv", "ru", "uk"]],
    17: [["en", "ru"], ["de", "fr"]],
    18: [["pl"], ["en", "uk"]],
}
SPEAKS = [["en"], ["uk"], ["ru"], ["de"], ["ru", "de"], ["en", "uk"], ["fr", "en"], ["lv"], ["pl", "uk"],
          ["en", "ru", "de"], ["et"]]


def _requiring(n: int, groups: list[list[str]]) -> object:
    doc = make_opportunity(n, title=f"Listing {n}")
    languages = [LanguageRequirement(language=code, one_of=number if len(group) > 1 else None)
                 for number, group in enumerate(groups, 1) for code in group]
    # named but not required (even with a group number): never in the way
    languages.append(LanguageRequirement(language="et", required=False, one_of=1))
    doc.eligibility = Eligibility(languages=languages)
    return doc


def test_speaks_meets_a_requirement_by_any_alternative(backend: SearchBackend) -> None:
    """A listing shows when I speak a language of each of its requirements
    ("English or Russian" by either); every backend answers alike."""
    assert backend.upsert_many([_requiring(n, g) for n, g in LANGUAGE_LISTINGS.items()]) == []  # type: ignore[misc]
    backend.refresh()
    for speaks in SPEAKS:
        expected = {f"test-{n}" for n, groups in LANGUAGE_LISTINGS.items()
                    if all(set(group) & set(speaks) for group in groups)}
        assert ids(backend, speaks=speaks, size=50) == expected, speaks
    assert ids(backend, speaks=["en"], size=50) == {"test-11", "test-12"}  # the example, spelt out
    # the facet names every language a listing requires, alternatives included
    facet = backend.search(SearchRequest(size=0)).facets["required_language"]
    assert facet == {code: sum(code in {c for g in groups for c in g} for groups in LANGUAGE_LISTINGS.values())
                     for code in {c for groups in LANGUAGE_LISTINGS.values() for g in groups for c in g}}
    assert ids(backend, required_language=["fr"], size=50) == {"test-17"}
    assert ids(backend, speaks=["de"], required_language=["ru"], size=50) == set()
    # English and Russian (15) needs English too
    assert ids(backend, speaks=["ru", "de"], required_language=["en"], size=50) == {"test-12", "test-14", "test-17"}


def test_repeated_counts_follow_every_change(backend: SearchBackend) -> None:
    """Facet counts and pages of hits asked again come from a cache
    (Elasticsearch's shard request cache, SQLite's per-generation counts),
    and a change to the index shows in them as soon as it is searchable:
    never stale counts or hits."""
    seed(backend)
    request = SearchRequest(country=["LV", "EE"], theme=["environment", "social"])
    before = backend.search(request)
    assert before.total == 3 and before.facets["country"] == {"LV": 2, "EE": 1}
    assert before.facets["theme"] == {"social": 1, "environment": 2, "community": 1}
    assert backend.search(request) == before
    if backend.name == "elasticsearch":
        stats = backend.es.indices.stats(index=backend.alias, metric="request_cache")  # type: ignore[attr-defined]
        # the page of hits, the unselected facets' counts, and one count per selected facet
        assert stats["_all"]["total"]["request_cache"]["hit_count"] >= 4
    backend.upsert_many([make_opportunity(5, title="Beach clean-up", country="EE", city="Pärnu",
                                          themes=(Theme.environment,))])
    backend.refresh()
    after = backend.search(request)
    assert after.total == 4 and after.facets["country"] == {"LV": 2, "EE": 2}
    assert after.facets["theme"]["environment"] == 3
    assert "Beach clean-up" in {h.opportunity["title"] for h in after.hits}

def test_counts_follow_changed_and_deleted_listings(backend: SearchBackend) -> None:
    """A listing that moves, and one that is gone, count where they are now:
    in the free facets and in a selected facet's own counts."""
    seed(backend)
    assert backend.search(SearchRequest()).facets["country"] == {"LV": 2, "EE": 1, "DE": 1}
    backend.upsert_many([make_opportunity(4, title="Language cafe host", country="LT", city="Vilnius",
                                          themes=(Theme.migrants_refugees,))])
    backend.refresh()
    assert backend.search(SearchRequest()).facets["country"] == {"LV": 2, "EE": 1, "LT": 1}
    backend.delete_many(["test-2"])
    backend.refresh()
    lt = backend.search(SearchRequest(country=["LT"]))
    assert lt.total == 1 and lt.facets["country"] == {"LV": 2, "LT": 1}
    assert lt.facets["theme"] == {"migrants_refugees": 1}
    assert backend.search(SearchRequest(theme=["environment"])).facets["country"] == {"LV": 1}


def test_closed_listings_hidden_by_default(backend: SearchBackend) -> None:
    seed(backend)
    expired = make_opportunity(9, title="Old river job", country="EE")
    expired.status = Status.expired
    backend.upsert_many([expired])
    backend.refresh()
    assert ids(backend, q="river") == {"test-2"}
    assert ids(backend, q="river", status=["open", "closed", "expired"]) == {"test-2", "test-9"}


def test_pagination(backend: SearchBackend) -> None:
    seed(backend)
    pages = [backend.search(SearchRequest(page=p, size=3)) for p in (1, 2)]
    assert [len(p.hits) for p in pages] == [3, 1]
    assert {h.id for p in pages for h in p.hits} == {"test-1", "test-2", "test-3", "test-4"}


def test_typos_are_tolerated(backend: SearchBackend, request: pytest.FixtureRequest) -> None:
    expect_gap(request, backend, not backend.capabilities.typo_tolerance, "no typo tolerance")
    seed(backend)
    assert ids(backend, q="rivr") == {"test-2"}
    assert ids(backend, q="forrest") == {"test-3"}


def test_inflected_forms_match_in_the_listing_language(backend: SearchBackend,
                                                       request: pytest.FixtureRequest) -> None:
    """A Polish listing "w schronisku" is found by "schroniskach": stemming,
    not a typo (three edits apart)."""
    expect_gap(request, backend, "pl" not in backend.capabilities.stemmed_languages, "Polish is not stemmed")
    seed(backend)
    backend.upsert_many([make_opportunity(5, title="Pomoc w schronisku", language="pl",
                                          description="Opieka nad zwierzętami.")])
    backend.refresh()
    assert ids(backend, q="schroniskach") == {"test-5"}


def test_rebuild_replaces_everything(backend: SearchBackend) -> None:
    seed(backend)
    backend.rebuild([make_opportunity(7, title="Rebuilt listing")])
    backend.refresh()
    assert backend.count() == 1 and backend.get("test-1") is None
    assert ids(backend, q="rebuilt") == {"test-7"}


def test_rebuild_keeps_the_previous_index_for_rollback(backend: SearchBackend,
                                                       request: pytest.FixtureRequest) -> None:
    expect_gap(request, backend, not backend.capabilities.rollback, "a rebuild keeps no previous index")
    seed(backend)
    first, _, _ = backend.rebuild([make_opportunity(1)])
    second, previous, deleted = backend.rebuild([make_opportunity(2)], keep=1)
    assert second != first and previous == first  # kept to switch back to
    _, previous, deleted = backend.rebuild([make_opportunity(3)], keep=1)
    assert previous == second and deleted == [first]  # one previous index kept, older ones deleted


@pytest.mark.parametrize("kind", ["sqlite", "elasticsearch"])
def test_several_processes_may_set_up_at_once(kind: str, tmp_path, unique: str,
                                              request: pytest.FixtureRequest) -> None:
    """Two indexers (docker compose runs two) start together: both set up the
    same index, neither fails, and they write into one."""
    url = request.getfixturevalue("es_url") if kind == "elasticsearch" else f"sqlite:///{tmp_path / 's.sqlite3'}"
    backends = [open_backend(url, alias=f"{unique}-race") for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(backends))

    def set_up(be: SearchBackend) -> None:
        barrier.wait()
        try:
            be.setup()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=set_up, args=(be,)) for be in backends]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        for n, be in enumerate(backends):
            assert be.upsert_many([make_opportunity(n)]) == []
        backends[0].refresh()
        assert backends[-1].count() == len(backends)
    finally:
        for be in backends:
            be.close()


def test_health(backend: SearchBackend) -> None:
    assert backend.health()["status"] == "ok"


def test_elasticsearch_drop_removes_indices_and_template(es_url: str, unique: str) -> None:
    be = open_backend(es_url, alias=unique)
    be.setup()
    be.rebuild([make_opportunity(1)])  # a second version, -v2
    neighbour = open_backend(es_url, alias=f"{unique}x")
    neighbour.setup()
    try:
        assert len(be.es.indices.get(index=f"{unique}-v*")) >= 1  # type: ignore[attr-defined]
        be.drop()  # type: ignore[attr-defined]
        assert not be.es.indices.get(index=f"{unique}-v*", allow_no_indices=True)  # type: ignore[attr-defined]
        assert not be.es.indices.exists_index_template(name=f"{unique}-template")  # type: ignore[attr-defined]
        assert neighbour.count() == 0  # the alias next to it is untouched
        assert be.es.indices.exists_index_template(name=f"{unique}x-template")  # type: ignore[attr-defined]
    finally:
        neighbour.close()
        be.close()


def test_elasticsearch_index_made_before_alternatives(es_url: str, unique: str) -> None:
    """An index whose mapping predates ``required_groups`` keeps answering
    as it did; ``setup()`` adds the field, so listings written since are read
    with their alternatives, and a rebuild reads every listing anew."""
    from search.backends.elastic.mapping import ADDED_FIELDS, INDEX_SETTINGS, MAPPINGS

    be = open_backend(es_url, alias=unique)
    before = {**MAPPINGS, "properties": {k: v for k, v in MAPPINGS["properties"].items() if k not in ADDED_FIELDS}}
    be.es.indices.create(index=f"{unique}-v1", settings=INDEX_SETTINGS, mappings=before,  # type: ignore[attr-defined]
                         aliases={unique: {"is_write_index": True}})
    try:
        docs = [_requiring(1, [["en", "ru"]]), _requiring(2, [["en", "ru"]]), _requiring(3, [["en"]])]
        assert be.upsert_many(docs[:1]) == []  # written before the field was mapped
        be.setup()
        assert be.upsert_many(docs[1:]) == []
        be.refresh()
        assert ids(be, speaks=["ru"]) == {"test-2"}  # test-1 reads as before: English and Russian
        assert ids(be, speaks=["en"]) == {"test-2", "test-3"}
        assert ids(be, speaks=["en", "ru"]) == {"test-1", "test-2", "test-3"}
        be.rebuild(docs)
        assert ids(be, speaks=["ru"]) == {"test-1", "test-2"}
    finally:
        be.close()


def test_facets_count_what_choosing_a_value_shows(backend: SearchBackend) -> None:
    """A search that collapses duplicates shows one result per cluster; each
    facet value's count is then the results choosing it shows (a listing
    found on three sites counts once), and the listings when nothing is
    collapsed. A cluster whose copies disagree on a value counts under each."""
    def copy(n: int, cluster: str, city: str) -> object:
        return make_opportunity(n, title=f"Shelter helper {n}", country="LV", city=city,
                                themes=(Theme.animals,)).model_copy(update={"cluster_id": cluster})

    docs = [copy(1, "shelter", "Riga"), copy(2, "shelter", "Riga"), copy(3, "shelter", "Jūrmala"),
            copy(4, "visits", "Riga"), copy(5, "alone", "Cēsis")]
    assert backend.upsert_many(docs) == []  # type: ignore[arg-type]
    backend.refresh()
    collapsed = backend.search(SearchRequest(theme=["animals"]))
    assert (collapsed.total, collapsed.clusters) == (5, 3)
    assert collapsed.facets["country"] == {"LV": 3}
    assert collapsed.facets["theme"] == {"animals": 3}
    assert collapsed.facets["city"] == {"Riga": 2, "Cēsis": 1, "Jūrmala": 1}
    for city, count in collapsed.facets["city"].items():
        chosen = backend.search(SearchRequest(theme=["animals"], city=[city]))
        assert chosen.clusters == count == len(chosen.hits), city
    riga = backend.search(SearchRequest(theme=["animals"], city=["Riga"]))  # a selected facet's own counts
    assert riga.facets["city"] == {"Riga": 2, "Cēsis": 1, "Jūrmala": 1}
    every = backend.search(SearchRequest(theme=["animals"], collapse=False))
    assert every.facets["city"] == {"Riga": 3, "Cēsis": 1, "Jūrmala": 1}
    assert every.facets["country"] == {"LV": 5}
    # later copies, counted by the counts kept from before (the embedded backend extends them)
    assert backend.upsert_many([copy(6, "alone", "Cēsis"), copy(7, "visits", "Cēsis")]) == []  # type: ignore[list-item]
    backend.refresh()
    later = backend.search(SearchRequest(theme=["animals"]))
    assert later.facets["city"] == {"Riga": 2, "Cēsis": 2, "Jūrmala": 1} and later.clusters == 3
