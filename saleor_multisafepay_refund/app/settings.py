"""Django settings of the App (`DJANGO_SETTINGS_MODULE=saleor_multisafepay_refund.app.settings`).

Everything comes from the environment (`environment.py`). No admin, no sessions, no users: the
App's callers carry their own proof (Saleor's signature, Saleor's token).
"""

from __future__ import annotations

import os
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
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "saleor_multisafepay_refund.app.urls"
DATABASES = {"default": ENVIRONMENT.database.django()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
APPEND_SLASH = False
# Webhook bodies are small; a cart of 1,000 lines is still far below this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"saleor_multisafepay_refund": {"handlers": ["console"], "level": "INFO"}},
}
