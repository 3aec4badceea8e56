"""The words of the public review page and of the charter, in French and English.

French typography: a non-breaking space (U+00A0) stands before « ? ! : ; » and inside « ».
"""

from __future__ import annotations

from kingavis.reviews.publication import REJECTION_REASONS, rejection_label

NB = "\u00a0"

PAGE_TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Avis clients de {shop}",
        "heading": "Avis clients de {shop}",
        "average_label": f"Note moyenne{NB}: {{average}} sur 5",
        "count": "{count} avis vérifiés",
        "count_one": "1 avis vérifié",
        "count_zero": "Aucun avis publié pour l'instant.",
        "distribution": "Répartition des notes",
        "stars_n": "{n} étoiles",
        "stars_1": "1 étoile",
        "rating_label": "Note{nb}: {n} sur 5",
        "filter_all": "Toutes les notes",
        "filter_label": "Filtrer",
        "sort_label": "Trier par",
        "sort_recent": "Les plus récents",
        "sort_rating_desc": "Meilleures notes",
        "sort_rating_asc": "Moins bonnes notes",
        "apply": "Afficher",
        "experience": "Expérience du {date}",
        "published": "Publié le {date}",
        "verified": "Avis vérifié",
        "verified_title": "Lié à une commande réelle — voir la charte",
        "reply": "Réponse de {shop}",
        "reply_on": "le {date}",
        "anonymous": "Client vérifié",
        "none_here": "Aucun avis ne correspond à ce filtre.",
        "previous": "Page précédente",
        "next": "Page suivante",
        "page_of": "Page {page} sur {pages}",
        "charter": "Charte des avis",
        "charter_intro": "Comment ces avis sont collectés, vérifiés et publiés{nb}: voir la charte.",
        "not_found_title": "Page introuvable",
        "not_found_text": "Aucune boutique ne publie ses avis à cette adresse.",
        "bad_title": "Paramètres incorrects",
        "bad_text": "Cette adresse contient des paramètres que la page ne comprend pas{nb}:",
        "back": "Revenir aux avis",
        "other_lang": "English",
        "powered": "Avis collectés par King-Avis",
        "product_title": "Avis clients sur {product} — {shop}",
        "product_heading": "Avis clients sur {product}",
        "product_sold_by": "Vendu par {shop}",
        "product_fallback": "Produit {id}",
        "product_back": "Tous les avis sur {shop}",
        "product_see": "Voir le produit",
        "filtered": "{count} avis avec {stars}",
        "bad_page": "le numéro de page doit être un nombre entier, à partir de 1",
        "bad_rating": "la note doit être un nombre entier de 1 à 5",
        "bad_sort": "le tri doit être l'un de ceux proposés sur la page",
        "bad_other": "valeur incorrecte",
        "past_end_title": "Cette page d'avis n'existe pas",
        "past_end_one": "Les avis de {shop} tiennent sur une seule page.",
        "past_end_many": "Les avis de {shop} tiennent sur {pages} pages.",
        "first_page": "Voir la première page",
        "last_page": "Voir la dernière page",
        "zero": "0 avis",
        "none_yet": "Aucun avis publié pour l'instant. Les avis sont laissés par les clients après une commande réelle, par un lien personnel.",
        "see_charter": "Comment les avis sont collectés et vérifiés{nb}: la charte",
        "description": "Avis clients vérifiés de {shop}{nb}: note moyenne {average} sur 5, {count}.",
        "description_zero": "Avis clients vérifiés de {shop}, collectés par King-Avis après chaque commande.",
        "permalink": "Lien vers cet avis",
        "report_link": "Signaler cet avis",
        "all_reviews": "Tous les avis de {shop}",
        "review_title": "Avis de {author} sur {shop}",
        "back_to_shop": "Aller sur le site de {shop}",
        "logo_alt": "Logo de {shop}",
    },
    "en": {
        "title": "Customer reviews of {shop}",
        "heading": "Customer reviews of {shop}",
        "average_label": "Average rating: {average} out of 5",
        "count": "{count} verified reviews",
        "count_one": "1 verified review",
        "count_zero": "No review published yet.",
        "distribution": "Ratings",
        "stars_n": "{n} stars",
        "stars_1": "1 star",
        "rating_label": "Rated {n} out of 5",
        "filter_all": "All ratings",
        "filter_label": "Filter",
        "sort_label": "Sort by",
        "sort_recent": "Most recent",
        "sort_rating_desc": "Highest rated",
        "sort_rating_asc": "Lowest rated",
        "apply": "Show",
        "experience": "Experience of {date}",
        "published": "Published on {date}",
        "verified": "Verified review",
        "verified_title": "Tied to a real order — see the charter",
        "reply": "Reply from {shop}",
        "reply_on": "on {date}",
        "anonymous": "Verified customer",
        "none_here": "No review matches this filter.",
        "previous": "Previous page",
        "next": "Next page",
        "page_of": "Page {page} of {pages}",
        "charter": "Review charter",
        "charter_intro": "How these reviews are collected, verified and published: see the charter.",
        "not_found_title": "Page not found",
        "not_found_text": "No shop publishes its reviews at this address.",
        "bad_title": "Incorrect parameters",
        "bad_text": "This address holds parameters the page does not understand:",
        "back": "Back to the reviews",
        "other_lang": "Français",
        "powered": "Reviews collected by King-Avis",
        "product_title": "Customer reviews of {product} — {shop}",
        "product_heading": "Customer reviews of {product}",
        "product_sold_by": "Sold by {shop}",
        "product_fallback": "Product {id}",
        "product_back": "All reviews of {shop}",
        "product_see": "See the product",
        "filtered": "{count} reviews with {stars}",
        "bad_page": "the page number must be a whole number from 1",
        "bad_rating": "the rating must be a whole number from 1 to 5",
        "bad_sort": "the order must be one of those the page offers",
        "bad_other": "incorrect value",
        "past_end_title": "This page of reviews does not exist",
        "past_end_one": "The reviews of {shop} fit on a single page.",
        "past_end_many": "The reviews of {shop} fit on {pages} pages.",
        "first_page": "See the first page",
        "last_page": "See the last page",
        "zero": "0 reviews",
        "none_yet": "No review published yet. Reviews are left by customers after a real order, through a personal link.",
        "see_charter": "How reviews are collected and verified: the charter",
        "description": "Verified customer reviews of {shop}: average rating {average} out of 5, {count}.",
        "description_zero": "Verified customer reviews of {shop}, collected by King-Avis after each order.",
        "permalink": "Link to this review",
        "report_link": "Report this review",
        "all_reviews": "All reviews of {shop}",
        "review_title": "Review by {author} of {shop}",
        "back_to_shop": "Go to the {shop} site",
        "logo_alt": "{shop} logo",
    },
}
for _words in PAGE_TEXT.values():
    for _key, _value in _words.items():
        _words[_key] = _value.replace("{nb}", NB)

