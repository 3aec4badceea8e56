"""Back-office: audit (views come with the back-office work)."""
