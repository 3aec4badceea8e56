"""Orders and their status events: the rule book (``scheduling``: pure functions deciding when a
review request is asked for and when it must not be), the service that applies a shop's
order-status event (``events``, behind the webhook) and the shop's list of order statuses
(``statuses``: the statuses its events have and those it declares)."""
