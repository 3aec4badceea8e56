"""Review requests: their lifecycle (``lifecycle``: the one place a request changes state and
its timeline row is written), the merchant's actions on pending requests (``actions``), the
timeline's wording (``notes``), email opens and clicks (``tracking``) and the funnel figures
(``stats``)."""
