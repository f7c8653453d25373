"""A refund Saleor asks for, made at MultiSafepay exactly once: the ask, the flow, the ledger and
how its open entries are settled, and the comparison of Saleor, ledger and MultiSafepay.
"""
