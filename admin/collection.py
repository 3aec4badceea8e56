"""Back-office: review collection settings (views come with the review-collection work)."""
