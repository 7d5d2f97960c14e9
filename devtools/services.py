"""`tilts services up|down|status`: real Kafka, Elasticsearch and PostgreSQL without Docker.

Provisions from Maven Central with the machine's Maven and Java 17:

- Apache Kafka ``KAFKA_VERSION`` (KRaft, one node in combined broker+controller
  mode): ``org.apache.kafka:kafka_2.13`` and its runtime dependencies, plus the
  reload4j SLF4J binding, run as ``kafka.Kafka`` after ``StorageTool format``.
- Elasticsearch ``ELASTICSEARCH_VERSION``: Elastic's own distribution archive
  ``org.elasticsearch.distribution.integ-test-zip:elasticsearch`` (the server
  with the transport-netty4 module, no bundled JDK; security off). Elasticsearch
  refuses to run as root, so as root it runs as the system user
  ``tiltsvc`` (created when missing). That archive lacks the analysis-common
  module, so ``provision`` compiles ``devtools/es_analysis`` (the language
  analyzers and token filters tilts' index template uses, under the
  distribution's own names, built from the Lucene jars in the server's lib/)
  into the plugin ``analysis-tilts``; the official image needs no plugin.

Everything lives under the services folder (``TILTS_SERVICES_DIR``; default
``~/.cache/tilts/services``, or ``/var/lib/tilts/services`` as root so the
unprivileged Elasticsearch user can read it): jars, data, logs and pid files.
A second ``up`` downloads nothing. Only loopback addresses are bound.

- PostgreSQL from Debian's ``postgresql`` package (``scripts/test`` installs
  it when missing): a private cluster made by ``initdb`` in the services
  folder, trust authentication on 127.0.0.1 only, database ``tilts`` (the
  scheduler's job store, subscriptions, digests, coverage snapshots).

Ports: ``TILTS_KAFKA_PORT`` (19092; controller on +1),
``TILTS_ELASTICSEARCH_PORT`` (19200; transport on +100) and
``TILTS_POSTGRES_PORT`` (15432).
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "3.9.1"
ELASTICSEARCH_VERSION = "8.19.4"
ES_USER = "tiltsvc"


class ServiceError(RuntimeError):
    """A service could not be provisioned or started; the message says where to look."""


def services_dir() -> Path:
    env = os.environ.get("TILTS_SERVICES_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/tilts/services")
    return Path.home() / ".cache" / "tilts" / "services"


def kafka_port() -> int:
    return int(os.environ.get("TILTS_KAFKA_PORT", "19092"))


def es_port() -> int:
    return int(os.environ.get("TILTS_ELASTICSEARCH_PORT", "19200"))


def _run(cmd: list[str], log: Path, what: str, **kw: object) -> None:
    with log.open("ab") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise ServiceError(f"{what} failed (exit {proc.returncode}); see {log}")


def _pid_alive(pid_file: Path, marker: str) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A zombie or a reused pid of another program is not ours: our command
    # lines always name a path under the service's folder.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if marker.encode() in cmdline else None


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Service:
    name: str
    root: Path

    @property
    def pid_file(self) -> Path:
        return self.root / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.root / f"{self.name}.log"

    def pid(self) -> int | None:
        return _pid_alive(self.pid_file, str(self.root))

    def stop(self, timeout: float = 60.0) -> bool:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM) if _is_group_leader(pid) else os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _exists(pid):
            time.sleep(0.3)
        if _exists(pid):
            os.killpg(pid, signal.SIGKILL) if _is_group_leader(pid) else os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    @staticmethod
    def _need_free(port: int, setting: str) -> None:
        if _port_open(port):
            raise ServiceError(f"port {port} is taken by another program (set {setting})")

    def _spawn(self, cmd: list[str], env: dict[str, str], cwd: Path) -> None:
        with self.log_file.open("ab") as fh:
            self._proc = subprocess.Popen(
                cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd, start_new_session=True,
            )
        self.pid_file.write_text(str(self._proc.pid))

    def _wait(self, check: callable[[], bool], timeout: float) -> None:  # type: ignore[valid-type]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # The child we just spawned tells exactly whether it is alive (the
            # pid file heuristic can misread /proc while the child execs).
            code = self._proc.poll()
            if code is not None:
                raise ServiceError(f"{self.name} exited with {code} while starting; see {self.log_file}")
            if check():
                return
            time.sleep(1.0)
        raise ServiceError(f"{self.name} not healthy after {timeout:.0f}s; see {self.log_file}")


def _exists(pid: int) -> bool:
    """True while ``pid`` is a live process (not gone, not a zombie)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, OSError, IndexError):
        return False
    return state != "Z"


