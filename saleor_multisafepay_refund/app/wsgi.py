"""The App for a WSGI server in production:
`gunicorn saleor_multisafepay_refund.app.wsgi:application` (after `app migrate`), with one
`app worker` beside it for the reports to Saleor."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saleor_multisafepay_refund.app.settings")
application = get_wsgi_application()
