"""Saleor's webhooks to the App: one module per event (its payload read, its use case, its
answer), and `base.py`, which every one goes through (trust, JSON, never a crash)."""
