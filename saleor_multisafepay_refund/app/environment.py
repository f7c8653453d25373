"""The App's environment variables, read once into a typed value (no Django here).

APP_PUBLIC_URL           how Saleor reaches the App (default http://HOST:PORT)
APP_DATABASE_URL         sqlite:///PATH (default: multisafepay-app.sqlite3 in the working
                         directory) or postgres://USER:PASSWORD@HOST:PORT/NAME (several
                         instances behind a load balancer need PostgreSQL)
APP_SECRET_KEY           encrypts the Saleor tokens and API keys the App stores (default:
                         generated once into multisafepay-app.key beside the database, mode 0600)
APP_ALLOWED_SALEOR_URLS  the Saleor API URLs that may install the App, comma-separated.
                         Default: none. The App's URL is public: accepting every Saleor would
                         let anyone install it and send it webhooks that spend its API keys.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import unquote, urlsplit

from ..errors import ConfigurationError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DATABASE_FILE = "multisafepay-app.sqlite3"
KEY_FILE = "multisafepay-app.key"


class AppSetupError(ConfigurationError):
    """An environment variable the App cannot start with."""


@dataclass(frozen=True)
class Database:
    """Django's DATABASES["default"], from APP_DATABASE_URL."""

    engine: str  # "sqlite" or "postgresql"
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""

    def __repr__(self) -> str:
        # The password never shows.
        return f"Database({self.engine!r}, {self.name!r}, host={self.host!r})"

    def django(self) -> Dict[str, object]:
        if self.engine == "sqlite":
            # Threads of `app serve` write at once: wait for SQLite's lock rather than fail,
            # but not past what Saleor waits for an answer.
            return {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": self.name,
                "OPTIONS": {"timeout": 5},
            }
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.name,
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": self.host,
            "PORT": self.port,
            # A database that does not answer is found out within Saleor's time.
            "OPTIONS": {"connect_timeout": 3},
        }


@dataclass(frozen=True)
class AppEnvironment:
    public_url: str
    database: Database
    secret_key: str
    allowed_saleor_urls: Tuple[str, ...]

    def __repr__(self) -> str:
        return (
            f"AppEnvironment(public_url={self.public_url!r}, database={self.database!r}, "
            f"allowed_saleor_urls={self.allowed_saleor_urls!r})"
        )


def read_environment(
    environ: Optional[Mapping[str, str]] = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    directory: Optional[Path] = None,
) -> AppEnvironment:
    """The App's settings from `environ` (default: os.environ); files default to `directory`
    (default: the working directory)."""
    env = os.environ if environ is None else environ
    here = Path.cwd() if directory is None else directory
    public_url = env.get("APP_PUBLIC_URL", "").strip().rstrip("/") or f"http://{host}:{port}"
    if urlsplit(public_url).scheme not in ("http", "https") or not urlsplit(public_url).hostname:
        raise AppSetupError(f"APP_PUBLIC_URL must be an http(s) URL, not {public_url!r}.")
    database = parse_database_url(env.get("APP_DATABASE_URL", "").strip(), here)
    secret_key = env.get("APP_SECRET_KEY", "").strip()
    if not secret_key:
        if database.engine != "sqlite":
            # Instances on one PostgreSQL must share the key: each would make its own and
            # none could read what another stored.
            raise AppSetupError("APP_SECRET_KEY is needed with a PostgreSQL APP_DATABASE_URL.")
        secret_key = _key_file(database.name)
    allowed = tuple(
        _allowed(url) for url in env.get("APP_ALLOWED_SALEOR_URLS", "").split(",") if url.strip()
    )
    return AppEnvironment(public_url, database, secret_key, allowed)


def parse_database_url(url: str, directory: Path) -> Database:
    """`sqlite:///relative/or//absolute/path` or `postgres(ql)://user:password@host:port/name`."""
    if not url:
        return Database("sqlite", str(directory / DATABASE_FILE))
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not path:
            raise AppSetupError("APP_DATABASE_URL: write sqlite:///PATH (a file).")
        return Database("sqlite", str(directory / path) if not Path(path).is_absolute() else path)
    if parts.scheme in ("postgres", "postgresql"):
        name = unquote(parts.path.lstrip("/"))
        if not name or not parts.hostname:
            raise AppSetupError("APP_DATABASE_URL: write postgres://USER:PASSWORD@HOST:PORT/NAME.")
        return Database(
            "postgresql",
            name,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            host=parts.hostname,
            port=str(parts.port or ""),
        )
    # The URL may hold a password: only its scheme is shown.
    raise AppSetupError(
        f"APP_DATABASE_URL: use sqlite:/// or postgres://, not {parts.scheme or 'no'} scheme."
    )


def normalized_api_url(url: str) -> str:
    """Saleor's API URL compared as Saleor sends it: scheme and host lower case, the default
    port dropped, a trailing slash on the path (`/graphql/`)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{scheme}://{host}{path}"


def _allowed(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AppSetupError(
            f"APP_ALLOWED_SALEOR_URLS: {url.strip()!r} is not a Saleor API URL such as "
            "https://shop.example.com/graphql/."
        )
    try:
        return normalized_api_url(url)
    except ValueError:
        raise AppSetupError(f"APP_ALLOWED_SALEOR_URLS: {url.strip()!r} has a bad port.") from None


def _key_file(database_path: str) -> str:
    """The generated secret beside the database file, made once with mode 0600. Written to a
    file of its own, then moved into place: a process starting at the same moment reads the
    whole key or none, never half of one."""
    path = Path(database_path).parent / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)  # fails if another process put its key there first
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if not key:
        raise AppSetupError(f"{path} is empty: delete it (if nothing was stored) or restore it.")
    return key
