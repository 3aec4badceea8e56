"""``GET /feeds/v1/<slug>/google-product-reviews.xml``: the shop's product reviews as a Google
Merchant Center product review feed (docs/product-reviews.md). Public and cacheable like the
API (``kingavis.api.views.public_headers``): ``ETag`` and ``Last-Modified`` so Google's
regular fetch of an unchanged feed costs one aggregate query and a ``304``."""

from __future__ import annotations

from flask import Response, request, stream_with_context
from werkzeug.http import is_resource_modified

from kingavis.api import blueprint
from kingavis.problems import problem
from kingavis.reviews.feed import feed_chunks, feed_version
from kingavis.shops.slugs import shop_by_slug


@blueprint.get("/feeds/v1/<slug>/google-product-reviews.xml")
def google_product_reviews(slug: str) -> Response:
    shop = shop_by_slug(slug)
    if shop is None:
        return problem(404, "no shop has this public address", type_="unknown-shop")
    version = feed_version(shop)
    if not is_resource_modified(request.environ, etag=version.etag,
                                last_modified=version.last_modified):
        response = Response(status=304)
    else:
        response = Response(stream_with_context(feed_chunks(shop)),
                            mimetype="application/xml")
    response.headers["ETag"] = f'"{version.etag}"'
    if version.last_modified is not None:
        response.last_modified = version.last_modified
    return response
