"""PostgreSQL from Debian's packages: a private cluster in the services folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from devtools.services.process import ES_USER, Service, ServiceError, ensure_user, grant_traverse, port_open, run_logged


def pg_port() -> int:
    return int(os.environ.get("TILTS_POSTGRES_PORT", "15432"))


def pg_bin() -> Path:
    """The newest Debian PostgreSQL server binaries (package ``postgresql``)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not versions:
        raise ServiceError("PostgreSQL server not installed (apt-get install postgresql)")
    return versions[-1].parent


class Postgres(Service):
    """PostgreSQL from Debian's packages: a private cluster in the services
    folder (``initdb``), trust auth on 127.0.0.1 only, database ``tilts``."""

    def __init__(self, base: Path) -> None:
        super().__init__("postgres", base / "postgres")

    @property
    def address(self) -> str:
        return f"postgresql+psycopg://tilts@127.0.0.1:{pg_port()}/tilts"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _as_user(self, cmd: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return cmd
        return ["setpriv", f"--reuid={ES_USER}", f"--regid={ES_USER}", "--init-groups", "--", *cmd]

    def provision(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            ensure_user(ES_USER)
            shutil.chown(self.root, ES_USER)
            shutil.chown(self.data, ES_USER)
            grant_traverse(self.root)
        run_logged(self._as_user([str(pg_bin() / "initdb"), "-D", str(self.data), "-U", "tilts",
                            "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
             self.root.parent / "postgres-provision.log", "initdb")

    def start(self) -> None:
        if self.pid() is not None:
            return
        port = pg_port()
        self._need_free(port, "TILTS_POSTGRES_PORT")
        cmd = self._as_user([str(pg_bin() / "postgres"), "-D", str(self.data), "-p", str(port),
                             "-h", "127.0.0.1", "-k", str(self.root)])
        if os.geteuid() == 0:
            shutil.chown(self.root, ES_USER)
        self._spawn(cmd, dict(os.environ), self.root)
        self._wait(self._accepting, 60)
        if not self._database_exists():
            run_logged(self._as_user([str(pg_bin().parent / "bin" / "createdb"), "-h", "127.0.0.1",
                                "-p", str(port), "-U", "tilts", "tilts"]),
                 self.log_file, "createdb tilts")

    def _psql(self, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg_port()), "-U", "tilts", "-d", "postgres",
                               "-tAc", sql], capture_output=True, text=True)

    def _accepting(self) -> bool:
        return port_open(pg_port()) and self._psql("select 1").returncode == 0

    def _database_exists(self) -> bool:
        return self._psql("select 1 from pg_database where datname = 'tilts'").stdout.strip() == "1"

    def healthy(self) -> bool:
        return port_open(pg_port()) and self._database_exists()
