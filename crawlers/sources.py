"""The source registry: one YAML file lists every source tilts crawls.

``TILTS_SOURCES_FILE`` points at another file (default: ``sources.yaml`` next
to this module). Each entry is validated at load time; an error names the
source and the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

DEFAULT_FILE = Path(__file__).with_name("sources.yaml")


class SourceError(ValueError):
    pass


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")
    name: str
    home_url: HttpUrl
    spider: Literal["schemaorg"] = "schemaorg"
    start_urls: list[HttpUrl] = Field(min_length=1)
    allowed_domains: list[str] = Field(min_length=1)
    programme: str | None = None
    country: str | None = None
    language: str | None = None
    schedule: str = "every 24h"

    def spider_args(self) -> dict[str, str]:
        args = {
            "source_id": self.id,
            "start_urls": ",".join(str(u) for u in self.start_urls),
            "allowed_domains": ",".join(self.allowed_domains),
            "full_crawl": "1",
        }
        for name in ("programme", "country", "language"):
            if getattr(self, name):
                args[name] = getattr(self, name)
        return args


def load_sources(path: Path | None = None) -> dict[str, Source]:
    path = path or Path(os.environ.get("TILTS_SOURCES_FILE", DEFAULT_FILE))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SourceError(f"cannot read source registry {path}: {exc}") from exc
    sources: dict[str, Source] = {}
    for i, entry in enumerate(data.get("sources") or []):
        sid = entry.get("id", f"#{i + 1}") if isinstance(entry, dict) else f"#{i + 1}"
        try:
            source = Source.model_validate(entry)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise SourceError(f"{path}: source {sid}: field '{field}': {err['msg']}") from exc
        if source.id in sources:
            raise SourceError(f"{path}: source {source.id}: duplicate id")
        sources[source.id] = source
    return sources
