"""The search page's query: read leniently (what cannot be used is left out
on its own and said, the rest of the search is kept), and the links that
change one part of it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, get_origin
from urllib.parse import urlencode

from pydantic import ValidationError

from search.backends import SearchRequest
from search.place_names import resolve_place
from search.web.deps import SearchParams

# Fields the filter form itself submits (everything else it carries as hidden inputs).
FORM_FIELDS = frozenset({"speaks", "age", "resident", "near", "within_km", "deadline_to", "sort"})
# Request fields a model-level error is about (SearchRequest._consistent's messages).
_MODEL_ERRORS = (("within_km", ("within_km",)), ("sort=distance", ("sort",)), ("lat and lon", ("lat", "lon")),
                 ("cursor", ("cursor",)), ("page", ("page",)))
Items = Iterable[tuple[str, Any]]


def grouped(items: Items, model: type[SearchRequest]) -> dict[str, Any]:
    """Query or form items → the model's fields (repeated keys of list fields
    collected, empty values and unknown keys left out)."""
    found: dict[str, Any] = {}
    for k, v in items:
        if k not in model.model_fields or v == "":
            continue
        if get_origin(model.model_fields[k].annotation) is list:
            found.setdefault(k, []).append(v)
        else:
            found[k] = v
    return found


def query_string(req: SearchRequest) -> str:
    return urlencode(req.query_pairs())


def ui_pairs(req: SearchRequest, near: str | None) -> list[tuple[str, str]]:
    """The request as the UI's links carry it: the place by name when it was
    chosen by name (so the form can show it and a new one can replace it)."""
    pairs = req.query_pairs()
    if near:
        pairs = [p for p in pairs if p[0] not in ("lat", "lon")] + [("near", near)]
    return pairs


def toggle(req: SearchRequest, facet: str, value: str, near: str | None = None) -> str:
    """The URL of this search with one facet value switched on or off."""
    current = ui_pairs(req, near)
    pairs = [p for p in current if p != (facet, value)]
    if (facet, value) not in current:
        pairs.append((facet, value))
    return "?" + urlencode(pairs)


def without(req: SearchRequest, near: str | None, drop: tuple[str, str | None]) -> str:
    """The URL of this search without one parameter (a value, or every value: None)."""
    key, value = drop
    pairs = [p for p in ui_pairs(req, near) if p[0] != key or (value is not None and p[1] != value)]
    if key == "near":  # the distance means nothing without the place
        pairs = [p for p in pairs if p[0] not in ("within_km", "lat", "lon")]
    return "?" + urlencode(pairs)


def lenient_request(items: Items) -> tuple[SearchRequest, str | None, dict[str, str]]:
    """Query items → (the request with every valid part, the place name, field → error code).

    What cannot be used is left out on its own, the rest of the search is kept."""
    data = grouped(items, SearchParams)
    errors: dict[str, str] = {}
    if isinstance(data.get("resident"), str):
        data["resident"] = data["resident"].strip().upper()
    near = str(data.pop("near", "") or "").strip()[:100] or None
    if near:
        try:
            data["lat"], data["lon"] = resolve_place(near)
        except ValueError:
            errors["near"] = "unknown_place"
            near = None
            data.pop("lat", None), data.pop("lon", None)
        else:
            if not data.get("within_km") and data.get("sort") in (None, "", "relevance"):
                # "Near Riga" with no distance: the nearest first (relevance would
                # ignore the place; the form sends its default sort with it)
                data["sort"] = "distance"
    for _ in range(len(SearchRequest.model_fields) + 1):
        try:
            return SearchRequest(**data), near, errors
        except ValidationError as exc:
            if not _drop_invalid(data, errors, exc):
                break
    errors.setdefault("search", "invalid")
    return SearchRequest(**({"q": data["q"]} if isinstance(data.get("q"), str) and len(data["q"]) <= 500 else {})), \
        None, errors


def _drop_invalid(data: dict[str, Any], errors: dict[str, str], exc: ValidationError) -> bool:
    """Leave out of ``data`` what ``exc`` refused (noting why in ``errors``); False when nothing could be."""
    dropped = False
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ()
        if loc and loc[0] in data:
            field = str(loc[0])
            if len(loc) > 1 and isinstance(loc[1], int) and isinstance(data[field], list):
                data[field] = [v for i, v in enumerate(data[field]) if i != loc[1]]
                if not data[field]:
                    del data[field]
            else:
                del data[field]
            errors.setdefault(field, err.get("type", "invalid"))
            dropped = True
            continue
        msg = str(err.get("msg", ""))
        for marker, fields in _MODEL_ERRORS:
            if marker in msg and any(f in data for f in fields):
                for f in fields:
                    if data.pop(f, None) is not None and not (f in ("within_km", "sort") and "near" in errors):
                        errors.setdefault(f, "needs_place" if f in ("within_km", "sort") else "invalid")
                dropped = True
                break
    return dropped
