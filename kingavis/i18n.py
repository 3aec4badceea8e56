"""The languages King-Avis speaks: its back-office, its emails and its public pages.

French is the default everywhere (the UI's strings are French msgids); English is the one
translation (``kingavis/translations/en``).
"""

LANGUAGES = ("fr", "en")
