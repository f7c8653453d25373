"""MultiSafepay's API and nothing else: the client (the only HTTP), its JSON, money, its payment
methods, reading an order, the refund body, the order body, what a status means, notification
signatures.
"""
