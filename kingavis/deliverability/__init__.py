"""Deliverability: the envelope sender that names each email, DKIM signing, the bounces and
complaints that come back, and the sending domain's DNS records (docs/deliverability.md)."""
