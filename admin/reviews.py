"""Back-office: reviews (views come with the back-office work)."""
