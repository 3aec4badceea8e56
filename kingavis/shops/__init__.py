"""Shops and their settings: the shop itself and its webhook secrets (``service``), the
invitation rules, cancel statuses, pause and guards (``rules``: the one service the
back-office and the command line share), the merchant's API credentials (``credentials``) and
the merchant's own email (``email_design``)."""
