"""Funnel statistics of a shop: scheduled → sent → opened → clicked → reviewed, average rating.

Requests are counted by cohort: a request belongs to the ISO week (in the shop's time zone) in
which it was created, and each later step counts the requests of that week that reached it, so
every rate stays between 0 and 100 %. Split per platform ("kingavis" or the Review Balancing
platform the invitation went to). Bucketed in Python from one portable query (SQLite and
PostgreSQL alike).

For the dashboard: ``funnel(shop)`` (``.total``, ``.weeks``, ``.platforms``) or
``funnel_totals(shop)`` for the current period's totals only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from kingavis.extensions import db
from kingavis.models import Review, ReviewRequest, ReviewState, Shop, utcnow
from kingavis.reviews.public import average_rating

DEFAULT_WEEKS = 12
MAX_WEEKS = 104
KINGAVIS = "kingavis"
CSV_COLUMNS = (
    "week", "week_start", "platform", "scheduled", "sent", "opened", "clicked", "reviewed",
    "average_rating", "reminders_sent", "product_reviews",
)
# The export in the reader's language: what a spreadsheet of that language opens as it is
# (French Excel wants ";" between cells, a decimal comma and a UTF-8 byte order mark).
CSV_HEADERS = {
    "fr": ("Semaine", "Début de semaine", "Plateforme", "Programmées", "Envoyées", "Ouvertes",
           "Cliquées", "Avis laissés", "Note moyenne (avis publiés)", "Relances",
           "Avis produits"),
    "en": ("Week", "Week start", "Platform", "Scheduled", "Sent", "Opened", "Clicked",
           "Reviews left", "Average rating (published reviews)", "Reminders",
           "Product reviews"),
}
CSV_WORDS = {"fr": {"all": "Toutes", "other": "Autre site", "week": "semaine du {date}"},
             "en": {"all": "All", "other": "Other site", "week": "week of {date}"}}
CSV_DELIMITER = {"fr": ";", "en": ","}
PLATFORM_NAMES = {KINGAVIS: "King-Avis", "google": "Google", "trustpilot": "Trustpilot"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class FunnelRow:
    """One line of the funnel: a week (or the whole period) for one platform (or all: None)."""

    week: str  # "2026-W47", or "" for the whole period
    week_start: date | None
    platform: str | None
    scheduled: int = 0
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    reviewed: int = 0
    reminders_sent: int = 0
    # The published reviews among ``reviewed`` and the sum of their ratings: the average counts
    # only what the public page counts (kingavis.reviews.public.average_rating).
    published: int = 0
    rating_sum: int = 0
    # Product reviews given with those requests' shop reviews (docs/product-reviews.md).
    product_reviews: int = 0

    @property
    def average_rating(self) -> float | None:
        return average_rating(self.rating_sum, self.published)

    def rate(self, step: str, of: str = "sent") -> float | None:
        """``step`` as a percentage of ``of`` (None when ``of`` is 0)."""
        base = getattr(self, of)
        return round(100 * getattr(self, step) / base, 1) if base else None

    def add(self, other: FunnelRow) -> None:
        for name in ("scheduled", "sent", "opened", "clicked", "reviewed", "reminders_sent",
                     "published", "rating_sum", "product_reviews"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Funnel:
    shop_id: int
    since: date  # first day (Monday) of the oldest week
    until: date  # last day (Sunday) of the newest week
    weeks: list[FunnelRow] = field(default_factory=list)  # every week, newest first, all platforms
    by_week_platform: list[FunnelRow] = field(default_factory=list)  # weeks × platforms with data
    platforms: list[FunnelRow] = field(default_factory=list)  # whole period, per platform
    total: FunnelRow = field(default_factory=lambda: FunnelRow("", None, None))


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def funnel(shop: Shop, *, weeks: int = DEFAULT_WEEKS, now: datetime | None = None) -> Funnel:
    """The funnel of ``shop`` over the last ``weeks`` ISO weeks (the current one included)."""
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be between 1 and {MAX_WEEKS}")
    zone = ZoneInfo(shop.timezone or "UTC")
    today = (now or utcnow()).astimezone(zone).date()
    first_monday = _monday(today) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first_monday, time(0), tzinfo=zone)

    products = aliased(Review)
    rows = db.session.execute(
        select(
            ReviewRequest.created_at,
            ReviewRequest.platform,
            ReviewRequest.sent_at,
            ReviewRequest.opened_at,
            ReviewRequest.clicked_at,
            ReviewRequest.reminder_sent_at,
            Review.rating,
            select(func.count(products.id))
            .where(products.review_request_id == ReviewRequest.id, products.product_id.is_not(None))
            .scalar_subquery(),
            Review.status,
        )
        .outerjoin(Review, (Review.review_request_id == ReviewRequest.id)
                   & Review.product_id.is_(None))
        .where(ReviewRequest.shop_id == shop.id, ReviewRequest.created_at >= since)
    ).all()

    mondays = [first_monday + timedelta(weeks=i) for i in range(weeks)]
    week_rows = {m: FunnelRow(iso_week(m), m, None) for m in mondays}
    cells: dict[tuple[date, str], FunnelRow] = {}
    for (created_at, platform, sent_at, opened_at, clicked_at, reminder_at, rating, rated,
         status) in rows:
        monday = _monday(created_at.astimezone(zone).date())
        if monday not in week_rows:  # created "in the future" (clock skew): not shown
            continue
        platform = platform or KINGAVIS
        cell = cells.get((monday, platform))
        if cell is None:
            cell = cells[(monday, platform)] = FunnelRow(iso_week(monday), monday, platform)
        steps = funnel_steps(sent_at, opened_at, clicked_at, rating)
        cell.scheduled += 1
        cell.sent += steps["sent"]
        cell.opened += steps["opened"]
        cell.clicked += steps["clicked"]
        cell.reminders_sent += reminder_at is not None
        cell.product_reviews += rated or 0
        if steps["reviewed"]:
            cell.reviewed += 1
        if steps["reviewed"] and status == ReviewState.PUBLISHED.value:
            cell.published += 1
            cell.rating_sum += int(rating)

    result = Funnel(shop_id=shop.id, since=first_monday, until=mondays[-1] + timedelta(days=6))
    per_platform: dict[str, FunnelRow] = {}
    for (monday, platform), cell in cells.items():
        week_rows[monday].add(cell)
        per_platform.setdefault(platform, FunnelRow("", None, platform)).add(cell)
        result.total.add(cell)
    result.weeks = [week_rows[m] for m in reversed(mondays)]
    result.by_week_platform = sorted(
        cells.values(), key=lambda c: (-c.week_start.toordinal(), _platform_order(c.platform))
    )
    result.platforms = sorted(per_platform.values(), key=lambda c: _platform_order(c.platform))
    return result


def funnel_steps(sent_at: datetime | None, opened_at: datetime | None,
                 clicked_at: datetime | None, rating: int | None) -> dict[str, bool]:
    """Which steps of the funnel one request reached. Each step is defined once, here.

    - reviewed: the customer left a review;
    - clicked: a counted click on the email's link, a browser opening the questionnaire (the
      text part links to it directly), or a review (nobody reviews without following a link);
    - opened: the tracking image was loaded, or the email was clicked (images are often
      blocked, but a click proves the email was read);
    - sent: the email went out, or anything above happened (which needs a sent email).

    So every step counts a subset of the one before it, and no page can show more reviews
    than clicks or more clicks than emails sent.
    """
    reviewed = rating is not None
    clicked = clicked_at is not None or reviewed
    opened = opened_at is not None or clicked
    sent = sent_at is not None or opened
    return {"sent": sent, "opened": opened, "clicked": clicked, "reviewed": reviewed}


def _platform_order(platform: str | None) -> tuple[int, str]:
    return (0 if platform == KINGAVIS else 1, platform or "")


def funnel_totals(shop: Shop, *, weeks: int = DEFAULT_WEEKS, now: datetime | None = None) -> FunnelRow:
    """The whole period's totals, all platforms (for the dashboard)."""
    return funnel(shop, weeks=weeks, now=now).total


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ (formula) gets a quote."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_rows(result: Funnel, lang: str = "en") -> Iterable[list[str]]:
    """Header, then one line per week and platform (all first), newest week first, in ``lang``."""
    lang = lang if lang in CSV_HEADERS else "en"
    yield list(CSV_HEADERS[lang])
    by_week: dict[date, list[FunnelRow]] = {}
    for cell in result.by_week_platform:
        assert cell.week_start is not None
        by_week.setdefault(cell.week_start, []).append(cell)
    for week in result.weeks:
        assert week.week_start is not None
        for row in [week, *by_week.get(week.week_start, [])]:
            yield [safe_cell(v) for v in _csv_values(row, lang)]


def _csv_values(row: FunnelRow, lang: str) -> list[object]:
    words = CSV_WORDS[lang]
    average = row.average_rating
    platform = words["all"] if row.platform is None else (
        words["other"] if row.platform == "other" else PLATFORM_NAMES.get(row.platform, row.platform))
    return [
        words["week"].format(date=format_date(row.week_start, "medium", locale=lang))
        if row.week_start else "",
        row.week_start.isoformat() if row.week_start else "",
        platform, row.scheduled, row.sent, row.opened, row.clicked, row.reviewed,
        format_decimal(average, format="0.0", locale=lang) if average is not None else "",
        row.reminders_sent, row.product_reviews,
    ]


def funnel_csv(result: Funnel, lang: str = "en") -> str:
    """The funnel as CSV text in ``lang``: French uses ";" and a decimal comma (and the caller
    adds a UTF-8 byte order mark), English "," and a decimal point; CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_DELIMITER.get(lang, ","))
    writer.writerows(csv_rows(result, lang))
    return out.getvalue()
