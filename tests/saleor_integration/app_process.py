"""The App as a shop runs it: `python -m saleor_multisafepay_refund app serve` in a process of
its own on 127.0.0.1, from an empty directory (its SQLite database and key made there), and
`app configure` run the same way. Nothing of Saleor here."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import requests

START_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Installed:
    """The App as Saleor installed it."""

    app: Any  # Saleor's App
    token: str  # the token Saleor sent the App's tokenTargetUrl


class AppProcess:
    """`app serve` for one Saleor API URL; `url` is how Saleor reaches it."""

    def __init__(self, allowed_saleor_url: str) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="msp-app-in-saleor-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.directory / "app.log"
        # The App's own Django settings, not Saleor's test settings this process runs with.
        self._environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        self._environment.update(
            APP_DATABASE_URL=f"sqlite:///{self.directory / 'app.sqlite3'}",
            APP_PUBLIC_URL=self.url,
            APP_ALLOWED_SALEOR_URLS=allowed_saleor_url,
            PYTHONUNBUFFERED="1",
        )
        self._environment.pop("MSP_API_KEY", None)
        self._process: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> AppProcess:
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                self._command("serve", "--host", "127.0.0.1", "--port", str(self.port)),
                cwd=self.directory,
                env=self._environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"app serve exited ({self._process.returncode}):\n{self.log()}")
            try:
                if requests.get(self.url + "/api/manifest", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"app serve did not answer in {START_SECONDS} s:\n{self.log()}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def database(self) -> bytes:
        """The App's SQLite database file, as stored on disk."""
        return (self.directory / "app.sqlite3").read_bytes()

    def configure(self, arguments: Sequence[str], api_key: str) -> subprocess.CompletedProcess[str]:
        """`app configure ARGUMENTS` with the key in MSP_API_KEY, as the README says."""
        environment: Dict[str, str] = dict(self._environment, MSP_API_KEY=api_key)
        return subprocess.run(
            self._command("configure", *arguments),
            cwd=self.directory,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def _command(self, *arguments: str) -> List[str]:
        return [sys.executable, "-m", "saleor_multisafepay_refund", "app", *arguments]


class FlakyGateway:
    """A gateway in front of the App that loses the App's first answer: the request reaches
    the App, but its caller gets `status` (a proxy's 502 page). Later requests pass through."""

    def __init__(self, app_url: str, status: int = 502) -> None:
        self.forwarded: List[int] = []  # the App's status for each request passed on
        self.bodies: List[bytes] = []  # the body of each
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in ("host", "content-length", "connection")
                }
                answer = requests.post(app_url + self.path, data=body, headers=headers, timeout=30)
                gateway.forwarded.append(answer.status_code)
                gateway.bodies.append(body)
                if len(gateway.forwarded) == 1:
                    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                    self._send(status, "text/html", page)
                else:
                    self._send(
                        answer.status_code,
                        answer.headers.get("Content-Type", "text/plain"),
                        answer.content,
                    )

            def _send(self, code: int, content_type: str, content: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
