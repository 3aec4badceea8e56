"""The shops' unsubscribe lists (``unsubscriptions``). A customer's personal data (erasure,
export, retention) is ``kingavis.personal_data``; the keyed address hash is
``kingavis/customer_keys.py``."""
