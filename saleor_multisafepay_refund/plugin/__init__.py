"""Door 1, Saleor's legacy Payments API: the BasePlugin's hooks, Saleor's data turned into our asks
(`asks.py`, no Saleor import) and the Django glue that records what Saleor must know.
"""
