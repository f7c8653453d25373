"""A stateful emulator of MultiSafepay's order and refund API, serving real HTTP.

It checks refund requests as strictly as MultiSafepay's documentation allows
(docs/msp-api.md, the seed page), independently of this package's own refund-building code,
so the test suite catches the package's mistakes. It also ships for demos: stdlib only.

Routes, under `/v1/json/`; the API key goes in the `api_key` header or the `api_key` query
parameter and is checked first:

    GET   orders/{order_id}          -> {"success": true, "data": <order>}
    POST  orders/{order_id}/refunds  -> {"success": true, "data": {transaction_id, refund_id}}
    POST  orders                     -> {"success": true, "data": {order_id, payment_url}}
                                        (a cart must add up to the amount: 1027 otherwise)
    PATCH orders/{order_id}          -> {"success": true, "data": {}}
                                        ({"status": "shipped", ...} or {"status": "cancelled"})

The payment page, `payment_url`, takes no API key: the emulated customer pays there (or
`Emulator.pay` does the same without HTTP):

    GET   pay/{order_id}?gateway=KLARNA&outcome=completed|declined|cancelled
          -> 302 to payment_options.redirect_url (paid) or cancel_url (else redirect_url);
             200 text when the order has no such URL; 400/404/409 text when refused

Order `status` / `financial_status`, as MultiSafepay's status tables say (payment-statuses,
klarna, pay-after-delivery, riverty, billink, in3, e-invoicing pages of MultiSafepay/docs):

    created                          initialized / initialized
    paid, cart method (BNPL)         completed / uncleared (EINVOICE: completed / initialized):
                                     authorized, captured by PATCH shipped
    paid, other methods              completed / completed
    PATCH shipped (once paid)        shipped / unchanged; shipping again changes nothing
    declined                         declined / declined
    cancelled by the customer, or    void / cancelled (BNPL authorized, cancelled: void / void;
      PATCH cancelled while unpaid     IN3 and EINVOICE cannot be cancelled once authorized)
    expired (`Emulator.expire`)      expired / expired
    refunded                         refunded or partial_refunded (back to the status before
                                     when the refunds are declined or void)

Every status change, accepted refund and refund status change queues a notification (see
`Notification`) for orders created with a `payment_options.notification_url`: POST (GET
when `notification_method` is not POST, MultiSafepay's default) to that URL plus
`?transactionid=<order_id>&timestamp=<unix>`, the body the order as GET shows it, signed in
the `Auth` header. The test calls `deliver_pending` to send them.

Refunds counted but listed late, or never (`lists_refunds=False`, or per order
`set_refund_listing`): real answers have shown amount_refunded grown while
related_transactions is null or does not list the refund yet (the recorded card order,
fixtures/msp/credit-card-order.json, has `related_transactions: null`). Such a refund counts
at once as any other (amount_refunded, quantities, cart lines, status, duplicate window,
notifications, `set_refund_status`) but is kept aside; `list_refunds` appends the refunds
kept aside to related_transactions, as MultiSafepay does "a moment later". An order that
does not list refunds and lists none shows `related_transactions: null` (GET,
notifications, `Emulator.order`). When MultiSafepay lists them, and whether it notifies
then, is UNCONFIRMED: `list_refunds` queues no notification.

Refusals answer `{"success": false, "data": {}, "error_code": ..., "error_info": ...}`:

    =====  ======  =================================================================
    code   HTTP    when
    =====  ======  =================================================================
    1032   401     API key missing or wrong
    1006   404     unknown order
    9999   404     unknown route or method
    1016   400     body not a JSON object; amount and checkout_data mixed; amount on
                   a cart method; checkout_data on an amount method; checkout_data
                   items missing or not objects; no refund copy at all; a URL in
                   payment_options not http(s); PATCH with an unknown status, or a
                   status change the order's state does not allow; POST /orders with an
                   order_id already used, a cart item not an object or with a quantity
                   that is not a whole number above 0 (UNCONFIRMED code)
    1001   400     amount missing, 0, negative or not an integer (MultiSafepay would
                   refund the whole order); refund copies that add up to nothing
    1002   400     currency missing (amount refund) or not the order's
    1027   400     current cart not repeated unchanged and in order; a copy of an item
                   not in the cart, placed before its original, with a changed field
                   or a quantity that is not a whole number of the expected sign
    1029   400     a copy's tax_table_selector differs from its original's
    1031   400     a copy's unit_price is not what the gateway's sign convention wants;
                   POST /orders with a unit_price that is no number
    1034   400     more than the remaining amount (but see last_refund_takes_remainder
                   below); more of an item than was bought; the same amount refunded
                   within the duplicate window
    9999   500     the emulator failed (a bug, or order data it cannot read)
    =====  ======  =================================================================

The last refund's rounding: a cart refund's amount is its copies' total, each line with its
tax, rounded; the copies of the last units can then come to a cent more than remains
(5 x 54.32 at 9%: 296.04 paid, 118.42 for 2, then 177.63 for the other 3 where 177.62
remains). MultiSafepay's documentation is silent on this (UNCONFIRMED). By default the
emulator refuses it with 1034; with `last_refund_takes_remainder=True`, a cart refund after
which no unit of an item with a non-zero unit_price remains, and whose copies exceed what
remains by at most one minor unit per unit refunded on the order (earlier refunds and this
one), refunds exactly what remains and the order becomes refunded.

Faults (`Fault`, one-shot, queued with `Emulator.inject`) imitate an unreliable network; they
meet the payment page's GET requests too.

The emulator's modules, by concern; each imports only modules below it:

    server.py         `Emulator`: start and stop, the calls a test makes, routing, the API key,
                      the requests recorded
    payments.py       the payment page, statuses, expiry, PATCH shipped or cancelled
    refunds.py        refunds checked and applied, dashboard refunds, refund statuses, listing
    notifications.py  notifications signed, queued and delivered
    faults.py         the faults a test injects, and how each one misbehaves
    orders.py         the orders kept, `build_order`, POST /orders checked
    refund_copies.py  a refund copy against the item bought: the gateway's sign convention
    json_values.py    JSON values compared and shown with their types
    envelope.py       MultiSafepay's envelope and error codes, a refusal
"""

from .faults import Fault, FaultKind
from .notifications import Notification
from .orders import build_order
from .payments import PaymentRefused
from .server import Emulator, RecordedRequest

__all__ = [
    "Emulator",
    "Fault",
    "FaultKind",
    "Notification",
    "PaymentRefused",
    "RecordedRequest",
    "build_order",
]
