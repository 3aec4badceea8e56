"""Back-office: credentials (views come with the back-office work)."""
