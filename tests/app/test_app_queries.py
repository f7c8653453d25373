"""The manifest's subscription queries are valid GraphQL in every Saleor the App supports:
Saleor refuses to install an App whose webhook query does not validate against its schema.
Checked against each snapshot's own `schema.graphql` in ../shared/saleor (skipped without)."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import List

import pytest

from saleor_multisafepay_refund.app.manifest import WEBHOOKS, Webhook

graphql = pytest.importorskip("graphql")

SHARED = Path(__file__).resolve().parents[3] / "shared" / "saleor"
SNAPSHOTS = sorted(SHARED.glob("saleor-*.tar.gz")) if SHARED.is_dir() else []


def _schema(snapshot: Path) -> str:
    with tarfile.open(snapshot) as archive:
        for member in archive:
            if member.name.endswith("saleor/graphql/schema.graphql"):
                file = archive.extractfile(member)
                assert file is not None
                return file.read().decode()
    raise AssertionError(f"no schema.graphql in {snapshot.name}")


@pytest.mark.skipif(not SNAPSHOTS, reason=f"no Saleor snapshots in {SHARED}")
@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda path: path.name[: -len(".tar.gz")])
def test_every_webhook_query_validates_against_saleors_schema(snapshot: Path) -> None:
    schema = graphql.build_schema(_schema(snapshot))
    problems: List[str] = []
    for webhook in WEBHOOKS:
        errors = graphql.validate(schema, graphql.parse(webhook.query))
        problems.extend(f"{webhook.event}: {error.message}" for error in errors)
    assert problems == []


def test_a_wrong_field_would_be_caught() -> None:
    # The check above can fail: a field Saleor does not have is an error.
    if not SNAPSHOTS:
        pytest.skip(f"no Saleor snapshots in {SHARED}")
    schema = graphql.build_schema(_schema(SNAPSHOTS[-1]))
    wrong = Webhook("X", "/x", WEBHOOKS[0].query.replace("shippingCostsIncluded", "shipping"))
    assert graphql.validate(schema, graphql.parse(wrong.query)) != []
