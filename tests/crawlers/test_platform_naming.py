"""One module per publishing platform: ``crawlers/platforms/<name>.py`` defines the
spider named ``<name>`` (and its parser), and every spider a registry names has one."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import get_args

import pytest
import scrapy
import yaml

import crawlers.platforms
from crawlers.sources import Source, SpiderKind

REPO = Path(__file__).resolve().parents[2]
REGISTRIES = [REPO / "crawlers" / "sources.yaml", REPO / "devtools" / "replay" / "sources.yaml"]
PLATFORMS = sorted(m.name for m in pkgutil.iter_modules(crawlers.platforms.__path__))


def spiders_defined_in(module_name: str) -> list[type[scrapy.Spider]]:
    module = importlib.import_module(f"crawlers.platforms.{module_name}")
    return [obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, scrapy.Spider)
            and obj.__module__ == module.__name__ and getattr(obj, "name", None)]


@pytest.mark.parametrize("module_name", PLATFORMS)
def test_each_platform_module_defines_one_spider_named_after_it(module_name: str) -> None:
    names = [spider.name for spider in spiders_defined_in(module_name)]
    assert names == [module_name]


def test_every_spider_kind_is_a_platform_module() -> None:
    assert sorted(get_args(SpiderKind)) == PLATFORMS


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_registry_spider_names_a_platform_module(registry: Path) -> None:
    """Read as written (the replay's ``{BASE}`` URLs are filled in only when it runs)."""
    entries = yaml.safe_load(registry.read_text(encoding="utf-8"))["sources"]
    default = Source.model_fields["spider"].default
    assert entries
    assert {entry.get("spider", default) for entry in entries} <= set(PLATFORMS)


def test_scrapy_finds_the_platform_spiders() -> None:
    from scrapy.settings import Settings
    from scrapy.spiderloader import SpiderLoader

    from crawlers.settings import SPIDER_MODULES

    loader = SpiderLoader.from_settings(Settings({"SPIDER_MODULES": SPIDER_MODULES}))
    assert sorted(loader.list()) == PLATFORMS
