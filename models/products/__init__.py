"""Readers of observation products: each converts a provider's files to pdafpy's
observation file (``pdafpy convert``, docs/products.md)."""
