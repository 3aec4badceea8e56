"""Back-office: funnel statistics by week and per platform, and their CSV export."""

from __future__ import annotations

from flask import Response, render_template
from flask_babel import format_decimal, get_locale, gettext

from admin import blueprint, formatting
from admin.access import shop_view
from kingavis.models import Shop
from kingavis.reviews import stats as funnel_stats
from kingavis.reviews.public import rating_summary

PLATFORM_LABELS = {"kingavis": "King-Avis", "google": "Google", "trustpilot": "Trustpilot"}


def platform_label(platform: str | None) -> str:
    if platform is None:
        return gettext("Toutes")
    if platform == "other":
        return gettext("Autre site")
    return PLATFORM_LABELS.get(platform, platform)


percent = formatting.percent


def rating(value: float | None) -> str:
    return "–" if value is None else format_decimal(value, format="0.0")


@blueprint.route("/shops/<shop_key>/stats")
@shop_view
def stats(shop: Shop) -> str:
    result = funnel_stats.funnel(shop)
    by_week: dict[str, list[funnel_stats.FunnelRow]] = {}
    for cell in result.by_week_platform:
        by_week.setdefault(cell.week, []).append(cell)
    split = len(result.platforms) > 1
    return render_template(
        "admin/stats.html",
        shop=shop,
        funnel=result,
        by_week=by_week,
        split=split,
        platform_label=platform_label,
        percent=percent,
        rating=rating,
        published=rating_summary(shop.id),
    )


@blueprint.route("/shops/<shop_key>/stats.csv")
@shop_view
def stats_csv(shop: Shop) -> Response:
    result = funnel_stats.funnel(shop)
    lang = str(get_locale() or "fr")
    # UTF-8 with a byte order mark: spreadsheets then read the accents right.
    body = "\ufeff" + funnel_stats.funnel_csv(result, lang)
    filename = f"kingavis-funnel-{result.since.isoformat()}-{result.until.isoformat()}.csv"
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
