"""Configuration of every tilts process: typed :class:`Settings`, built once at
start-up and passed down, and the defaults shared with processes that open the
bus without them.

Reads environment variables (and a `.env` file in the working directory):

- ``TILTS_DATA_DIR``: where the embedded mode keeps its SQLite bus and index
  (default: the user's data dir, e.g. ``~/.local/share/tilts``).
- ``KAFKA_BOOTSTRAP_SERVERS``: when set, the bus is Apache Kafka; otherwise the
  embedded SQLite log.
- ``ELASTICSEARCH_URL``: when set, the search backend is Elasticsearch;
  otherwise SQLite FTS5.
- ``TILTS_TOPIC_PREFIX``: prepended to every topic name (isolates test runs or
  tenants sharing a broker). Default empty.
- ``TILTS_INDEX_ALIAS``: the Elasticsearch alias searched (default
  ``opportunities``); versioned indices are ``<alias>-v<N>``.
- ``TILTS_CONTACT_URL``: the contact URL put in the crawler User-Agent.
- ``TILTS_DOWNLOAD_DELAY``: seconds between requests to one domain (default 1).
- ``TILTS_API_HOST`` / ``TILTS_API_PORT``: where ``tilts serve`` listens.
- ``TILTS_CORS_ORIGINS``: JSON list of origins allowed to call the API from
  browsers (default none); ``TILTS_PUBLIC_URL``: the site's public base URL
  for links in feeds (default: the request's own).
- ``TILTS_MAP_TILES``: the tile URL template of the results map
  (``https://tile.example.org/{z}/{x}/{y}.png``; ``{s}`` for subdomains), with
  ``TILTS_MAP_ATTRIBUTION`` the credit its provider asks for, as plain text.
  Default empty: the map draws no tiles and needs no other host (offline).

Scrapy child processes (``scrapy crawl ...``) build their bus from the
``TILTS_BUS_URL`` Scrapy setting; when it is absent they fall back to the same
rule as :attr:`Settings.bus_url`, read from the environment
(:func:`bus_url_from_env`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    env = os.environ.get("TILTS_DATA_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("tilts", appauthor=False))


def bus_url_for(kafka_bootstrap_servers: str | None, data_dir: Path) -> str:
    if kafka_bootstrap_servers:
        return f"kafka://{kafka_bootstrap_servers}"
    return f"sqlite:///{data_dir / 'bus.sqlite3'}"


def bus_url_from_env() -> str:
    return os.environ.get("TILTS_BUS_URL") or bus_url_for(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), default_data_dir()
    )



class Settings(BaseSettings):
    """All configuration of a tilts process. Construct once; pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="TILTS_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "TILTS_KAFKA_BOOTSTRAP_SERVERS"),
    )
    elasticsearch_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ELASTICSEARCH_URL", "TILTS_ELASTICSEARCH_URL"),
    )
    topic_prefix: str = ""
    index_alias: str = "opportunities"
    index_replicas: int = Field(default=0, ge=0)  # TILTS_INDEX_REPLICAS: copies of each shard (1 on two nodes)
    contact_url: str = "https://github.com/tilts-project/tilts"
    download_delay: float = 1.0
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    cors_origins: list[str] = Field(default_factory=list)  # TILTS_CORS_ORIGINS='["https://a.example"]'
    # TILTS_PUBLIC_URL: the origin of absolute links in feeds and e-mails
    # (behind a proxy); when unset, the address `tilts serve` listens on.
    public_url: str = ""
    # TILTS_ALLOWED_HOSTS='["tilts.example.org"]': other Host headers get 400
    allowed_hosts: list[str] = Field(default_factory=list)
    # TILTS_MAP_TILES: tile URL template of the results map; "" draws none (offline)
    map_tiles: str = ""
    map_attribution: str = Field(default="", max_length=300)  # TILTS_MAP_ATTRIBUTION, plain text
    kafka_partitions: int = 6
    kafka_replication_factor: int = Field(default=1, ge=1)  # TILTS_KAFKA_REPLICATION_FACTOR: 3 on a cluster
    kafka_min_insync_replicas: int | None = Field(default=None, ge=1)  # TILTS_KAFKA_MIN_INSYNC_REPLICAS
    # scheduler, subscriptions, digests, dashboard (issue 6)
    database_url: str | None = None  # TILTS_DATABASE_URL; default SQLite in the data dir
    normalize_processes: int = 1  # child processes that normalize in `tilts normalize` (0: one per CPU)
    # TILTS_CLUSTERING: "inline" clusters duplicates in the normalizer (one per
    # deployment); "stage" makes normalizers stateless, any number of them, and
    # `tilts cluster` instances cluster by block (docs/architecture.md)
    clustering: Literal["inline", "stage"] = "inline"
    cluster_state_dir: Path | None = None  # TILTS_CLUSTER_STATE_DIR; default <data dir>/clusters
    crawl_timeout: float = 3600.0  # seconds a crawl child process may run
    digest_sweep_seconds: int = 900  # how often the scheduler looks for due digests
    scheduler_lease: float = 30.0  # seconds before another scheduler takes over from a silent one
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_from: str = "tilts <digest@localhost>"
    secret_key: str = ""  # TILTS_SECRET_KEY signs email links; generated per data dir when unset
    dashboard_user: str = "officer"
    dashboard_password: str = ""  # TILTS_DASHBOARD_PASSWORD; the dashboard is closed while empty

    @field_validator("map_tiles")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        """An http(s) URL template with {z}, {x} and {y}, nothing a
        Content-Security-Policy or an attribute could be broken out of."""
        value = value.strip()
        if value and (not re.fullmatch(r"https?://[\w.{}-]+(:\d+)?/[\w./{}@%+=&?~-]*", value)
                      or not all(f"{{{k}}}" in value for k in "zxy")):
            raise ValueError("TILTS_MAP_TILES: an http(s) URL template with {z}, {x} and {y}, or empty")
        return value

    @property
    def mode(self) -> str:
        """Human-readable description of the backends in use."""
        bus = "kafka" if self.kafka_bootstrap_servers else "embedded"
        search = "elasticsearch" if self.elasticsearch_url else "embedded"
        return f"bus={bus} search={search}"

    @property
    def bus_url(self) -> str:
        """``kafka://host:port[,host:port]`` or ``sqlite:///<data_dir>/bus.sqlite3``."""
        return bus_url_for(self.kafka_bootstrap_servers, self.data_dir)

    @property
    def search_url(self) -> str:
        """The Elasticsearch URL, or ``sqlite:///<data_dir>/search.sqlite3``."""
        return self.elasticsearch_url or f"sqlite:///{self.data_dir / 'search.sqlite3'}"

    @property
    def db_url(self) -> str:
        """The scheduler's database: ``TILTS_DATABASE_URL`` or SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        self.ensure_data_dir()
        return f"sqlite:///{self.data_dir / 'tilts.sqlite3'}"

    def signing_key(self) -> str:
        """``TILTS_SECRET_KEY``, or a random key kept in the data dir (embedded mode)."""
        if self.secret_key:
            return self.secret_key
        path = self.ensure_data_dir() / "secret.key"
        if not path.exists():
            import secrets

            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def cluster_state_path(self) -> Path:
        """Where `tilts cluster` keeps its per-partition state files."""
        return self.cluster_state_dir or self.data_dir / "clusters"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir
