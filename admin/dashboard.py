"""Back-office: the dashboard — this week's figures and the last 12 weeks in a small chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import render_template
from flask_babel import get_locale
from sqlalchemy import case, func, select

from admin import blueprint
from admin.access import shop_view
from kingavis.extensions import db
from kingavis.models import RequestState, Review, ReviewRequest, Shop, utcnow

WEEKS = 12


@dataclass
class Week:
    start: datetime  # Monday 00:00 in the shop's time zone (aware)
    sent: int = 0
    reviews: int = 0


def week_starts(shop: Shop, now: datetime, weeks: int = WEEKS) -> list[datetime]:
    """The Mondays 00:00 (shop time) of the last ``weeks`` weeks, oldest first, the current last."""
    zone = ZoneInfo(shop.timezone)
    local = now.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).date()
    starts = []
    for back in range(weeks - 1, -1, -1):
        day = monday - timedelta(weeks=back)
        starts.append(datetime(day.year, day.month, day.day, tzinfo=zone))
    return starts


def _per_week(column: Any, shop_column: Any, shop: Shop, starts: list[datetime]) -> list[int]:
    """COUNT(*) GROUP BY the week bucket of ``column`` (a CASE over the week boundaries)."""
    bucket = case(
        *[(column >= start, index) for index, start in reversed(list(enumerate(starts)))],
        else_=-1,
    ).label("bucket")
    rows = db.session.execute(
        select(bucket, func.count())
        .where(shop_column == shop.id, column.is_not(None), column >= starts[0])
        .group_by(bucket)
    ).all()
    counts = [0] * len(starts)
    for index, count in rows:
        if index is not None and 0 <= int(index) < len(starts):
            counts[int(index)] = int(count)
    return counts


def dashboard_figures(shop: Shop, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    starts = week_starts(shop, now)
    week_start = starts[-1]
    sent = _per_week(ReviewRequest.sent_at, ReviewRequest.shop_id, shop, starts)
    reviews = _per_week(Review.created_at, Review.shop_id, shop, starts)

    def count(*conditions: Any) -> int:
        return int(db.session.scalar(
            select(func.count()).select_from(ReviewRequest)
            .where(ReviewRequest.shop_id == shop.id, *conditions)
        ) or 0)

    return {
        "week_start": week_start,
        "scheduled": count(ReviewRequest.state == RequestState.SCHEDULED.value),
        "sent_week": sent[-1],
        "cancelled_week": count(ReviewRequest.state == RequestState.CANCELLED.value,
                                ReviewRequest.updated_at >= week_start),
        "reviews_week": reviews[-1],
        "weeks": [Week(start, s, r) for start, s, r in zip(starts, sent, reviews, strict=True)],
    }


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, 100… that is at least ``value``."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


@dataclass
class Bar:
    x: float
    y: float
    height: float
    value: int
    label: str


def chart(weeks: list[Week], width: int = 720, height: int = 220) -> dict[str, Any]:
    """Coordinates of an SVG grouped bar chart (sent, reviews), computed here, drawn by Jinja."""
    locale = str(get_locale() or "fr")
    left, right, top, bottom = 36, 8, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max([1] + [w.sent for w in weeks] + [w.reviews for w in weeks])
    scale = nice_ceiling(top_value)
    slot = plot_w / max(1, len(weeks))
    bar_w = slot * 0.35
    sent_bars, review_bars, labels = [], [], []
    for i, week in enumerate(weeks):
        x0 = left + i * slot + slot * 0.12
        label = format_date(week.start.date(), "d MMM", locale=locale)
        for value, bars, offset in ((week.sent, sent_bars, 0.0), (week.reviews, review_bars, bar_w)):
            h = plot_h * value / scale
            bars.append(Bar(x=round(x0 + offset, 1), y=round(top + plot_h - h, 1),
                            height=round(h, 1), value=value, label=label))
        labels.append({"x": round(left + i * slot + slot / 2, 1), "text": label})
    ticks = [{"value": v, "y": round(top + plot_h - plot_h * v / scale, 1)}
             for v in sorted({0, scale // 2, scale})]
    return {"width": width, "height": height, "left": left, "top": top, "plot_w": plot_w,
            "plot_h": plot_h, "bar_w": round(bar_w, 1), "sent": sent_bars, "reviews": review_bars,
            "labels": labels, "ticks": ticks, "base_y": top + plot_h}


@blueprint.route("/shops/<shop_key>/")
@shop_view
def dashboard(shop: Shop) -> str:
    from kingavis.reviews.public import rating_summary
    from kingavis.reviews.stats import funnel_totals

    figures = dashboard_figures(shop)
    return render_template("admin/dashboard.html", shop=shop, figures=figures,
                           chart=chart(figures["weeks"]), funnel=funnel_totals(shop),
                           published=rating_summary(shop.id))
