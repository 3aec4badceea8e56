"""Back-office accounts: signing in and out, languages, lockouts (``service``), creating
accounts and operators (``users``), and the audit log of who changed what (``audit``)."""
