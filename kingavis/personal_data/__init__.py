"""Customers' personal data (docs/personal-data.md): which column holds what (``columns``),
finding a customer's orders and checking an address (``customers``), erasure (``erasure``),
export (``export``) and retention (``retention``)."""
