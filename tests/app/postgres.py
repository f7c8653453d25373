"""A private PostgreSQL for the App's tests on several instances (as scripts/test-in-saleor
starts one): APP_TEST_DATABASE_URL when set, else a throwaway cluster from this machine's
PostgreSQL (Debian's /usr/lib/postgresql/*/bin, or initdb on PATH); None when there is none."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional


def _bindir() -> Optional[Path]:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    return Path(candidates[-1]) if candidates else None


@contextmanager
def postgres_url() -> Iterator[Optional[str]]:
    given = os.environ.get("APP_TEST_DATABASE_URL")
    if given:
        yield given
        return
    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").exists():
        yield None
        return
    base = Path(tempfile.mkdtemp(prefix="msp-app-pg-"))
    as_pg: List[str] = []
    if os.getuid() == 0:  # initdb refuses root: the cluster belongs to 'postgres'
        as_pg = ["runuser", "-u", "postgres", "--"]
        base.chmod(0o711)
    data = base / "data"
    password = secrets.token_hex(16)
    (base / "password").write_text(password)
    if as_pg:
        shutil.chown(base, "postgres")
        shutil.chown(base / "password", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = [*as_pg, str(bindir / "pg_ctl")]
    try:
        subprocess.run(
            [*as_pg, str(bindir / "initdb"), "-D", str(data), "-U", "app",
             f"--pwfile={base / 'password'}", "-A", "scram-sha-256", "-E", "UTF8"],
            check=True, capture_output=True,
        )  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
        subprocess.run(
            [*run, "start", "-D", str(data), "-w", "-t", "60", "-s", "-l", str(base / "log"),
             "-o", options],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "app", "app"],
            check=True, capture_output=True, env={**os.environ, "PGPASSWORD": password},
        )  # fmt: skip
        yield f"postgres://app:{password}@127.0.0.1:{port}/app"
    finally:
        subprocess.run(
            [*run, "stop", "-D", str(data), "-m", "immediate", "-s"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)
