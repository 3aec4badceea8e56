"""How every column of every table is handled by erasure and export (docs/personal-data.md).

``PERSONAL_COLUMNS`` says, for every column of every table, whether it can hold a customer's
personal data and how erasure and export handle it; ``tests/personal_data/test_personal_data.py`` fails when
a new column is not classified.
"""

from __future__ import annotations

# How every column is handled. "erased": removed (or replaced) by erasure and retention;
# "exported": part of the export, kept because it is not personal once the address, names
# and text are gone (dates, states, counts); "hash": the keyed hash kept in place of the
# address; "scrubbed": free text or JSON from which the address and names are removed;
# "none": holds no customer data (configuration, merchants' accounts, ids).
PERSONAL_COLUMNS: dict[str, dict[str, str]] = {
    "shops": {c: "none" for c in (
        "id", "key", "name", "slug", "language", "timezone", "cancel_status_ids",
        "require_consent", "customer_window_days", "paused", "created_at", "review_link_days",
        "postpone_days", "reminder_days", "balancing_platform", "balancing_url",
        "balancing_redirect_seconds", "balancing_split_percent", "callback_url",
        "callback_secret", "retention_months", "platform", "platform_secrets",
        "product_review_count", "settings_version", "public_version")},
    "shop_secrets": {c: "none" for c in ("id", "shop_id", "secret", "created_at", "expires_at")},
    "invitation_rules": {c: "none" for c in (
        "id", "shop_id", "name", "trigger_status_ids", "delay_days", "send_hour", "timezone",
        "is_active", "created_at")},
    "shop_statuses": {c: "none" for c in (
        "id", "shop_id", "status_id", "name", "paid", "shipped", "last_seen_at", "delivered",
        "declared_at")},
    "order_state_syncs": {c: "none" for c in (
        "id", "shop_id", "webhook_id", "listed_at", "applied", "response", "received_at")},
    "orders": {
        "id": "none", "shop_id": "none", "external_id": "exported", "reference": "exported",
        "placed_at": "exported", "customer_email": "erased", "customer_first_name": "erased",
        "customer_last_name": "erased", "customer_locale": "erased",
        "review_consent": "exported", "latest_status_id": "exported",
        "latest_status_name": "exported", "latest_status_paid": "exported",
        "latest_changed_at": "exported", "created_at": "exported", "updated_at": "exported",
        "erased_at": "exported",
        # What the customer bought (docs/product-reviews.md).
        "items": "erased",
    },
    "order_events": {
        "id": "none", "shop_id": "none", "order_id": "none", "webhook_id": "exported",
        "status_id": "exported", "status_name": "exported", "status_paid": "exported",
        "status_shipped": "exported", "previous_status_id": "exported",
        "changed_at": "exported", "received_at": "exported", "stale": "exported",
        "outcome": "exported",
        # The outcome object answered to the shop: ids, states and dates, no address.
        "response": "exported",
        "payload": "erased",
    },
    "review_requests": {
        "id": "exported", "shop_id": "none", "order_id": "none", "rule_id": "none",
        "state": "exported", "reason": "exported", "due_at": "exported",
        "next_attempt_at": "none", "token": "none", "customer_email_normalized": "erased",
        "customer_email_hash": "hash", "trigger_status_id": "exported",
        "trigger_status_name": "exported", "triggered_at": "exported", "attempts": "exported",
        "last_error": "scrubbed", "message_id": "exported", "sent_at": "exported",
        "created_at": "exported", "updated_at": "none", "platform": "exported",
        "postponed_at": "exported", "reminder_due_at": "erased",
        "reminder_sent_at": "exported", "reminder_attempts": "none", "opened_at": "exported",
        "clicked_at": "exported", "share_clicks": "exported", "bounce_token": "none",
    },
    "request_decisions": {
        "id": "none", "review_request_id": "none", "order_event_id": "none",
        "state": "exported", "reason": "exported", "due_at": "exported", "actor": "exported",
        "note": "scrubbed", "note_code": "exported", "note_args": "scrubbed",
        "created_at": "exported",
    },
    "unsubscriptions": {
        "id": "none", "shop_id": "none", "email_normalized": "erased", "email_hash": "hash",
        "created_at": "exported",
    },
    # Bounces and complaints (docs/deliverability.md): the address is kept by its hash only
    # after erasure, so a bounced or complaining address stays suppressed.
    "suppressions": {
        "id": "none", "shop_id": "none", "email_normalized": "erased", "email_hash": "hash",
        "reason": "exported", "status": "exported", "review_request_id": "none",
        "created_at": "exported",
    },
    "delivery_reports": {
        "id": "none", "shop_id": "none", "review_request_id": "none", "email_hash": "hash",
        "kind": "exported", "status": "exported", "report_key": "none", "received_at": "exported",
    },
    # Messages kept for the operator: a bounce quotes the email it is about, so one that holds
    # the address is deleted on erasure.
    "inbound_messages": {
        "id": "none", "recipient": "none", "sender": "erased", "subject": "erased",
        "why": "none", "size": "none", "content": "erased", "received_at": "none",
    },
    "reviews": {
        "id": "exported", "shop_id": "none", "order_id": "none", "review_request_id": "none",
        "rating": "exported", "comment": "erased", "locale": "exported",
        "created_at": "exported", "status": "exported", "published_at": "exported",
        "withdrawn_at": "exported", "reply_text": "erased", "reply_published_at": "exported",
        "reply_updated_at": "exported", "callback_state": "exported",
        "callback_attempts": "none", "callback_last_error": "erased",
        "author_display": "erased", "rejection_reason": "exported",
        # A product review's product, as the shop describes it: not the customer's data.
        **{c: "exported" for c in (
            "product_id", "product_name", "product_sku", "product_gtin", "product_mpn",
            "product_brand", "product_url", "product_image_url")},
        "withdrawn_from": "erased", "resubmitted_at": "exported",
    },
    # The shop's own email texts: merchant content, never a customer's.
    "email_designs": {c: "none" for c in (
        "id", "shop_id", "language", "sender_name", "subject", "intro", "logo_url",
        "brand_colour", "updated_at", "shop_url")},
    # Emails to a review's author and callback events: the address is read from the order when
    # sending, never stored here; a mail server's reply may quote it.
    "outgoing_messages": {
        **{c: "none" for c in ("id", "shop_id", "review_id", "channel", "kind", "reason", "state",
                               "next_attempt_at", "attempts", "created_at", "sent_at")},
        "last_error": "erased",
    },
    # A report of a review (a merchant's, or a reader's from the public page): its text is
    # someone's words about the review; a reader's address is theirs, not the customer's.
    "review_reports": {
        **{c: "none" for c in ("id", "review_id", "shop_id", "reported_by_id", "created_at",
                               "resolved_at", "resolution", "resolved_by_id", "reason_code",
                               "reporter_email")},
        "reason": "erased",
    },
    "user_shops": {"user_id": "none", "shop_id": "none"},
    # Merchants' and operators' accounts: not customers.
    "users": {c: "none" for c in (
        "id", "email", "password_hash", "created_at", "failed_logins", "locked_until",
        "language", "is_operator")},
    "audit_log": {
        "id": "none", "shop_id": "none", "user_id": "none", "actor_email": "none",
        "action": "none", "target_type": "none", "target_id": "none", "details": "scrubbed",
        "created_at": "none",
    },
    "erasures": {
        "id": "none", "shop_id": "none", "webhook_id": "none", "source": "none",
        "email_hash": "hash", "response": "none", "created_at": "none",
    },
    # The platforms' delivery log (kingavis.platforms): topics, ids, verdicts and counts only.
    "platform_deliveries": {c: "none" for c in (
        "id", "shop_id", "platform", "delivery_id", "topic", "order_id", "status_code",
        "verdict", "response", "received_at")},
    # A customer's data request waiting for the merchant: deleted by erasure.
    "platform_data_requests": {
        "id": "none", "shop_id": "none", "email": "erased", "email_hash": "hash",
        "platform_request_id": "none", "received_at": "none",
    },
}
