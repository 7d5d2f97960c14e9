"""Elasticsearch from Elastic's integ-test-zip distribution, with the
``analysis-tilts`` plugin built where analysis-common is missing."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
import zipfile
from pathlib import Path

from devtools.services.process import ES_USER, Service, ensure_user, find_java_home, grant_traverse, run_logged

ELASTICSEARCH_VERSION = "8.19.4"


def es_port() -> int:
    return int(os.environ.get("TILTS_ELASTICSEARCH_PORT", "19200"))


class Elasticsearch(Service):
    """One Elasticsearch node: by default the single node of ``tilts services
    up``; :mod:`devtools.services.cluster` runs two from the same installation."""

    port_setting = "TILTS_ELASTICSEARCH_PORT"

    def __init__(self, base: Path) -> None:
        super().__init__("elasticsearch", base / f"elasticsearch-{ELASTICSEARCH_VERSION}")
        self.install = self.root  # where the distribution is unpacked (shared by cluster nodes)

    @property
    def port(self) -> int:
        return es_port()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return self.install / f"elasticsearch-{ELASTICSEARCH_VERSION}"

    def node_settings(self) -> list[str]:
        """This node's place in its cluster (``-E`` settings)."""
        return ["cluster.name=tilts-dev", "node.name=tilts-dev-1", "discovery.type=single-node"]

    def provision(self) -> None:
        if (self.home / "bin" / "elasticsearch").exists():
            self.install_analysis_plugin()
            return
        self.install.mkdir(parents=True, exist_ok=True)
        archive = self.install / f"elasticsearch-{ELASTICSEARCH_VERSION}.zip"
        if not archive.exists():
            run_logged(
                ["mvn", "-q", "-B", "dependency:copy",
                 f"-Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:"
                 f"{ELASTICSEARCH_VERSION}:zip",
                 f"-DoutputDirectory={self.install}"],
                self.install / "provision.log", f"resolving Elasticsearch {ELASTICSEARCH_VERSION} with Maven",
            )
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, self.install))
                mode = info.external_attr >> 16
                if mode:
                    path.chmod(mode)
        self.install_analysis_plugin()

    def install_analysis_plugin(self) -> None:
        """Build ``analysis-tilts`` when the distribution has no analysis-common
        (rebuilt whenever the plugin's source is newer than the installed jar)."""
        if (self.home / "modules" / "analysis-common").exists():
            return
        source = Path(__file__).parent.parent / "es_analysis" / "TiltsAnalysisPlugin.java"
        target = self.home / "plugins" / "analysis-tilts"
        jar = target / "analysis-tilts.jar"
        if jar.exists() and jar.stat().st_mtime >= source.stat().st_mtime:
            return
        build = self.install / "analysis-tilts-build"
        shutil.rmtree(build, ignore_errors=True)
        (build / "classes").mkdir(parents=True)
        log = self.install / "provision.log"
        run_logged(["javac", "--release", "17", "-d", str(build / "classes"),
              "-cp", str(self.home / "lib" / "*"), str(source)],
             log, "compiling the analysis-tilts Elasticsearch plugin")
        target.mkdir(parents=True, exist_ok=True)
        run_logged(["jar", "cf", str(jar), "-C", str(build / "classes"), "."],
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
        port = self.port
        self._need_free(port, self.port_setting)
        data, logs = self.root / "data", self.root / "logs"
        data.mkdir(parents=True, exist_ok=True)
        logs.mkdir(exist_ok=True)
        java_home = os.environ.get("ES_JAVA_HOME") or os.environ.get("JAVA_HOME") or find_java_home()
        env = dict(os.environ, ES_JAVA_HOME=java_home, ES_JAVA_OPTS="-Xms512m -Xmx1g")
        cmd = [
            str(self.home / "bin" / "elasticsearch"),
            *(arg for setting in self.node_settings() for arg in ("-E", setting)),
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
            ensure_user(ES_USER)
            for path in (self.home / "config", self.home / "logs", data, logs):
                path.mkdir(exist_ok=True)
                shutil.chown(path, ES_USER)
                for sub in path.rglob("*"):
                    shutil.chown(sub, ES_USER)
            grant_traverse(self.root)
            grant_traverse(self.install)
            cmd = ["setpriv", f"--reuid={ES_USER}", f"--regid={ES_USER}", "--init-groups", "--", *cmd]
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
