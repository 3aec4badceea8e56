"""Back-office: dashboard (views come with the back-office work)."""