def _is_group_leader(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


# --------------------------------------------------------------------- Kafka

_KAFKA_POM = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by tilts services: resolves the Kafka broker and its runtime
     dependencies from Maven Central. Nothing is built. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tilts.devstack</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
"""

_KAFKA_LOG4J = """log4j.rootLogger=WARN, stdout
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=WARN
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


class Kafka(Service):
    def __init__(self, base: Path) -> None:
        super().__init__("kafka", base / f"kafka-{KAFKA_VERSION}")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{kafka_port()}"

    def provision(self) -> None:
        lib = self.root / "lib"
        marker = lib / f"kafka_2.13-{KAFKA_VERSION}.jar"
        if marker.exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        pom = self.root / "pom.xml"
        pom.write_text(_KAFKA_POM.format(version=KAFKA_VERSION))
        _run(
            ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={lib}", "-DincludeScope=runtime"],
            self.root / "provision.log", f"resolving Kafka {KAFKA_VERSION} with Maven",
        )
        if not marker.exists():
            raise ServiceError(f"Kafka jars missing after Maven; see {self.root / 'provision.log'}")

    def _config(self) -> Path:
        port = kafka_port()
        data = self.root / "data"
        props = self.root / "server.properties"
        props.write_text(
            "\n".join([
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{port + 1}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=6",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=6",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "message.max.bytes=16777216",
                "replica.fetch.max.bytes=16777216",
                "log.cleaner.backoff.ms=5000",
                "",
            ])
        )
        (self.root / "log4j.properties").write_text(_KAFKA_LOG4J)
        if not (data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            _run(
                ["java", "-cp", str(self.root / "lib" / "*"),
                 f"-Dlog4j.configuration=file:{self.root / 'log4j.properties'}",
                 "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
                self.log_file, "formatting Kafka storage",
            )
        return props

    def start(self) -> None:
        if self.pid() is not None:
            return
        self._need_free(kafka_port(), "TILTS_KAFKA_PORT")
        props = self._config()
        env = dict(os.environ, KAFKA_HEAP_OPTS="-Xmx512m")
        self._spawn(
            ["java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
             f"-Dlog4j.configuration=file:{self.root / 'log4j.properties'}",
             "-cp", str(self.root / "lib" / "*"), "kafka.Kafka", str(props)],
            env, self.root,
        )
        self._wait(self.healthy, 120)

    def healthy(self) -> bool:
        if not _port_open(kafka_port()):
            return False
        try:
            from kafka import KafkaAdminClient

            admin = KafkaAdminClient(bootstrap_servers=self.address, request_timeout_ms=3000)
            try:
                admin.list_topics()
            finally:
                admin.close()
            return True
        except Exception:
            return False


# ------------------------------------------------------------- Elasticsearch


class Elasticsearch(Service):
    def __init__(self, base: Path) -> None:
        super().__init__("elasticsearch", base / f"elasticsearch-{ELASTICSEARCH_VERSION}")

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{es_port()}"

    @property
    def home(self) -> Path:
        return self.root / f"elasticsearch-{ELASTICSEARCH_VERSION}"

    def provision(self) -> None:
        if (self.home / "bin" / "elasticsearch").exists():
            self.install_analysis_plugin()
            return
        self.root.mkdir(parents=True, exist_ok=True)
        archive = self.root / f"elasticsearch-{ELASTICSEARCH_VERSION}.zip"
        if not archive.exists():
            _run(
                ["mvn", "-q", "-B", "dependency:copy",
                 f"-Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:"
                 f"{ELASTICSEARCH_VERSION}:zip",
                 f"-DoutputDirectory={self.root}"],
                self.root / "provision.log", f"resolving Elasticsearch {ELASTICSEARCH_VERSION} with Maven",
            )
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, self.root))
                mode = info.external_attr >> 16
                if mode:
                    path.chmod(mode)
        self.install_analysis_plugin()

    def install_analysis_plugin(self) -> None:
        """Build ``analysis-tilts`` when the distribution has no analysis-common
        (rebuilt whenever the plugin's source is newer than the installed jar)."""
        if (self.home / "modules" / "analysis-common").exists():
            return
        source = Path(__file__).parent / "es_analysis" / "TiltsAnalysisPlugin.java"
        target = self.home / "plugins" / "analysis-tilts"
        jar = target / "analysis-tilts.jar"
        if jar.exists() and jar.stat().st_mtime >= source.stat().st_mtime:
            return
        build = self.root / "analysis-tilts-build"
        shutil.rmtree(build, ignore_errors=True)
        (build / "classes").mkdir(parents=True)
        log = self.root / "provision.log"
        _run(["javac", "--release", "17", "-d", str(build / "classes"),
              "-cp", str(self.home / "lib" / "*"), str(source)],
             log, "compiling the analysis-tilts Elasticsearch plugin")
        target.mkdir(parents=True, exist_ok=True)
        _run(["jar", "cf", str(jar), "-C", str(build / "classes"), "."],
             log, "packaging the analysis-tilts Elasticsearch plugin")
        (target / "plugin-descriptor.properties").write_text(
            "description=Language analyzers and token filters for tilts (Lucene analysis-common)\n"
            "version=1.0.0\nname=analysis-tilts\nclassname=org.tilts.analysis.TiltsAnalysisPlugin\n"
            f"java.version=17\nelasticsearch.version={ELASTICSEARCH_VERSION}\n"
        )
        shutil.rmtree(build, ignore_errors=True)

    def start(self) -> None:
        if self.pid() is not None:
            return
        port = es_port()
        self._need_free(port, "TILTS_ELASTICSEARCH_PORT")
        data, logs = self.root / "data", self.root / "logs"
        data.mkdir(exist_ok=True)
        logs.mkdir(exist_ok=True)
        java_home = os.environ.get("ES_JAVA_HOME") or os.environ.get("JAVA_HOME") or _java_home()
        env = dict(os.environ, ES_JAVA_HOME=java_home, ES_JAVA_OPTS="-Xms512m -Xmx1g")
        cmd = [
            str(self.home / "bin" / "elasticsearch"),
            "-E", "cluster.name=tilts-dev",
            "-E", "node.name=tilts-dev-1",
            "-E", "discovery.type=single-node",
            "-E", "network.host=127.0.0.1",
            "-E", f"http.port={port}",
            "-E", f"transport.port={port + 100}",
            "-E", f"path.data={data}",
            "-E", f"path.logs={logs}",
            "-E", "xpack.security.enabled=false",
            "-E", "cluster.routing.allocation.disk.threshold_enabled=false",
            "-E", "action.destructive_requires_name=false",
        ]
        if os.geteuid() == 0:
            _ensure_user(ES_USER)
            for path in (self.home / "config", self.home / "logs", data, logs):
                path.mkdir(exist_ok=True)
                shutil.chown(path, ES_USER)
                for sub in path.rglob("*"):
                    shutil.chown(sub, ES_USER)
            _grant_traverse(self.root)
            cmd = ["setpriv", f"--reuid={ES_USER}", f"--regid={ES_USER}", "--init-groups", "--"] + cmd
        self._spawn(cmd, env, self.root)
        self._wait(self.healthy, 180)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.address}/_cluster/health?wait_for_status=yellow&timeout=2s", timeout=5
            ) as resp:
                return json.load(resp).get("status") in ("yellow", "green")
        except (OSError, ValueError):
            return False


