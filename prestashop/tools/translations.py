"""Writes the module's XLIFF translations (translations/fr-FR/ModulesKingavis<Part>.fr-FR.xlf, as
PrestaShop's translator loads them for a module) from the strings of the module and the French
wording below. English is the source text itself.

Run from the project root after changing a string: `.venv/bin/python prestashop/tools/translations.py`.
Strings are found in `->trans('…', […], 'Modules.Kingavis.<Part>')` calls of the PHP files and
`{l s='…' d='Modules.Kingavis.<Part>'}` tags of the templates; tests/prestashop/test_prestashop_module.py
checks that every one has its French.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path
from xml.sax.saxutils import escape

MODULE = Path(__file__).resolve().parent.parent / "kingavis"

FRENCH = {
    "King-Avis verified reviews": "King-Avis avis vérifiés",
    "Asks your customers for a review when their order is delivered, and shows your reviews on your shop.":
        "Demande leur avis à vos clients quand leur commande est livrée, et affiche vos avis sur votre boutique.",
    "Orders not yet sent to King-Avis will be forgotten. Uninstall?":
        "Les commandes pas encore envoyées à King-Avis seront oubliées. Désinstaller ?",
    "Save the King-Avis address, shop key and webhook secret first.":
        "Enregistrez d'abord l'adresse de King-Avis, la clé de boutique et le secret du webhook.",
    "King-Avis: no valid email address to erase.": "King-Avis : aucune adresse e-mail valide à effacer.",
    "King-Avis: the erasure request could not be recorded.":
        "King-Avis : la demande d'effacement n'a pas pu être enregistrée.",
    "King-Avis: no valid email address.": "King-Avis : aucune adresse e-mail valide.",
    "Service": "Service",
    "Address of the service": "Adresse du service",
    "Data held": "Données détenues",
    "Your email address, first and last name and language; the reference, dates and statuses of your orders; "
    "the review requests sent to you; the reviews you wrote.":
        "Votre adresse e-mail, vos prénom, nom et langue ; la référence, les dates et les statuts de vos "
        "commandes ; les demandes d'avis qui vous ont été envoyées ; les avis que vous avez écrits.",
    "Purpose": "Finalité",
    "Asking for your review of your orders and publishing the reviews you write.":
        "Vous demander votre avis sur vos commandes et publier les avis que vous écrivez.",
    "Review request consent": "Consentement aux demandes d'avis",
    "not asked": "non demandé",
    "given": "donné",
    "refused": "refusé",
    "Where to ask": "Où demander",
    "Ask this shop (its contact page): it forwards your request to King-Avis. Erasing your data in this shop "
    "erases it in King-Avis too. Every review request email also has a link to unsubscribe and to withdraw "
    "your review.":
        "Adressez-vous à cette boutique (sa page de contact) : elle transmet votre demande à King-Avis. "
        "L'effacement de vos données dans cette boutique les efface aussi chez King-Avis. Chaque e-mail de "
        "demande d'avis contient aussi un lien pour vous désinscrire et pour retirer votre avis.",
    "I agree to receive one email asking for my review of my order":
        "J'accepte de recevoir un e-mail me demandant mon avis sur ma commande",
    "Verified customer reviews by King-Avis": "Avis clients vérifiés par King-Avis",
    "King-Avis answered %d: %s": "King-Avis a répondu %d : %s",
    "King-Avis could not be reached: %s": "King-Avis est injoignable : %s",
    "The number of days must be a whole number from 1 to 365.":
        "Le nombre de jours doit être un nombre entier de 1 à 365.",
    "%1$d orders found: %2$d queued now, %3$d already sent before, %4$d left for the next click. "
    "%5$d webhooks delivered, %6$d refused, %7$d waiting.":
        "%1$d commandes trouvées : %2$d mises en file maintenant, %3$d déjà envoyées, %4$d restantes pour le "
        "prochain clic. %5$d webhooks livrés, %6$d refusés, %7$d en attente.",
    "%1$d webhooks delivered, %2$d refused, %3$d waiting.": "%1$d webhooks livrés, %2$d refusés, %3$d en attente.",
    "The King-Avis address must be an absolute http:// or https:// address, such as https://avis.example.com.":
        "L'adresse de King-Avis doit être une adresse http:// ou https:// absolue, par exemple "
        "https://avis.example.com.",
    'The shop key is the "key" King-Avis gave you (letters, digits, _ and -).':
        "La clé de boutique est la « key » que King-Avis vous a donnée (lettres, chiffres, _ et -).",
    "Enter the webhook secret King-Avis gave you (it starts with whsec_).":
        "Saisissez le secret du webhook que King-Avis vous a donné (il commence par whsec_).",
    "The webhook secret must start with whsec_ followed by the base64 key King-Avis gave you.":
        "Le secret du webhook doit commencer par whsec_ suivi de la clé base64 que King-Avis vous a donnée.",
    "Choose whom King-Avis may ask for a review.": "Choisissez qui King-Avis peut solliciter pour un avis.",
    "The public review page is its address (…/avis/your-shop) or its last part.":
        "La page publique d'avis s'indique par son adresse (…/avis/votre-boutique) ou sa dernière partie.",
    "Settings saved.": "Réglages enregistrés.",
    "%d webhooks refused with the previous settings will be sent again.":
        "%d webhooks refusés avec les réglages précédents seront renvoyés.",
    "Choose where the widget is shown.": "Choisissez où le widget s'affiche.",
    "The number of reviews in the widget must be from 0 to 20.":
        "Le nombre d'avis du widget doit être compris entre 0 et 20.",
    "Choose the page that shows the widget.": "Choisissez la page qui affiche le widget.",
    "Deliveries to King-Avis": "Envois à King-Avis",
    "Webhooks that fail are sent again by this cron task (run it every 5 minutes); it also sends the status "
    "changes PrestaShop did not tell the module about:":
        "Les webhooks en échec sont renvoyés par cette tâche cron (à lancer toutes les 5 minutes) ; elle envoie "
        "aussi les changements de statut dont PrestaShop n'a pas informé le module :",
    "%d webhooks were given up after repeated failures. The personal data they hold is deleted after 30 days.":
        "%d webhooks ont été abandonnés après des échecs répétés. Les données personnelles qu'ils contiennent "
        "sont supprimées au bout de 30 jours.",
    "Send the given-up webhooks again": "Renvoyer les webhooks abandonnés",
    "%1$d webhooks queued again: %2$d delivered, %3$d refused, %4$d waiting.":
        "%1$d webhooks remis en file : %2$d livrés, %3$d refusés, %4$d en attente.",
    "Your email address, first and last name and language; the reference, dates and statuses of your orders; "
    "the products you bought; the review requests sent to you; the reviews you wrote.":
        "Votre adresse e-mail, vos prénom, nom et langue ; la référence, les dates et les statuts de vos "
        "commandes ; les produits achetés ; les demandes d'avis qui vous ont été envoyées ; les avis que vous "
        "avez écrits.",
    "%d webhooks waiting to be delivered.": "%d webhooks en attente d'envoi.",
    "Webhooks that fail are sent again on the next status changes and by this cron task (run it every 5 minutes):":
        "Les webhooks en échec sont renvoyés aux changements de statut suivants et par cette tâche cron "
        "(à lancer toutes les 5 minutes) :",
    "Date": "Date",
    "Event": "Événement",
    "Order": "Commande",
    "State": "État",
    "Attempts": "Tentatives",
    "Last answer": "Dernière réponse",
    "Yes": "Oui",
    "No": "Non",
    "Connection to King-Avis": "Connexion à King-Avis",
    "King-Avis address": "Adresse de King-Avis",
    "For example https://avis.example.com": "Par exemple https://avis.example.com",
    "Shop key": "Clé de boutique",
    "Webhook secret": "Secret du webhook",
    "Starts with whsec_. King-Avis shows it once, when the shop is created.":
        "Commence par whsec_. King-Avis ne l'affiche qu'une fois, à la création de la boutique.",
    "A secret is saved (%s). Leave empty to keep it.": "Un secret est enregistré (%s). Laissez vide pour le garder.",
    "Ask for a review": "Demander un avis à",
    "every customer": "chaque client",
    "only customers who ticked the review request box when ordering":
        "seulement les clients qui ont coché la case de demande d'avis en commandant",
    "Public review page": "Page publique d'avis",
    "Its address (…/avis/your-shop) or its last part; needed for the badge and the widget.":
        "Son adresse (…/avis/votre-boutique) ou sa dernière partie ; nécessaire pour le badge et le widget.",
    "Save": "Enregistrer",
    "Send a test event": "Envoyer un événement de test",
    "Reviews on the shop": "Avis sur la boutique",
    "Show the badge in the footer": "Afficher le badge dans le pied de page",
    "Show the reviews widget on": "Afficher le widget d'avis sur",
    "no page": "aucune page",
    "the home page": "la page d'accueil",
    "the product pages": "les pages produit",
    "the content page chosen below": "la page de contenu choisie ci-dessous",
    "Content page": "Page de contenu",
    "Latest reviews in the widget": "Derniers avis dans le widget",
    "Orders placed before the module": "Commandes passées avant le module",
    "Product stars on the product page": "Étoiles du produit sur sa page",
    "Product reviews under the product, with its Google rich results data":
        "Avis sur le produit sous sa fiche, avec ses données pour les résultats enrichis de Google",
    "Product stars in the product lists": "Étoiles des produits dans les listes de produits",
    "Sends King-Avis the current status of the orders updated in the last days, so delivered orders are not "
    "forgotten. Click again to continue: nothing is sent twice.":
        "Envoie à King-Avis le statut actuel des commandes modifiées ces derniers jours, pour que les commandes "
        "livrées ne soient pas oubliées. Cliquez de nouveau pour continuer : rien n'est envoyé deux fois.",
    "Orders updated in the last (days)": "Commandes modifiées ces derniers (jours)",
    "Send these orders": "Envoyer ces commandes",
    "Send waiting webhooks now": "Envoyer maintenant les webhooks en attente",
}

PHP_CALL = re.compile(r"->trans\(\s*'((?:[^'\\]|\\.)*)'\s*,\s*\[.*?\]\s*,\s*'Modules\.Kingavis\.(\w+)'", re.S)
TPL_TAG = re.compile(r"\{l s='((?:[^'\\]|\\.)*)'(?: sprintf=\[[^\]]*\])? d='Modules\.Kingavis\.(\w+)'\}")


def strings() -> dict[str, list[str]]:
    """Each domain part (Admin, Shop) with its strings, in the order they appear."""
    found: dict[str, list[str]] = {}
    for path in sorted(MODULE.rglob("*")):
        if path.suffix not in (".php", ".tpl") or "translations" in path.parts:
            continue
        pattern = PHP_CALL if path.suffix == ".php" else TPL_TAG
        for text, part in pattern.findall(path.read_text("utf-8")):
            text = re.sub(r"\\(.)", r"\1", text)
            found.setdefault(part, [])
            if text not in found[part]:
                found[part].append(text)
    return found


def xliff(part: str, texts: list[str], translate: dict[str, str]) -> str:
    units = []
    for text in texts:
        unit_id = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
        units.append(
            f'      <trans-unit id="{unit_id}">\n        <source>{escape(text)}</source>\n'
            f"        <target>{escape(translate[text])}</target>\n      </trans-unit>\n"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xliff xmlns="urn:oasis:names:tc:xliff:document:1.2" version="1.2">\n'
        '  <file original="modules/kingavis/kingavis.php" source-language="en-US" target-language="fr-FR" '
        'datatype="plaintext">\n    <body>\n' + "".join(units) + "    </body>\n  </file>\n</xliff>\n"
    )


def main() -> int:
    found = strings()
    missing = [s for texts in found.values() for s in texts if s not in FRENCH]
    if missing:
        print("no French for:\n" + "\n".join(missing), file=sys.stderr)
        return 1
    folder = MODULE / "translations" / "fr-FR"
    folder.mkdir(parents=True, exist_ok=True)
    for part, texts in found.items():
        (folder / f"ModulesKingavis{part}.fr-FR.xlf").write_text(xliff(part, texts, FRENCH), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
