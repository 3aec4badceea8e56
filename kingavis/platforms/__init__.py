"""Shops without a module: Shopify's and WooCommerce's own webhooks (docs/platforms.md)."""