# ---------------------------------------------------------------- PostgreSQL


def pg_port() -> int:
    return int(os.environ.get("TILTS_POSTGRES_PORT", "15432"))


def _pg_bin() -> Path:
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
        return ["setpriv", f"--reuid={ES_USER}", f"--regid={ES_USER}", "--init-groups", "--"] + cmd

    def provision(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            _ensure_user(ES_USER)
            shutil.chown(self.root, ES_USER)
            shutil.chown(self.data, ES_USER)
            _grant_traverse(self.root)
        _run(self._as_user([str(_pg_bin() / "initdb"), "-D", str(self.data), "-U", "tilts",
                            "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
             self.root.parent / "postgres-provision.log", "initdb")

    def start(self) -> None:
        if self.pid() is not None:
            return
        port = pg_port()
        self._need_free(port, "TILTS_POSTGRES_PORT")
        cmd = self._as_user([str(_pg_bin() / "postgres"), "-D", str(self.data), "-p", str(port),
                             "-h", "127.0.0.1", "-k", str(self.root)])
        if os.geteuid() == 0:
            shutil.chown(self.root, ES_USER)
        self._spawn(cmd, dict(os.environ), self.root)
        self._wait(self._accepting, 60)
        if not self._database_exists():
            _run(self._as_user([str(_pg_bin().parent / "bin" / "createdb"), "-h", "127.0.0.1",
                                "-p", str(port), "-U", "tilts", "tilts"]),
                 self.log_file, "createdb tilts")

    def _psql(self, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg_port()), "-U", "tilts", "-d", "postgres",
                               "-tAc", sql], capture_output=True, text=True)

    def _accepting(self) -> bool:
        return _port_open(pg_port()) and self._psql("select 1").returncode == 0

    def _database_exists(self) -> bool:
        return self._psql("select 1 from pg_database where datname = 'tilts'").stdout.strip() == "1"

    def healthy(self) -> bool:
        return _port_open(pg_port()) and self._database_exists()


def _java_home() -> str:
    java = shutil.which("java")
    if not java:
        raise ServiceError("java not found on PATH (Java 17 is required)")
    return str(Path(os.path.realpath(java)).parent.parent)


def _ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
        )


