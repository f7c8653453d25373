"""The SDK side of the refund benchmark: runs inside `benchmarks/.venv-sdk` only.

The official `multisafepay` SDK needs pydantic 1, so it cannot be imported next to the package;
`refund_bodies.py` runs this script with the SDK environment's Python.

One timed call, the way `OrderManager.refund_by_item` builds a refund before sending it:
`Order.from_dict(data)` (the SDK's own parsing of a GET /orders answer),
`OrderManager.create_refund_request(order)`, `checkout_data.refund_by_merchant_item_id(id, qty)`
for every line, then `json.dumps(request.to_dict(), cls=DecimalEncoder)` exactly as
`OrderManager.refund` serializes the body. No HTTP.

Prints `{"<lines>": <seconds per call>, ...}` as JSON on stdout; `--show-body N` prints the
body the SDK builds for an order of N lines instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from functools import partial
from typing import Any, Dict, List

from multisafepay.api.paths.orders.order_manager import OrderManager
from multisafepay.api.paths.orders.response.order_response import Order
from multisafepay.util.json_encoder import DecimalEncoder
from orders import make_order, refund_all
from timing import best_per_call


def sdk_refund_body(data: Dict[str, Any]) -> str:
    """The JSON body the SDK would POST to refund every line of the order `data`."""
    order = Order.from_dict(data)
    request = OrderManager.create_refund_request(order)
    for merchant_item_id, quantity in refund_all(data).items():
        request.checkout_data.refund_by_merchant_item_id(merchant_item_id, quantity)
    return json.dumps(request.to_dict(), cls=DecimalEncoder)


def _check(data: Dict[str, Any], body: str) -> None:
    """Refuse to time a body that does not refund the whole cart (2 lines per line, net 0)."""
    items = json.loads(body, parse_float=Decimal)["checkout_data"]["items"]
    lines = len(data["shopping_cart"]["items"])
    net = sum(Decimal(str(item["unit_price"])) * int(item["quantity"]) for item in items)
    if len(items) != 2 * lines or net != 0:
        raise SystemExit(f"SDK body for {lines} lines: {len(items)} items, net {net}")


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", nargs="*", type=int, default=[10, 100, 1000])
    parser.add_argument("--show-body", type=int, metavar="N")
    args = parser.parse_args(argv)
    if args.show_body:
        print(json.dumps(json.loads(sdk_refund_body(make_order(args.show_body))), indent=2))
        return 0
    results: Dict[str, float] = {}
    for n_lines in args.lines:
        data = make_order(n_lines)
        _check(data, sdk_refund_body(data))
        results[str(n_lines)] = best_per_call(partial(sdk_refund_body, data))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
