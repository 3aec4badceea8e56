"""Database models, one module per domain. Every schema change goes through a Flask-Migrate
migration (tests/app/test_migrations.py compares these tables with them).

The modules import each other in one direction only: ``columns`` (what every table shares),
then ``shops``, ``orders`` (orders and their review requests), ``reviews``, and the tables that
point at those (``accounts``, ``privacy``, ``delivery``, ``platforms``). Importing this package
defines every table; callers take their names from here.
"""

from .accounts import AuditLog, User, user_shops
from .columns import UTCDateTime, utcnow
from .delivery import DeliveryReport, InboundMessage, OutgoingMessage, OutgoingState, Suppression
from .orders import (
    RESCHEDULABLE_REASONS,
    Order,
    OrderEvent,
    OrderStateSync,
    Reason,
    RequestDecision,
    RequestState,
    ReviewRequest,
    ShopStatus,
    request_outcome,
)
from .platforms import DataRequest, PlatformDelivery
from .privacy import Erasure, Unsubscription
from .reviews import Review, ReviewReport, ReviewState
from .shops import (
    DEFAULT_PRODUCT_REVIEW_COUNT,
    DEFAULT_RETENTION_MONTHS,
    EmailDesign,
    InvitationRule,
    Shop,
    ShopSecret,
)

__all__ = [
    "DEFAULT_PRODUCT_REVIEW_COUNT",
    "DEFAULT_RETENTION_MONTHS",
    "RESCHEDULABLE_REASONS",
    "AuditLog",
    "DataRequest",
    "DeliveryReport",
    "EmailDesign",
    "Erasure",
    "InboundMessage",
    "InvitationRule",
    "Order",
    "OrderEvent",
    "OrderStateSync",
    "OutgoingMessage",
    "OutgoingState",
    "PlatformDelivery",
    "Reason",
    "RequestDecision",
    "RequestState",
    "Review",
    "ReviewReport",
    "ReviewRequest",
    "ReviewState",
    "Shop",
    "ShopSecret",
    "ShopStatus",
    "Suppression",
    "UTCDateTime",
    "Unsubscription",
    "User",
    "request_outcome",
    "user_shops",
    "utcnow",
]
