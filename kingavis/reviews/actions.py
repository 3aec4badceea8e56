"""What people do to a published review (docs/publication.md): an operator's moderation decision, a
merchant's report and reply, the author's withdrawal.

Every state change goes through ``kingavis.reviews.publication.change_review_state`` (which writes the
timeline and queues the callback event and the author's email); what is not a state change
(a report, a dismissed report, a reply) writes its own timeline row here. Each function checks
who may do what, commits its change with its audit entry, or raises ``ActionError`` and
changes nothing. Nothing here looks at the rating.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.exc import IntegrityError

from kingavis.accounts import audit
from kingavis.extensions import db
from kingavis.models import Review, ReviewReport, ReviewRequest, ReviewState, Shop, User, utcnow
from kingavis.review_requests.notes import NoteCode
from kingavis.reviews.publication import (
    CALLBACK_REPLIED,
    EMAIL_REPLY,
    REJECTION_REASONS,
    RESTORE_DAYS,
    WITHDRAWN_BY_AUTHOR,
    change_review_state,
    queue_author_email,
    queue_callback,
    timeline_note,
)

log = logging.getLogger("kingavis.reviews.actions")

MAX_REPLY_CHARS = 2000
MIN_REPORT_CHARS = 3
MAX_REPORT_CHARS = 1000
# The timeline's actor for an operator's decision (the audit log keeps which operator).
MODERATION = "moderation"
CUSTOMER = "customer"
# The timeline's actor for a report made from the public page (the address stays on the report).
READER = "reader"
UPHELD, DISMISSED = "upheld", "dismissed"


class ActionError(Exception):
    """The action is refused. ``code``: invalid (bad input), state (not in a state that allows
    it), reported (an open report exists already), no_review (nothing to withdraw)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


def open_report_clause() -> ColumnElement[bool]:
    """SQL: the review has a report no operator has decided on yet (for queries on Review)."""
    return exists().where(ReviewReport.review_id == Review.id, ReviewReport.resolved_at.is_(None))


def open_report(review_id: int) -> ReviewReport | None:
    """The review's report awaiting an operator, if any."""
    return db.session.execute(
        select(ReviewReport).where(ReviewReport.review_id == review_id,
                                   ReviewReport.resolved_at.is_(None))
    ).scalar_one_or_none()


