"""An embedded, project-local PostgreSQL + PostGIS cluster.

One directory (e.g. ``<repo>/.data/pg``) holds PGDATA, server.log, the unix socket and the
superuser's password. PostgreSQL refuses to run as root, so as root it runs as ``os_user``.
"""

from __future__ import annotations

import contextlib
import locale
import logging
import os
import pwd
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

log = logging.getLogger(__name__)

DEFAULT_PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD_FILE = "retailgis.password"
LOG_FILE = "server.log"
START_TIMEOUT_S = 60
LOG_TAIL_LINES = 30
POSTGRES_NAMES = frozenset({"postgres", "postmaster"})
EXTENSION_PACKAGES = {"postgis": "postgresql-15-postgis-3", "pgrouting": "postgresql-15-pgrouting"}


class ClusterError(RuntimeError):
    """The embedded cluster could not be set up or used; the message says what to do."""


@dataclass(frozen=True)
class ClusterConfig:
    """Where and how the embedded cluster runs."""

    data_dir: Path
    port: int = 54329
    host: str = "127.0.0.1"
    database: str = "retailgis"
    user: str = "retailgis"
    os_user: str = "postgres"
    extensions: tuple[str, ...] = ("postgis", "pgrouting")
    fast_unsafe: bool = False
    pg_bin: Path | None = None


@dataclass(frozen=True)
class ClusterStatus:
    """A snapshot of the cluster's state."""

    initialised: bool
    running: bool
    pid: int | None
    port: int
    data_dir: Path


def find_pg_bin() -> Path:
    """The directory holding initdb/pg_ctl: ``pg_config --bindir``, else the Debian default."""
    candidates = [DEFAULT_PG_BIN]
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=9)
            candidates.insert(0, Path(out.stdout.strip()))
    for candidate in candidates:
        if (candidate / "initdb").is_file():
            return candidate
    raise ClusterError(
        "PostgreSQL server programs (initdb, pg_ctl) not found: install postgresql-15 "
        "(apt-get install postgresql-15) or set ClusterConfig.pg_bin"
    )


def _initdb_locale() -> str:
    """C.UTF-8 when the C library knows it, else plain C."""
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
        return "C.UTF-8"
    except locale.Error:
        return "C"
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)


