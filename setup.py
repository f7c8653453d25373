from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
version = {}
exec((HERE / "saleor_multisafepay_refund" / "__init__.py").read_text(), version)

APP = ["Django>=4.2", "PyJWT[crypto]>=2.10,<3", "cryptography>=42"]

setup(
    name="saleor-multisafepay-refund",
    version=version["__version__"],
    description=(
        "MultiSafepay for Saleor, as a Saleor App (Transactions API) and a payment plugin "
        "(legacy Payments API): payments, and refunds by item for Klarna, Pay After "
        "Delivery, in3, Riverty and other buy-now-pay-later methods."
    ),
    author="The saleor-multisafepay-refund developers",
    keywords="saleor multisafepay payments refunds klarna buy-now-pay-later saleor-app",
    # No project URLs yet: the code has no public address to point at.
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    packages=find_packages(include=["saleor_multisafepay_refund", "saleor_multisafepay_refund.*"]),
    # The App's page ships built: templates, script and styles, no build step.
    package_data={
        "saleor_multisafepay_refund": ["py.typed"],
        "saleor_multisafepay_refund.app.dashboard": ["templates/multisafepay/*.html", "static/*"],
    },
    python_requires=">=3.9",
    # Saleor is never a requirement: the package is installed into a Saleor deployment.
    install_requires=["requests>=2.25"],
    extras_require={
        # The Saleor App (`python -m saleor_multisafepay_refund app serve`): Django for its web
        # part and storage (no upper pin: it may share a Saleor environment, 4.2 or 5.2), PyJWT
        # for Saleor's signatures (detached payloads), cryptography for the secrets it stores.
        "app": APP,
        # Production: PostgreSQL (several instances) and a WSGI server (docs/app.md).
        "app-postgres": [*APP, "psycopg[binary]>=3.1", "gunicorn>=21"],
        "test": [
            *APP,
            "psycopg[binary]>=3.1",  # two App instances on one PostgreSQL
            "graphql-core>=3.2",  # the App's webhook queries against Saleor's schemas
            "pytest>=7",
            "hypothesis>=6",
            "ruff>=0.6",
            "mypy>=1.8",
            "types-requests",
            # The App's page in a real browser (Debian's Chromium and ChromeDriver, never
            # downloaded). Selenium 4.36 is the last release for Python 3.9.
            "selenium>=4.36,<4.37; python_version < '3.10'",
            "selenium>=4.36; python_version >= '3.10'",
        ],
    },
    entry_points={
        # Saleor adds the entry point's NAME to INSTALLED_APPS: it must be the package name.
        "saleor.plugins": [
            "saleor_multisafepay_refund = saleor_multisafepay_refund.plugin.hooks:MultiSafepayPlugin",
        ],
    },
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Web Environment",
        "Framework :: Django",
        "Framework :: Django :: 4.2",
        "Framework :: Django :: 5.2",
        "Intended Audience :: Developers",
        "Topic :: Office/Business :: Financial :: Point-Of-Sale",
        "License :: OSI Approved :: BSD License",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Typing :: Typed",
    ],
    zip_safe=False,
)