def clean_text(value: object, limit: int, *, minimum: int = 1) -> str:
    """A person's text fit to store: line breaks kept (CRLF counted once), other control
    characters dropped, trimmed; ActionError("invalid") if shorter than ``minimum`` or longer
    than ``limit`` characters."""
    if not isinstance(value, str):
        raise ActionError("invalid", "text is missing")
    body = value.replace("\r\n", "\n").replace("\r", "\n")
    body = "".join(ch for ch in body if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
    if len(body) < minimum:
        raise ActionError("invalid", "text is empty" if not body else "text is too short")
    if len(body) > limit:
        raise ActionError("invalid", f"text is longer than {limit} characters")
    return body


def _locked_review(review_id: int) -> Review | None:
    """The review re-read under a row lock (PostgreSQL; SQLite: the write transaction)."""
    return db.session.execute(
        select(Review).where(Review.id == review_id).with_for_update(of=Review)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _commit_or_rollback() -> None:
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


# --- The operator's moderation queue and decisions -------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """One thing awaiting an operator: a pending review, or a published one a merchant reported.
    Only what moderation needs: the shop's name, the review's rating, comment and dates, the
    report's reason."""

    kind: str  # "pending" or "report"
    review_id: int
    shop_name: str
    rating: int
    comment: str | None
    submitted_at: datetime
    since: datetime  # submission (pending) or report time
    report_reason: str | None = None
    product_name: str | None = None  # a product review's product (docs/product-reviews.md)
    # A reader's report from the public page: its reason code and the address to answer.
    report_code: str | None = None
    reporter_email: str | None = None


def moderation_queue(limit: int = 200) -> tuple[list[QueueItem], int]:
    """Pending reviews and open reports across shops, oldest first; and how many there are."""
    pending = db.session.execute(
        select(Review.id, Shop.name, Review.rating, Review.comment, Review.created_at,
               Review.product_name)
        .join(Shop, Shop.id == Review.shop_id)
        .where(Review.status == ReviewState.PENDING.value)
        .order_by(Review.created_at, Review.id)
        .limit(limit)
    ).all()
    reports = db.session.execute(
        select(Review.id, Shop.name, Review.rating, Review.comment, Review.created_at,
               ReviewReport.created_at, ReviewReport.reason, ReviewReport.reason_code,
               ReviewReport.reporter_email, Review.product_name)
        .join(Review, Review.id == ReviewReport.review_id)
        .join(Shop, Shop.id == Review.shop_id)
        .where(ReviewReport.resolved_at.is_(None), Review.status == ReviewState.PUBLISHED.value)
        .order_by(ReviewReport.created_at, ReviewReport.id)
        .limit(limit)
    ).all()
    items = [QueueItem("pending", r[0], r[1], r[2], r[3], r[4], r[4], product_name=r[5])
             for r in pending]
    items += [QueueItem("report", r[0], r[1], r[2], r[3], r[4], r[5], r[6], report_code=r[7],
                        reporter_email=r[8], product_name=r[9])
              for r in reports]
    items.sort(key=lambda item: (item.since, item.review_id))
    return items[:limit], len(pending) + len(reports)


def _resolve_report(review_id: int, operator: User, resolution: str, now: datetime) -> ReviewReport | None:
    report = open_report(review_id)
    if report is not None:
        report.resolved_at = now
        report.resolution = resolution
        report.resolved_by_id = operator.id
    return report


def _require_operator(user: User) -> None:
    if not getattr(user, "is_operator", False):
        raise PermissionError("only an operator may moderate reviews")


def operator_publish(review_id: int, operator: User, *, now: datetime | None = None) -> str:
    """The operator lets the review be public: a pending review is published (its author is told
    by email); a reported published review stays published and its report is dismissed.
    Returns the audit action recorded. Commits; ActionError("state") when neither applies."""
    _require_operator(operator)
    now = now or utcnow()
    try:
        review = _locked_review(review_id)
        if review is None:
            raise ActionError("state", "no such review")
        shop = db.session.get(Shop, review.shop_id)
        if review.status == ReviewState.PENDING.value:
            change_review_state(review, ReviewState.PUBLISHED, actor=MODERATION, now=now,
                                notify_author=True)
            _resolve_report(review.id, operator, DISMISSED, now)
            action = "moderation.publish"
            audit.record(operator, "moderation.publish", shop=shop, target_type="review",
                         target_id=review.id)
        elif review.status == ReviewState.PUBLISHED.value and open_report(review.id) is not None:
            _resolve_report(review.id, operator, DISMISSED, now)
            timeline_note(review, NoteCode.REVIEW_REPORT_DISMISSED, {"rating": review.rating},
                          actor=MODERATION, now=now)
            action = "moderation.dismiss_report"
            audit.record(operator, "moderation.dismiss_report", shop=shop, target_type="review",
                         target_id=review.id)
        else:
            raise ActionError("state", f"a {review.status} review has nothing to decide")
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    log.info("moderation decision", extra={"fields": {"review_id": review_id, "action": action}})
    return action


def operator_reject(review_id: int, operator: User, reason: str, *, now: datetime | None = None) -> None:
    """The operator refuses the review for ``reason`` (a code of REJECTION_REASONS): a pending
    review, or a published one a merchant reported (the report is upheld). The author is
    emailed the reason. Commits; ActionError("invalid") for an unknown reason, ("state") when
    the review is neither pending nor reported."""
    _require_operator(operator)
    if reason not in REJECTION_REASONS:
        raise ActionError("invalid", "unknown rejection reason")
    now = now or utcnow()
    try:
        review = _locked_review(review_id)
        if review is None:
            raise ActionError("state", "no such review")
        reported = open_report(review.id) is not None
        if not (review.status == ReviewState.PENDING.value
                or (review.status == ReviewState.PUBLISHED.value and reported)):
            raise ActionError("state", f"a {review.status} review cannot be rejected now")
        change_review_state(review, ReviewState.REJECTED, actor=MODERATION, reason=reason, now=now,
                            notify_author=True)
        _resolve_report(review.id, operator, UPHELD, now)
        audit.record(operator, "moderation.reject", shop=db.session.get(Shop, review.shop_id),
                     target_type="review", target_id=review.id,
                     details={"reason": reason, "reported": reported})
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    log.info("moderation decision",
             extra={"fields": {"review_id": review_id, "action": "reject", "reason": reason}})


# --- The merchant: report and reply ----------------------------------------------------------


def _merchant_review(shop: Shop, review_id: int) -> Review:
    review = _locked_review(review_id)
    if review is None or review.shop_id != shop.id:
        # The view already answered 404 for another shop's review; this is the service's guard.
        raise PermissionError("this review is not one of the shop's")
    return review


def report_review(shop: Shop, review_id: int, user: User, reason: object, *,
                  now: datetime | None = None) -> ReviewReport:
    """The merchant reports a published review to the operators with ``reason`` (their own
    words, 3 to 1000 characters). The review stays published until an operator decides.
    Commits; ActionError invalid / state (not published) / reported (already awaiting)."""
    text = clean_text(reason, MAX_REPORT_CHARS, minimum=MIN_REPORT_CHARS)
    now = now or utcnow()
    try:
        review = _merchant_review(shop, review_id)
        if review.status != ReviewState.PUBLISHED.value:
            raise ActionError("state", "only a published review can be reported")
        if open_report(review.id) is not None:
            raise ActionError("reported", "this review is already awaiting a decision")
        report = ReviewReport(review_id=review.id, shop_id=shop.id, reason=text,
                              reported_by_id=user.id, created_at=now)
        db.session.add(report)
        timeline_note(review, NoteCode.REVIEW_REPORTED, {"rating": review.rating, "report": text},
                      actor=user.email, now=now)
        db.session.flush()
        audit.record(user, "review.report", shop=shop, target_type="review", target_id=review.id,
                     details={"report_id": report.id})
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # the one-open-report index: a concurrent report won
        raise ActionError("reported", "this review is already awaiting a decision") from None
    except BaseException:
        db.session.rollback()
        raise
    return report


def reply_to_review(shop: Shop, review_id: int, user: User, text: object, *,
                    now: datetime | None = None) -> bool:
    """Publish or edit the merchant's one reply to a published review (at most MAX_REPLY_CHARS).

    The first publication sets ``reply_published_at`` and emails the author; every publication
    or edit sets ``reply_updated_at`` and queues a ``review.replied`` callback event. The same
    text again changes nothing (returns False). Commits; ActionError invalid / state."""
    body = clean_text(text, MAX_REPLY_CHARS)
    now = now or utcnow()
    try:
        review = _merchant_review(shop, review_id)
        if review.status != ReviewState.PUBLISHED.value:
            raise ActionError("state", "only a published review can be answered")
        if review.reply_text == body:
            db.session.rollback()
            return False
        first = review.reply_published_at is None
        review.reply_text = body
        review.reply_updated_at = now
        if first:
            review.reply_published_at = now
            queue_author_email(review, EMAIL_REPLY, now=now)
        queue_callback(review, CALLBACK_REPLIED, now=now)
        timeline_note(review, NoteCode.REVIEW_REPLY_PUBLISHED if first else NoteCode.REVIEW_REPLY_UPDATED,
                      {"rating": review.rating}, actor=user.email, now=now)
        if first:
            audit.record(user, "review.reply", shop=shop, target_type="review",
                         target_id=review.id, details={"chars": len(body)})
        else:
            audit.record(user, "review.reply_update", shop=shop, target_type="review",
                         target_id=review.id, details={"chars": len(body)})
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return True


# --- The author: withdrawal ------------------------------------------------------------------


def _request_reviews(request: ReviewRequest) -> list[Review]:
    """Every review left through this request's link (the order's review and any product
    reviews), each re-read under a row lock: the order's review first, then the products' in
    the order they were given."""
    ids = db.session.execute(
        select(Review.id).where(Review.review_request_id == request.id)
        .order_by(Review.product_id.is_not(None), Review.id)
    ).scalars().all()
    return [review for review in (_locked_review(i) for i in ids) if review is not None]


def withdraw_by_author(request: ReviewRequest, *, now: datetime | None = None) -> Review:
    """The author takes their reviews off the public page, the API and the averages: every
    review of the request (the order's and its products', docs/product-reviews.md) together.

    Idempotent: a withdrawn review stays as it is (no second timeline row, no second event).
    The text stays stored for RESTORE_DAYS (``restore_by_author``; erasure is a separate step).
    Returns the request's first review, the order's. Commits; ActionError("no_review")."""
    now = now or utcnow()
    try:
        reviews = _request_reviews(request)
        if not reviews:
            raise ActionError("no_review", "there is no review to withdraw")
        for review in reviews:
            change_review_state(review, ReviewState.WITHDRAWN, actor=CUSTOMER,
                                reason=WITHDRAWN_BY_AUTHOR, now=now)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return reviews[0]


def restore_deadline(review: Review) -> datetime | None:
    """Until when the author may restore ``review``: RESTORE_DAYS after their withdrawal; None
    when it cannot be restored (not withdrawn by its author, or erased)."""
    if review.status != ReviewState.WITHDRAWN.value or not review.withdrawn_from \
            or review.withdrawn_at is None:
        return None
    return review.withdrawn_at + timedelta(days=RESTORE_DAYS)


def can_restore(review: Review, now: datetime | None = None) -> bool:
    """Whether the author may still restore ``review`` (see ``restore_deadline``)."""
    deadline = restore_deadline(review)
    return deadline is not None and (now or utcnow()) < deadline


def restore_by_author(request: ReviewRequest, *, now: datetime | None = None) -> Review:
    """The author brings back what they withdrew, within RESTORE_DAYS: every review of the
    request returns to the state it had (published, pending moderation or rejected).

    Idempotent: reviews no longer withdrawn are left as they are. Commits; ActionError
    ("no_review") when there is none, ("state") when the time has passed or the review was
    withdrawn for another reason (erasure: its text is gone)."""
    now = now or utcnow()
    try:
        reviews = _request_reviews(request)
        if not reviews:
            raise ActionError("no_review", "there is no review to restore")
        withdrawn = [r for r in reviews if r.status == ReviewState.WITHDRAWN.value]
        if any(not can_restore(r, now) for r in withdrawn):
            raise ActionError("state", "this review can no longer be restored")
        for review in withdrawn:
            assert review.withdrawn_from is not None
            change_review_state(review, ReviewState(review.withdrawn_from), actor=CUSTOMER,
                                note_code=NoteCode.REVIEW_RESTORED, now=now)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return reviews[0]


def resubmit_by_author(request: ReviewRequest, comment: object, *,
                       now: datetime | None = None) -> Review:
    """The author of a rejected review sends a corrected comment, once: the review goes back to
    moderation (``pending``) whatever the comment holds, since an operator refused it before.
    Commits; ActionError("invalid") for an empty or too long comment, ("state") when the
    request's review is not rejected or was already corrected once."""
    from kingavis.reviews.questionnaire import MAX_COMMENT_CHARS

    body = clean_text(comment, MAX_COMMENT_CHARS)
    now = now or utcnow()
    try:
        rejected = [r for r in _request_reviews(request) if r.status == ReviewState.REJECTED.value]
        if not rejected:
            raise ActionError("state", "no rejected review to correct")
        review = rejected[0]
        if review.resubmitted_at is not None:
            raise ActionError("state", "this review was already corrected once")
        review.comment = body
        review.resubmitted_at = now
        change_review_state(review, ReviewState.PENDING, actor=CUSTOMER,
                            note_code=NoteCode.REVIEW_RESUBMITTED, now=now)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return review


def report_by_reader(review_id: int, reason_code: object, email: object, text: object, *,
                     now: datetime | None = None) -> ReviewReport | None:
    """Anyone reports a published review from the public page: a reason of the published list,
    an address for the operator's answer and a short text. The review stays published until an
    operator decides, as for a merchant's report. Returns None when a report already awaits a
    decision (the reader's is not needed). Commits; ActionError("invalid", field) for bad input
    (field: reason, email or text), ("state") when the review is not published."""
    from email_validator import EmailNotValidError, validate_email

    if reason_code not in REJECTION_REASONS:
        raise ActionError("invalid", "reason")
    if not isinstance(email, str) or len(email) > 320:
        raise ActionError("invalid", "email")
    try:
        address = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ActionError("invalid", "email") from None
    try:
        body = clean_text(text, MAX_REPORT_CHARS, minimum=MIN_REPORT_CHARS)
    except ActionError:
        raise ActionError("invalid", "text") from None
    now = now or utcnow()
    try:
        locked = _locked_review(review_id)
        if locked is None or locked.status != ReviewState.PUBLISHED.value:
            raise ActionError("state", "only a published review can be reported")
        if open_report(locked.id) is not None:
            db.session.rollback()
            return None
        report = ReviewReport(review_id=locked.id, shop_id=locked.shop_id, reason=body,
                              reason_code=str(reason_code), reporter_email=address,
                              created_at=now)
        db.session.add(report)
        timeline_note(locked, NoteCode.REVIEW_REPORTED_BY_READER,
                      {"rating": locked.rating, "reason": reason_code}, actor=READER, now=now)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    except BaseException:
        db.session.rollback()
        raise
    return report


def reviews_with_reports(shop: Shop, review_ids: list[int]) -> set[int]:
    """Which of these reviews of ``shop`` have an open report (for the back-office list)."""
    if not review_ids:
        return set()
    rows = db.session.execute(
        select(ReviewReport.review_id).where(ReviewReport.shop_id == shop.id,
                                             ReviewReport.review_id.in_(review_ids),
                                             ReviewReport.resolved_at.is_(None))
    ).scalars()
    return set(rows)

