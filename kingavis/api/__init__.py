"""Reviews on the shop's own pages (docs/publication.md): the public JSON API, the SVG badge, widget.js
and their OpenAPI document.

Public and read-only: no cookies, ``Access-Control-Allow-Origin: *``, an ``ETag`` on every
answer, ``304`` for a matching ``If-None-Match`` and ``Cache-Control: public, max-age``. Served
on every page view of every shop that embeds it, so a cached, unchanged answer is made from
memory without touching the database (``kingavis.api.cache``).
"""

from flask import Blueprint

blueprint = Blueprint("api", __name__)

from kingavis.api import feed, views  # noqa: E402,F401
