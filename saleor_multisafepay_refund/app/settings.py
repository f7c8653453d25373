"""Django settings of the App (`DJANGO_SETTINGS_MODULE=saleor_multisafepay_refund.app.settings`).

Everything comes from the environment (`environment.py`). No admin, no sessions, no users: the
App's callers carry their own proof (Saleor's signature, Saleor's token).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from .environment import read_environment

ENVIRONMENT = read_environment(
    host=os.environ.get("APP_HOST", "127.0.0.1"), port=int(os.environ.get("APP_PORT", "8000"))
)

SECRET_KEY = ENVIRONMENT.secret_key
DEBUG = False
ALLOWED_HOSTS = [urlsplit(ENVIRONMENT.public_url).hostname or "127.0.0.1", "127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    # The ledger's table, shared with the plugin (its migrations need nothing of Saleor).
    "saleor_multisafepay_refund",
    "saleor_multisafepay_refund.app",
]
# No CSRF middleware: no view takes a browser's cookie; each carries its own proof.
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "saleor_multisafepay_refund.app.urls"
# The App's page (dashboard/): Django's templates, autoescaped, from the package itself.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).parent / "dashboard" / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"context_processors": []},
    }
]
DATABASES = {"default": ENVIRONMENT.database.django()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
# Django would otherwise set the process's TZ to America/Chicago.
TIME_ZONE = "UTC"
APPEND_SLASH = False
# Webhook bodies are small; a cart of 1,000 lines is still far below this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Logging is `app serve`'s (cli.py): as a library inside another process, the App leaves it
# to its host.
