"""Back-office: auth (views come with the back-office work)."""
