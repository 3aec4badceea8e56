"""The moderation rule at submission (docs/publication.md): a comment holding an email address, a phone
number or a link waits for an operator; anything else is published at once."""

from __future__ import annotations

import pytest

from kingavis.reviews.moderation import moderation_reason

HELD = [
    ("Écrivez-moi : jean.dupont@gmail.com", "email"),
    ("mon mail jean [at] exemple.fr", "email"),
    ("Voir https://concurrent.example/promo", "link"),
    ("allez sur http://x.org", "link"),
    ("www.autre-boutique.fr est moins cher", "link"),
    ("commandez plutôt sur example.com !", "link"),
    ("ma-boutique.fr, la meilleure", "link"),
    ("bit.ly/promo", "link"),
    ("Appelez le 06 12 34 56 78", "phone"),
    ("tel 0612345678", "phone"),
    ("01.23.45.67.89 le soir", "phone"),
    ("01-23-45-67-89", "phone"),
    ("+33 6 12 34 56 78", "phone"),
    ("+33 (0)6 12 34 56 78", "phone"),
    ("+33612345678", "phone"),
    ("0044 20 7946 0958", "phone"),
    ("+1-202-555-0143", "phone"),
]

PUBLISHED = [
    None,
    "",
    "2 colis reçus en 3 jours, parfait.",
    "taille 42, chaussures conformes",
    "commandé le 12/05/2024, reçu le 14/05/2024",
    "reçu le 12.05.2024 à 10h30",
    "commande 2024-05-12 reçue",
    "note 3.5/5 seulement",
    "prix 1 299,00 € mais ça vaut le coup",
    "Livré en 48h. Top.",
    "C'était super.Top ! Merci.De rien",
    "The parcel arrived.It was fine",
    "photo.jpg jointe",
    "Commande n° 4521 / 12 articles",
    "Très bien, 5 étoiles ★★★★★",
]


@pytest.mark.parametrize(("comment", "why"), HELD)
def test_contact_details_and_links_wait_for_an_operator(comment: str, why: str) -> None:
    assert moderation_reason(comment) == why


@pytest.mark.parametrize("comment", PUBLISHED)
def test_ordinary_comments_and_plain_numbers_are_published(comment: str | None) -> None:
    assert moderation_reason(comment) is None


def test_the_rule_has_no_rating_argument() -> None:
    import inspect

    assert list(inspect.signature(moderation_reason).parameters) == ["comment"]
