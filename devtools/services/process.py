"""Process control shared by the services: the services folder, logged commands,
pid files, ports, starting and stopping, the unprivileged service user."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def run_logged(cmd: list[str], log: Path, what: str, **kw: object) -> None:
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


def port_open(port: int) -> bool:
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
        if port_open(port):
            raise ServiceError(f"port {port} is taken by another program (set {setting})")

    def _spawn(self, cmd: list[str], env: dict[str, str], cwd: Path) -> None:
        with self.log_file.open("ab") as fh:
            self._proc = subprocess.Popen(
                cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd, start_new_session=True,
            )
        self.pid_file.write_text(str(self._proc.pid))

    def _wait(self, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # The child we just spawned tells exactly whether it is alive (the
            # pid file heuristic can misread /proc while the child execs).
            proc = getattr(self, "_proc", None)  # None: started by another tilts process
            code = proc.poll() if proc is not None else None
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


def find_java_home() -> str:
    java = shutil.which("java")
    if not java:
        raise ServiceError("java not found on PATH (Java 17 is required)")
    return str(Path(os.path.realpath(java)).parent.parent)


def ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
        )


def grant_traverse(path: Path) -> None:
    """Let the unprivileged service user reach ``path`` (search bit on parents)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
        if not mode & 0o004 and parent == path:
            parent.chmod(parent.stat().st_mode | 0o004)


def child_pids(pid: int) -> list[int]:
    """The direct children of process ``pid``, started by any of its threads (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found
