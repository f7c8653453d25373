"""Door 2: the Saleor App, on Saleor's Transactions API.

Saleor installs it from its manifest, sends it signed webhooks for the transactions it owns,
and takes its answers. Everything here turns Saleor's JSON into our typed asks and our answers
into Saleor's JSON; the refund and payment decisions are the core's, shared with the plugin.
Uses Django (web and storage, one ledger table with the plugin), never Saleor's code.
"""
