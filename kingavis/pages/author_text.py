"""The words of the author's pages after a review (withdraw, restore, correct) and what those
pages need to know about the review (docs/withdrawal.md). Shared by the questionnaire's
thank-you page and the author's actions (kingavis.pages.author)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kingavis.models import Review, ReviewState
from kingavis.reviews.actions import can_restore, restore_deadline
from kingavis.reviews.publication import RESTORE_DAYS

AUTHOR_TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "withdraw_confirm_title": "Retirer votre avis\u00a0?",
        "withdraw_confirm_text": "Votre avis disparaîtra de la page d'avis de {shop} et ne comptera plus dans sa note. Vous pourrez le rétablir depuis ce lien pendant {days}\u00a0jours\u00a0; ensuite, il sera retiré définitivement.",
        "withdraw_confirm_button": "Oui, retirer mon avis",
        "withdraw_cancel": "Non, garder mon avis",
        "restore_text": "Vous pouvez le rétablir jusqu'au {date}\u00a0: il retrouvera l'état qu'il avait. Passé cette date, il sera retiré définitivement.",
        "restore_button": "Rétablir mon avis",
        "restore_gone": "Le délai pour le rétablir est passé\u00a0: votre avis est retiré définitivement.",
        "restored_title": "Votre avis est rétabli",
        "rejected_title": "Votre avis n'a pas été publié",
        "rejected_text": "La modération de King-Avis a refusé de publier votre avis sur {shop}, pour ce motif\u00a0: {reason}.",
        "correct_title": "Corriger votre commentaire",
        "correct_text": "Vous pouvez corriger votre commentaire et l'envoyer une seule fois de plus\u00a0: il sera relu par la modération avant publication.",
        "correct_button": "Envoyer mon avis corrigé",
        "correct_error": "Écrivez un commentaire de 1 à {max} caractères.",
        "corrected_title": "Votre avis corrigé est envoyé",
        "corrected_text": "Il sera publié sur la page d'avis de {shop} après vérification par la modération de King-Avis.",
        "corrected_once": "Vous avez déjà corrigé votre avis une fois\u00a0: il ne peut plus être modifié.",
    },
    "en": {
        "withdraw_confirm_title": "Withdraw your review?",
        "withdraw_confirm_text": "Your review will leave the review page of {shop} and no longer count in its rating. You can restore it from this link for {days} days; after that it is withdrawn for good.",
        "withdraw_confirm_button": "Yes, withdraw my review",
        "withdraw_cancel": "No, keep my review",
        "restore_text": "You can restore it until {date}: it returns to the state it had. After that date it is withdrawn for good.",
        "restore_button": "Restore my review",
        "restore_gone": "The time to restore it has passed: your review is withdrawn for good.",
        "restored_title": "Your review is restored",
        "rejected_title": "Your review was not published",
        "rejected_text": "King-Avis moderation refused to publish your review of {shop}, for this reason: {reason}.",
        "correct_title": "Correct your comment",
        "correct_text": "You may correct your comment and send it once more: moderation will read it before it is published.",
        "correct_button": "Send my corrected review",
        "correct_error": "Write a comment of 1 to {max} characters.",
        "corrected_title": "Your corrected review is sent",
        "corrected_text": "It will be published on the review page of {shop} once King-Avis moderation has checked it.",
        "corrected_once": "You already corrected your review once: it cannot be changed again.",
    },
}


def author_context(review: Review, day: Callable[[datetime | None], str]) -> dict[str, object]:
    """What the thank-you page needs to offer a restore or a correction; ``day`` words a date
    in the page's language and the shop's time zone."""
    deadline = restore_deadline(review)
    return {
        "restore_days": RESTORE_DAYS,
        "can_restore": can_restore(review),
        "restore_until": day(deadline) if deadline else "",
        "can_correct": review.status == ReviewState.REJECTED.value and review.resubmitted_at is None,
    }
