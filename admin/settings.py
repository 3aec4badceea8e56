"""Back-office: settings (views come with the back-office work)."""