def _grant_traverse(path: Path) -> None:
    """Let the unprivileged service user reach ``path`` (search bit on parents)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
        if not mode & 0o004 and parent == path:
            parent.chmod(parent.stat().st_mode | 0o004)


# ------------------------------------------------------------------ commands


def all_services() -> list[Kafka | Elasticsearch | Postgres]:
    base = services_dir()
    return [Kafka(base), Elasticsearch(base), Postgres(base)]


def up(names: list[str] | None = None) -> dict[str, str]:
    """Provision and start the named services (default: all). Returns addresses."""
    base = services_dir()
    base.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    chosen = [s for s in all_services() if not names or s.name in names]
    for svc in chosen:
        svc.provision()
    for svc in chosen:
        svc.start()
        out[svc.name] = svc.address
    return out


def down(names: list[str] | None = None) -> list[str]:
    return [s.name for s in all_services() if (not names or s.name in names) and s.stop()]


def status() -> list[tuple[str, str, int | None, bool]]:
    return [(s.name, s.address, s.pid(), s.healthy()) for s in all_services()]


def env_exports() -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": Kafka(services_dir()).address,
        "ELASTICSEARCH_URL": Elasticsearch(services_dir()).address,
        "TILTS_DATABASE_URL": Postgres(services_dir()).address,
    }
