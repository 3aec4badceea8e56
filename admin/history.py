"""Back-office: history (views come with the back-office work)."""
