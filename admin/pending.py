"""Back-office: pending (views come with the back-office work)."""
