"""Per-field recovery on European Solidarity Corps listings: API record alone vs. completed
from its detail page.

    python bench/esc_detail_recovery.py

Prints, for each set, the share of normalized listings with a description, a
deadline, any support flag and a residence restriction (or an explicit "all
countries"). Two sets: the 1,176 real records in ../shared/data (the API record
as a public scraper kept it: no detail page exists offline), and the detail
pages in tests/crawlers/fixtures/eyp/ with their API records from
tests/gold/esc-detail.yaml, before and after the merge.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawlers.eyp_detail import merge, parse_detail  # noqa: E402
from crawlers.platforms.eyp import parse_eyp  # noqa: E402
from devtools.corpus import FETCHED, _esc  # noqa: E402
from pipeline.events import Opportunity, RawOpportunity  # noqa: E402
from pipeline.normalize import normalize  # noqa: E402
from tests.support.eyp import SEARCH, raw, search_body  # noqa: E402

PAGES = ROOT / "tests" / "crawlers" / "fixtures" / "eyp"


def shares(opps: list[Opportunity], everyone: list[bool] | None = None) -> dict[str, float]:
    n = len(opps) or 1
    everyone = everyone or [False] * len(opps)
    return {
        "description": sum(len(o.description_text) > len(o.title) + 20 for o in opps) / n,
        "deadline": sum(o.deadline is not None for o in opps) / n,
        "support": sum(any(v is not None for v in o.support.model_dump().values()) for o in opps) / n,
        "residence": sum(bool(o.eligibility.residence_countries) or all_ for o, all_ in
                         zip(opps, everyone, strict=False)) / n,
    }


def line(name: str, n: int, values: dict[str, float]) -> str:
    return f"{name:<34}{n:>6}" + "".join(f"{v:>13.1%}" for v in values.values())


def main() -> None:
    print(f"{'set':<34}{'n':>6}{'description':>13}{'deadline':>13}{'support':>13}{'residence':>13}")
    real: list[RawOpportunity] = list(_esc())
    if real:
        print(line("real ESC records, API only", len(real), shares([normalize(r, now=FETCHED) for r in real])))
    doc = yaml.safe_load((ROOT / "tests" / "gold" / "esc-detail.yaml").read_text("utf-8"))
    before, after, everyone = [], [], []
    for record in doc["records"]:
        api = parse_eyp(search_body([record["from_page"]["api"]], 0, 10).encode(),
                        "https://youth.europa.eu" + SEARCH)[0][0]
        page = parse_detail((PAGES / record["from_page"]["page"]).read_bytes(), api["url"])
        before.append(normalize(raw(api), now=FETCHED))
        after.append(normalize(raw(merge(api, page)), now=FETCHED))
        everyone.append("from" not in page.missing)  # the page says who may apply, "all" included
    print(line("fixture pages, API record only", len(before), shares(before)))
    print(line("fixture pages, API + detail page", len(after), shares(after, everyone)))


if __name__ == "__main__":
    main()
