"""Customers' personal data: erasure, export and retention (``personal_data``), and the keyed
hash that remembers an address without keeping it (``customer_keys``)."""
