"""Review requests: their lifecycle (``lifecycle``: the one place a request changes state and
its timeline row is written), the merchant's actions on pending requests (``actions``), the
back-office lists and a request by its token (``queries``), an order's timeline (``timeline``)
and its wording (``notes``, with the state and reason names in ``labels``), and email opens and
clicks (``tracking``)."""
