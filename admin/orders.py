"""Back-office: orders (views come with the back-office work)."""