def _can_traverse(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether ``user`` has search (x) permission on directory ``path`` (ACLs ignored)."""
    st = path.stat()
    if st.st_uid == user.pw_uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in os.getgrouplist(user.pw_name, user.pw_gid):
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _is_postmaster_for(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is a live (non-zombie) postgres server process for ``data_dir``."""
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rpartition(")")[2].split()
        args = (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return False
    if not state or state[0] in ("Z", "X") or Path(os.fsdecode(args[0])).name not in POSTGRES_NAMES:
        return False
    with contextlib.suppress(OSError):
        if Path(os.readlink(proc / "cwd")) == data_dir:
            return True
    return os.fsencode(data_dir) in args  # pg_ctl passes "-D <data_dir>"


class EmbeddedCluster:
    """Create, start, stop and inspect the cluster described by a ClusterConfig."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir.expanduser().resolve()
        self._pg_bin = config.pg_bin

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def status(self) -> ClusterStatus:
        pid, port = self._running()
        return ClusterStatus(self.is_initialised(), pid is not None, pid, port, self.data_dir)

    def _running(self) -> tuple[int | None, int]:
        """The live postmaster's pid and port from postmaster.pid, or (None, config.port)."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None, self.config.port
        if not _is_postmaster_for(pid, self.data_dir):
            return None, self.config.port
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else self.config.port
        return pid, port

    def _bin(self, program: str) -> str:
        if self._pg_bin is None:
            self._pg_bin = find_pg_bin()
        return str(self._pg_bin / program)

    def _os_account(self) -> pwd.struct_passwd | None:
        """The account the server runs as when we are root; None means the current user."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(self.config.os_user)
        except KeyError:
            raise ClusterError(
                f"running as root, but OS user {self.config.os_user!r} does not exist; create it "
                f"(useradd --system {self.config.os_user}) or run as an unprivileged user"
            ) from None

    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program, dropping root privileges to the cluster's OS user."""
        account = self._os_account()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if account is not None:
            env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
        try:
            return subprocess.run(
                args,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                cwd="/",
                env=env,
                timeout=timeout,
                user=account.pw_uid if account else None,
                group=account.pw_gid if account else None,
                extra_groups=os.getgrouplist(account.pw_name, account.pw_gid) if account else None,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ClusterError(f"could not run {shlex.join(args)}: {exc}") from exc

    def _chown(self, path: Path, account: pwd.struct_passwd | None) -> None:
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)

    def initdb(self) -> bool:
        """Create the cluster unless it exists; True if it was created."""
        if self.is_initialised():
            return False
        account = self._os_account()
        if account is not None:
            self._check_traversable(account)
        self._make_data_dir(account)
        password = secrets.token_urlsafe(24)
        fd, pwfile = tempfile.mkstemp(prefix="rgis-pw-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
            self._chown(Path(pwfile), account)
            result = self._run([
                self._bin("initdb"), "-D", str(self.data_dir), "-E", "UTF8",
                f"--locale={_initdb_locale()}", "-U", self.config.user,
                "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
            ])  # fmt: skip
        finally:
            os.unlink(pwfile)
        if result.returncode != 0:
            raise ClusterError(f"initdb failed for {self.data_dir}:\n{result.stderr.strip()}")
        self._write_password(password, account)
        self._write_settings()
        return True

    def _check_traversable(self, account: pwd.struct_passwd) -> None:
        """Refuse a data directory the server's OS user could not reach."""
        for parent in reversed(self.data_dir.parents):
            if parent.exists() and not _can_traverse(parent, account):
                raise ClusterError(
                    f"the PostgreSQL server runs as OS user {account.pw_name!r}, which cannot "
                    f"enter {parent} (no execute permission), so it cannot use {self.data_dir}. "
                    "Choose a data directory under a world-traversable path (e.g. set "
                    "RETAILGIS_PG_DIR=/var/tmp/retailgis-pg) or run chmod o+x on that directory."
                )

    def _make_data_dir(self, account: pwd.struct_passwd | None) -> None:
        """Create missing parents (0755) and the data directory itself (0700, server-owned)."""
        for parent in reversed(self.data_dir.parents):
            if not parent.exists():
                parent.mkdir(mode=0o755)
                parent.chmod(0o755)  # not narrowed by the umask
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._chown(self.data_dir, account)

    def _write_password(self, password: str, account: pwd.struct_passwd | None) -> None:
        path = self.data_dir / PASSWORD_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        self._chown(path, account)

    def _write_settings(self) -> None:
        host, sockets = (v.replace("'", "''") for v in (self.config.host, str(self.data_dir)))
        settings = {"listen_addresses": f"'{host}'", "unix_socket_directories": f"'{sockets}'"}
        settings["port"] = str(self.config.port)
        if self.config.fast_unsafe:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        lines = ["", "# retailgis embedded cluster (api/pgcluster.py)"]
        lines += [f"{name} = {value}" for name, value in settings.items()]
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self) -> None:
        """Initialise if needed, start unless already running, then ensure the database."""
        if len(os.fsencode(self.data_dir / f".s.PGSQL.{self.config.port}")) > 107:
            raise ClusterError(
                f"the unix socket path in {self.data_dir} would exceed 107 bytes; choose a "
                "shorter data directory (e.g. set RETAILGIS_PG_DIR=/var/tmp/retailgis-pg)"
            )
        self.initdb()
        pid, port = self._running()
        if pid is None:
            self._preflight()
            self._remove_stale_lock()
            self._pg_ctl_start()
        elif port != self.config.port:
            raise ClusterError(
                f"the cluster in {self.data_dir} is already running on port {port}, not "
                f"{self.config.port}; stop it first (pg_ctl stop -D {self.data_dir})"
            )
        self._wait_until_ready()
        self.ensure_database(self.config.database)

    def stop(self) -> None:
        """Fast shutdown; a no-op when the server is not running."""
        if self._running()[0] is None:
            return
        args = [self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"]
        result = self._run([*args, "-t", str(START_TIMEOUT_S)], timeout=START_TIMEOUT_S + 30)
        if result.returncode != 0:
            raise ClusterError(f"pg_ctl stop failed:\n{result.stderr.strip()}")

    def _preflight(self) -> None:
        """Catch the usual start failures early, with a message saying what to do."""
        account = self._os_account()
        if account is not None:
            self._check_traversable(account)
        if account is not None and self.data_dir.stat().st_uid != account.pw_uid:
            raise ClusterError(
                f"{self.data_dir} is not owned by OS user {account.pw_name!r}, which runs the "
                f"server; fix it with: chown -R {account.pw_name}: {self.data_dir}"
            )
        with contextlib.suppress(OSError):
            socket.create_connection((self.config.host, self.config.port), timeout=1).close()
            raise self._port_in_use_error()

    def _remove_stale_lock(self) -> None:
        """Remove postmaster.pid and socket files left by a server that is no longer running."""
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return
        log.warning("pgcluster: removing stale %s (no server runs for this data dir)", pidfile)
        pidfile.unlink(missing_ok=True)
        for leftover in self.data_dir.glob(".s.PGSQL.*"):
            leftover.unlink(missing_ok=True)

    def _port_in_use_error(self) -> ClusterError:
        return ClusterError(
            f"port {self.config.port} on {self.config.host} is already used by another program; "
            "stop it or choose another port (e.g. set RETAILGIS_PG_PORT)"
        )

    def _pg_ctl_start(self) -> None:
        port, host = str(self.config.port), self.config.host
        options = shlex.join(["-p", port, "-k", str(self.data_dir), "-h", host])
        result = self._run(
            [self._bin("pg_ctl"), "start", "-w", "-t", str(START_TIMEOUT_S), "-D",
             str(self.data_dir), "-l", str(self.data_dir / LOG_FILE), "-o", options],
            timeout=START_TIMEOUT_S + 30,
        )  # fmt: skip
        if result.returncode != 0:
            raise self._start_error(result.stderr.strip())

    def _wait_until_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self._connect("postgres"):
                    return
            except ClusterError as exc:
                if time.monotonic() > deadline:
                    raise self._start_error(str(exc).strip()) from exc
            time.sleep(0.2)

    def _start_error(self, detail: str) -> ClusterError:
        """An error with the tail of the server log (and a hint when the port is taken)."""
        logfile = self.data_dir / LOG_FILE
        try:
            tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        except OSError:
            tail = "(no server log)"
        hint = f"{self._port_in_use_error()}\n" if "Address already in use" in tail else ""
        return ClusterError(
            f"{hint}PostgreSQL in {self.data_dir} did not start: {detail}\n"
            f"last lines of {logfile}:\n{tail}"
        )

    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL over the unix socket in the data directory (trust auth)."""
        db = quote(database or self.config.database, safe="")
        host = quote(str(self.data_dir), safe="/")
        user = quote(self.config.user, safe="")
        return f"postgresql+psycopg://{user}@/{db}?host={host}&port={self.config.port}"

    def tcp_url(self, database: str | None = None) -> str:
        """SQLAlchemy URL over loopback TCP with the superuser's password."""
        try:
            password = (self.data_dir / PASSWORD_FILE).read_text().strip()
        except OSError as exc:
            raise ClusterError(f"cannot read the cluster password ({exc}); run start()") from exc
        db = quote(database or self.config.database, safe="")
        user, secret = quote(self.config.user, safe=""), quote(password, safe="")
        return f"postgresql+psycopg://{user}:{secret}@{self.config.host}:{self.config.port}/{db}"

    def _connect(self, dbname: str) -> psycopg.Connection[TupleRow]:
        """An autocommit connection over the unix socket."""
        try:
            return psycopg.connect(
                host=str(self.data_dir), port=self.config.port, user=self.config.user,
                dbname=dbname, autocommit=True, connect_timeout=5,
            )  # fmt: skip
        except psycopg.OperationalError as exc:
            raise ClusterError(
                f"cannot connect to database {dbname!r} of the cluster in {self.data_dir} "
                f"(is it started?): {exc}"
            ) from exc

    def create_database(self, name: str, template: str | None = None) -> None:
        """Plain CREATE DATABASE; raises psycopg.errors.DuplicateDatabase if it exists."""
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self._connect("postgres") as conn:
            conn.execute(query)

    def drop_database(self, name: str) -> None:
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with self._connect("postgres") as conn:
            conn.execute(query)

    def ensure_database(self, name: str, template: str | None = None) -> bool:
        """Create the database if missing (with the extensions unless cloned); True if created."""
        with self._connect("postgres") as conn:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            created = conn.execute(query, (name,)).fetchone() is None
        if created:
            try:
                self.create_database(name, template)
            except psycopg.errors.DuplicateDatabase:
                created = False  # someone else created it meanwhile
        if template is None:
            self._create_extensions(name)
        return created

    def _create_extensions(self, dbname: str) -> None:
        with self._connect(dbname) as conn:
            for ext in self.config.extensions:
                query = "SELECT 1 FROM pg_available_extensions WHERE name = %s"
                if conn.execute(query, (ext,)).fetchone() is None:
                    package = EXTENSION_PACKAGES.get(ext, "the package that provides it")
                    raise ClusterError(
                        f"PostgreSQL extension {ext!r} is not installed for this server; "
                        f"install {package} (e.g. with apt-get install)"
                    )
                create = sql.SQL("CREATE EXTENSION IF NOT EXISTS {} CASCADE")
                conn.execute(create.format(sql.Identifier(ext)))
