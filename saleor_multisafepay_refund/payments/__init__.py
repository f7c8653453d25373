"""A payment through MultiSafepay: the ask, creating, confirming, capturing (shipping) and voiding
the order, and MultiSafepay's notifications brought into the shop.
"""
