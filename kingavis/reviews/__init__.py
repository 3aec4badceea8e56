"""Reviews: the questionnaire behind an email's link (``questionnaire``), publication and its
states (``publication``), moderation (``moderation``), the merchant's replies, reports and
withdrawals (``actions``), and what the public pages and API read (``public``)."""
