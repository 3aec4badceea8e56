"""King-Avis: review requests sent at the right moment, and never when it would be wrong."""

from kingavis.app import create_app

__all__ = ["create_app"]
