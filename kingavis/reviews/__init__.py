"""Reviews: the questionnaire behind an email's link (``questionnaire``), publication and its
states (``publication``), moderation (``moderation``), the merchant's replies, reports and
withdrawals (``actions``), what the public pages and API read (``public``), and the funnel
from request to review, with its average rating (``stats``)."""
