"""`app serve`: the App in one command (its database made or upgraded, the web server, the
reports worker), and `app worker` for a production deployment served by gunicorn."""

from __future__ import annotations

import logging
import os
import socketserver
import threading
from typing import Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .environment import AppSetupError

logger = logging.getLogger(__name__)

WORKER_PAUSE_SECONDS = 2.0


def setup(host: str = "127.0.0.1", port: int = 8000, migrate: bool = False) -> None:
    """Django for the App, with its environment; with `migrate`, the database made or
    upgraded (`app serve`, `app migrate`), else refused while it is not up to date: the other
    commands run beside a deployment, which migrates once, itself."""
    os.environ["APP_HOST"] = host
    os.environ["APP_PORT"] = str(port)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saleor_multisafepay_refund.app.settings")
    import django
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0, interactive=False)
        return
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise AppSetupError(
            "the App's database is not up to date: run "
            "`python -m saleor_multisafepay_refund app migrate` (or `app serve`) first."
        )


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # Saleor may send many webhooks at once.
    request_queue_size = 64


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def serve(
    host: str, port: int, stop: Optional[threading.Event] = None, with_worker: bool = True
) -> None:
    """Serve until interrupted (or `stop` is set); `with_worker`: the reports worker too."""
    setup(host, port, migrate=True)
    from django.core.wsgi import get_wsgi_application

    from .context import app_context

    environment = app_context().environment
    if not os.environ.get("APP_PUBLIC_URL") and host in ("0.0.0.0", "::"):
        logger.warning(
            "APP_PUBLIC_URL is not set: the manifest tells Saleor to call %s, which it cannot "
            "reach. Set APP_PUBLIC_URL to the App's address as Saleor sees it.",
            environment.public_url,
        )
    if not environment.allowed_saleor_urls:
        logger.warning(
            "No Saleor may install this App yet: set APP_ALLOWED_SALEOR_URLS to your Saleor's "
            "API URL (such as https://shop.example.com/graphql/) and restart."
        )
    stop = stop or threading.Event()
    if with_worker:
        threading.Thread(target=work, args=(stop,), name="reports", daemon=True).start()
    server = make_server(
        host, port, get_wsgi_application(), server_class=_ThreadingServer, handler_class=_Handler
    )
    print(
        f"MultiSafepay App serving on http://{host}:{port}; "
        f"manifest: {environment.public_url}/api/manifest",
        flush=True,
    )

    def stop_when_told() -> None:
        stop.wait()
        server.shutdown()

    threading.Thread(target=stop_when_told, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()


def work(stop: threading.Event) -> None:
    """Make the due reports to Saleor, again and again, until `stop`."""
    from django.db import close_old_connections

    from . import reports
    from .context import app_context

    sealer = app_context().sealer
    while not stop.is_set():
        try:
            reports.run_due(sealer)
        except Exception:
            logger.exception("The reports worker failed; it tries again")
        finally:
            close_old_connections()
        stop.wait(WORKER_PAUSE_SECONDS)
