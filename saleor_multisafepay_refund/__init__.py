"""MultiSafepay refunds with a shopping cart, for Saleor.

This module holds the version only: importing the package must work without Saleor or Django.
"""

__version__ = "0.1.0"
