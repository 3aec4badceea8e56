"""Back-office: funnel statistics (views come with the review-collection work)."""