def rejection_reasons(lang: str) -> list[tuple[str, str]]:
    """The published list of refusal reasons (docs/publication.md), the one moderation decides with,
    worded for ``lang``, in a stable order."""
    return [(code, rejection_label(code, lang)) for code in REJECTION_REASONS]


CHARTER_TEXT: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Charte des avis — {shop}",
        "intro": (
            "Les avis publiés sur la page de {shop} sont collectés par King-Avis pour le compte de"
            " la boutique. Cette charte dit comment ils sont collectés, vérifiés, modérés et"
            " publiés, conformément aux articles L111-7-2 et D111-17 du Code de la consommation,"
            " et selon les principes de la norme NF Z74-501 sur les avis de consommateurs en ligne."
        ),
        "collect_h": "Qui peut donner son avis, et comment",
        "collect": (
            "Seul un client ayant passé une commande réelle auprès de {shop} peut déposer un avis."
            f" Quand la commande atteint le statut choisi par la boutique (par exemple{NB}« Livré{NB}»),"
            " King-Avis envoie au client un e-mail contenant un lien personnel, valable {days} jours."
            " L'avis ne peut être déposé que par ce lien, une seule fois par commande. Aucune"
            " demande n'est envoyée pour une commande annulée, remboursée ou impayée."
        ),
        "verify_h": "Comment les avis sont vérifiés",
        "verify": (
            "Chaque avis est rattaché à la commande qui l'a suscité{nb}: c'est ce qui en fait un avis"
            " vérifié. King-Avis reçoit les changements de statut des commandes directement de la"
            " boutique, par des messages signés. La date de l'expérience affichée est la date de la"
            " commande (à défaut, celle à laquelle la commande a atteint le statut choisi)."
        ),
        "order_h": "Aucun filtrage, aucun classement selon la note",
        "order": (
            "Aucun avis n'est retenu, masqué, filtré ni classé en fonction de sa note. Les avis"
            " sont affichés du plus récent au plus ancien{nb}; le lecteur peut choisir lui-même un"
            " autre ordre ou n'afficher qu'une note. La boutique ne peut ni supprimer ni masquer un"
            " avis{nb}: elle peut seulement y répondre, ou le signaler à un modérateur. Lorsque la"
            " boutique invite aussi ses clients à donner leur avis sur une autre plateforme, ces"
            " clients sont tirés au hasard parmi tous les clients, jamais selon leur note."
        ),
        "paid_h": "Aucune contrepartie",
        "paid": (
            "Aucun avis n'est rémunéré, et aucun n'est obtenu en échange d'un avantage, d'une"
            " réduction ou d'un cadeau."
        ),
        "delay_h": "Délai de publication",
        "delay": (
            "Un avis est publié dès son dépôt. S'il contient une adresse e-mail, un numéro de"
            " téléphone ou un lien, il est d'abord examiné par un modérateur de King-Avis et publié"
            " ou refusé dans un délai de 7 jours au plus."
        ),
        "keep_h": "Durée de publication",
        "keep": (
            "Les avis restent en ligne tant que la boutique utilise King-Avis, sauf si leur auteur"
            " les retire ou si un modérateur les refuse. Les coordonnées du client (adresse e-mail,"
            " nom complet) sont supprimées {months} mois après la dernière activité de sa commande{nb};"
            " l'avis publié garde alors le prénom, l'initiale du nom et le texte."
        ),
        "refuse_h": "Motifs de refus",
        "refuse": (
            "Un modérateur de King-Avis (jamais la boutique) peut refuser un avis, pour l'un de ces"
            " motifs seulement{nb}; l'auteur est informé du motif par e-mail{nb}:"
        ),
        "report_h": "Signaler un avis",
        "report": (
            "Tout lecteur peut signaler un avis avec le lien «{nb}Signaler cet avis{nb}» placé sous"
            " chacun, en choisissant l'un des motifs ci-dessus et en laissant son adresse pour la"
            " réponse{nb}; la boutique peut aussi le signaler depuis son espace. L'avis signalé reste"
            " publié jusqu'à la décision du modérateur de King-Avis."
        ),
        "rights_h": "Les droits de l'auteur",
        "rights": (
            "L'auteur peut retirer son avis à tout moment depuis le lien personnel reçu par e-mail{nb};"
            " un avis retiré quitte la page, les moyennes et l'API dans la minute, et son auteur peut"
            " le rétablir depuis le même lien pendant 30{nb}jours. La boutique peut"
            " publier une réponse à un avis{nb}; l'auteur en est prévenu par e-mail. L'auteur peut"
            " aussi demander à la boutique l'accès à ses données ou leur effacement{nb}; l'effacement"
            " retire son avis."
        ),
        "back": "Revenir aux avis de {shop}",
        "contact": "Pour toute question sur ces avis, écrivez à {contact}.",
    },
    "en": {
        "title": "Review charter — {shop}",
        "intro": (
            "The reviews published on {shop}'s page are collected by King-Avis on the shop's"
            " behalf. This charter says how they are collected, verified, moderated and published,"
            " as articles L111-7-2 and D111-17 of the French Consumer Code require, following the"
            " principles of the NF Z74-501 standard on online consumer reviews."
        ),
        "collect_h": "Who can leave a review, and how",
        "collect": (
            "Only a customer who placed a real order with {shop} can leave a review. When the order"
            " reaches the status the shop chose (for example \u201cDelivered\u201d), King-Avis emails"
            " the customer a personal link, valid for {days} days. A review can only be left through"
            " that link, once per order. No request is sent for a cancelled, refunded or unpaid"
            " order."
        ),
        "verify_h": "How reviews are verified",
        "verify": (
            "Each review is tied to the order that prompted it: that is what makes it a verified"
            " review. King-Avis receives order status changes directly from the shop, in signed"
            " messages. The experience date shown is the order date (or, failing that, the date the"
            " order reached the chosen status)."
        ),
        "order_h": "No filtering, no ordering by rating",
        "order": (
            "No review is held back, hidden, filtered or ordered because of its rating. Reviews are"
            " shown newest first; readers may choose another order or a single rating themselves."
            " The shop can neither delete nor hide a review: it can only reply to it, or report it"
            " to a moderator. When the shop also invites customers to review it on another"
            " platform, those customers are drawn at random among all customers, never by rating."
        ),
        "paid_h": "Nothing in return",
        "paid": (
            "No review is paid for, and none is obtained in exchange for an advantage, a discount"
            " or a gift."
        ),
        "delay_h": "Publication delay",
        "delay": (
            "A review is published as soon as it is left. If it contains an email address, a phone"
            " number or a link, a King-Avis moderator examines it first and publishes or refuses it"
            " within 7 days at most."
        ),
        "keep_h": "How long reviews stay online",
        "keep": (
            "Reviews stay online as long as the shop uses King-Avis, unless their author withdraws"
            " them or a moderator refuses them. The customer's contact data (email address, full"
            " name) are deleted {months} months after their order's last activity; the published"
            " review then keeps the first name, the last name's initial and the text."
        ),
        "refuse_h": "Reasons for refusal",
        "refuse": (
            "A King-Avis moderator (never the shop) may refuse a review, for one of these reasons"
            " only; the author is emailed the reason:"
        ),
        "report_h": "Reporting a review",
        "report": (
            "Any reader can report a review with the \u201cReport this review\u201d link under each"
            " one, choosing one of the reasons above and leaving their address for the answer; the"
            " shop can also report it from its back-office. A reported review stays published until"
            " the King-Avis moderator decides."
        ),
        "rights_h": "The author's rights",
        "rights": (
            "The author can withdraw their review at any time from the personal link in their"
            " email; a withdrawn review leaves the page, the averages and the API within a minute,"
            " and its author can restore it from the same link for 30 days."
            " The shop may publish a reply to a review; the author is emailed when it does. The"
            " author can also ask the shop for access to their data or for its erasure; erasure"
            " withdraws the review."
        ),
        "back": "Back to {shop}'s reviews",
        "contact": "For any question about these reviews, write to {contact}.",
    },
}
for _words in CHARTER_TEXT.values():
    for _key, _value in _words.items():
        _words[_key] = _value.replace("{nb}", NB)
