<?php
/**
 * King-Avis for PrestaShop.
 *
 * @author    King-Avis
 * @copyright King-Avis
 * @license   MIT
 */
global $_MODULE;
$_MODULE = [];
$_MODULE['<{kingavis}prestashop>kingavis_31b12a7af27b21b71e93a7c326834211'] = 'King-Avis avis vérifiés';
$_MODULE['<{kingavis}prestashop>kingavis_27b674d6d1303471d77d64aa87bbde6b'] = 'Demande leur avis à vos clients quand leur commande est livrée, et affiche vos avis sur votre boutique.';
$_MODULE['<{kingavis}prestashop>kingavis_31629a70b076aef5b91ab9d402fc4d23'] = 'Les commandes pas encore envoyées à King-Avis seront oubliées. Désinstaller ?';
$_MODULE['<{kingavis}prestashop>kingavis_62e075e4f13abcbfb41b75988f441125'] = 'Enregistrez d\'abord l\'adresse de King-Avis, la clé de boutique et le secret du webhook.';
$_MODULE['<{kingavis}prestashop>kingavis_db617232c121b9c9c7e3df13de10e096'] = 'King-Avis : aucune adresse e-mail valide à effacer.';
$_MODULE['<{kingavis}prestashop>kingavis_8e72fcb10be51d1ff6daa37d411524c9'] = 'King-Avis : la demande d\'effacement n\'a pas pu être enregistrée.';
$_MODULE['<{kingavis}prestashop>kingavis_b40026ee36e64c845a269ed1be76631a'] = 'King-Avis : aucune adresse e-mail valide.';
$_MODULE['<{kingavis}prestashop>kingavis_c2ba7e785c49050f48da9aacc45c2b85'] = 'Service';
$_MODULE['<{kingavis}prestashop>kingavis_b945785edfebfac79eaefc044b86f5e3'] = 'Adresse du service';
$_MODULE['<{kingavis}prestashop>kingavis_bf74dbf66f46d7794111c8ab338a19fa'] = 'Données détenues';
$_MODULE['<{kingavis}prestashop>kingavis_6eb21aabf00ca9e97f803b398bb8f582'] = 'Votre adresse e-mail, vos prénom, nom et langue ; la référence, les dates et les statuts de vos commandes ; les demandes d\'avis qui vous ont été envoyées ; les avis que vous avez écrits.';
$_MODULE['<{kingavis}prestashop>kingavis_261addf78c7b2c961032b3dd08ba0b1f'] = 'Finalité';
$_MODULE['<{kingavis}prestashop>kingavis_ec038b3c4cbe28b3fc583cfc2eb8e793'] = 'Vous demander votre avis sur vos commandes et publier les avis que vous écrivez.';
$_MODULE['<{kingavis}prestashop>kingavis_e12369e27fc51d076072c3d815e94663'] = 'Consentement aux demandes d\'avis';
$_MODULE['<{kingavis}prestashop>kingavis_5e7211d3a13e076a1c509e896dcb6636'] = 'non demandé';
$_MODULE['<{kingavis}prestashop>kingavis_b9f4c1cc743af7b09673ba380390d2f1'] = 'donné';
$_MODULE['<{kingavis}prestashop>kingavis_723634aa8cde73188d4661bb3fe81ce4'] = 'refusé';
$_MODULE['<{kingavis}prestashop>kingavis_a43414c337499d075ee4f039acc30068'] = 'Où demander';
$_MODULE['<{kingavis}prestashop>kingavis_d8ab06d3f00052c804b5075b9aa70814'] = 'Adressez-vous à cette boutique (sa page de contact) : elle transmet votre demande à King-Avis. L\'effacement de vos données dans cette boutique les efface aussi chez King-Avis. Chaque e-mail de demande d\'avis contient aussi un lien pour vous désinscrire et pour retirer votre avis.';
$_MODULE['<{kingavis}prestashop>kingavis_111a13616044d0ce2ecb107fc95a48c5'] = 'J\'accepte de recevoir un e-mail me demandant mon avis sur ma commande';
$_MODULE['<{kingavis}prestashop>kingavis_13a1d414b7142efd25f4dc1e3597ab92'] = 'Avis clients vérifiés par King-Avis';
$_MODULE['<{kingavis}prestashop>kingavis_0c5b5330125abff2369ea8cf52b5ff46'] = 'King-Avis a répondu %d : %s';
$_MODULE['<{kingavis}prestashop>kingavis_ca2070ce9bdebd6247e16b357eb990fb'] = 'King-Avis est injoignable : %s';
$_MODULE['<{kingavis}prestashop>kingavis_3cd6ba2be51b14e8a9098fda13dd808a'] = 'Le nombre de jours doit être un nombre entier de 1 à 365.';
$_MODULE['<{kingavis}prestashop>kingavis_73a4fb2310654c0e789b741b96f55b5c'] = '%1$d commandes trouvées : %2$d mises en file maintenant, %3$d déjà envoyées, %4$d restantes pour le prochain clic. %5$d webhooks livrés, %6$d refusés, %7$d en attente.';
$_MODULE['<{kingavis}prestashop>kingavis_372a165bd9bc237e0e8744caaf263b1d'] = '%1$d webhooks livrés, %2$d refusés, %3$d en attente.';
$_MODULE['<{kingavis}prestashop>kingavis_5ec3cd1c251f2c856188fc53c8c9f7a7'] = 'L\'adresse de King-Avis doit être une adresse http:// ou https:// absolue, par exemple https://avis.example.com.';
$_MODULE['<{kingavis}prestashop>kingavis_edd04c1413862e1f135d093e28ec75e7'] = 'La clé de boutique est la « key » que King-Avis vous a donnée (lettres, chiffres, _ et -).';
$_MODULE['<{kingavis}prestashop>kingavis_0cbd510496bc1382d4f15f8ca8b2afb6'] = 'Saisissez le secret du webhook que King-Avis vous a donné (il commence par whsec_).';
$_MODULE['<{kingavis}prestashop>kingavis_50f83d7af235da059d25e4c39d2cf910'] = 'Le secret du webhook doit commencer par whsec_ suivi de la clé base64 que King-Avis vous a donnée.';
$_MODULE['<{kingavis}prestashop>kingavis_25b51adf3605862731ba24e423dcd335'] = 'Choisissez qui King-Avis peut solliciter pour un avis.';
$_MODULE['<{kingavis}prestashop>kingavis_f05f783c75785b524009e59431d9f432'] = 'La page publique d\'avis s\'indique par son adresse (…/avis/votre-boutique) ou sa dernière partie.';
$_MODULE['<{kingavis}prestashop>kingavis_9a7e58ee13cb727cb7c4acc68f4cafe5'] = 'Réglages enregistrés.';
$_MODULE['<{kingavis}prestashop>kingavis_e8f26834eeb6ab85ccba1d525af2ce7e'] = '%d webhooks refusés avec les réglages précédents seront renvoyés.';
$_MODULE['<{kingavis}prestashop>kingavis_eb2e227612e5e44a5bb162b73bfbd090'] = 'Choisissez où le widget s\'affiche.';
$_MODULE['<{kingavis}prestashop>kingavis_b069ea2fff281d72a8e629b06fcd4e64'] = 'Le nombre d\'avis du widget doit être compris entre 0 et 20.';
$_MODULE['<{kingavis}prestashop>kingavis_4c591ec45324d5a7da3029653ba7910b'] = 'Choisissez la page qui affiche le widget.';
$_MODULE['<{kingavis}prestashop>kingavis_a745c9dfa516975cd890edeff9293c89'] = 'Envois à King-Avis';
$_MODULE['<{kingavis}prestashop>kingavis_ef88b1998e9041cec5c11dabeedb9952'] = '%d webhooks en attente d\'envoi.';
$_MODULE['<{kingavis}prestashop>kingavis_34a37989f954d62075f8308f5bb9521d'] = 'Les webhooks en échec sont renvoyés aux changements de statut suivants et par cette tâche cron (à lancer toutes les 5 minutes) :';
$_MODULE['<{kingavis}prestashop>kingavis_44749712dbec183e983dcd78a7736c41'] = 'Date';
$_MODULE['<{kingavis}prestashop>kingavis_a4ecfc70574394990cf17bd83df499f7'] = 'Événement';
$_MODULE['<{kingavis}prestashop>kingavis_a240fa27925a635b08dc28c9e4f9216d'] = 'Commande';
$_MODULE['<{kingavis}prestashop>kingavis_46a2a41cc6e552044816a2d04634545d'] = 'État';
$_MODULE['<{kingavis}prestashop>kingavis_7ba3b8236d48d4f4c5ec03c3fe6b75a9'] = 'Tentatives';
$_MODULE['<{kingavis}prestashop>kingavis_cf54cfa52126a5195fe4d27935e07433'] = 'Dernière réponse';
$_MODULE['<{kingavis}prestashop>kingavis_93cba07454f06a4a960172bbd6e2a435'] = 'Oui';
$_MODULE['<{kingavis}prestashop>kingavis_bafd7322c6e97d25b6299b5d6fe8920b'] = 'Non';
$_MODULE['<{kingavis}prestashop>kingavis_ff24fd8c6ba4a6a4e01b0fe93644dc3e'] = 'Connexion à King-Avis';
$_MODULE['<{kingavis}prestashop>kingavis_454a22efe2a47442a6757154dccb3325'] = 'Adresse de King-Avis';
$_MODULE['<{kingavis}prestashop>kingavis_e77dc58e7f1c67771bf54ee19716b7b5'] = 'Par exemple https://avis.example.com';
$_MODULE['<{kingavis}prestashop>kingavis_639351f2c11ba70cb26d284d74d0b16d'] = 'Clé de boutique';
$_MODULE['<{kingavis}prestashop>kingavis_fa538cc4be3ae6dc7deb0eebe354db1e'] = 'Secret du webhook';
$_MODULE['<{kingavis}prestashop>kingavis_e4793be3ecc95d0897172c69b7b3ef8e'] = 'Commence par whsec_. King-Avis ne l\'affiche qu\'une fois, à la création de la boutique.';
$_MODULE['<{kingavis}prestashop>kingavis_dea2a91db933842e1a42b9c1d089d93b'] = 'Un secret est enregistré (%s). Laissez vide pour le garder.';
$_MODULE['<{kingavis}prestashop>kingavis_2041f403fff55073619e940a887b2553'] = 'Demander un avis à';
$_MODULE['<{kingavis}prestashop>kingavis_6febd9db836bf6be458cb972a396a634'] = 'chaque client';
$_MODULE['<{kingavis}prestashop>kingavis_61cc39db2f6dd812cda8b34c4c788052'] = 'seulement les clients qui ont coché la case de demande d\'avis en commandant';
$_MODULE['<{kingavis}prestashop>kingavis_31b39a288e47adb1753efe1849078c8b'] = 'Page publique d\'avis';
$_MODULE['<{kingavis}prestashop>kingavis_7388f7847f914c8e5186ded26403678f'] = 'Son adresse (…/avis/votre-boutique) ou sa dernière partie ; nécessaire pour le badge et le widget.';
$_MODULE['<{kingavis}prestashop>kingavis_c9cc8cce247e49bae79f15173ce97354'] = 'Enregistrer';
$_MODULE['<{kingavis}prestashop>kingavis_1358b1c0d821a6404930945f1505538f'] = 'Envoyer un événement de test';
$_MODULE['<{kingavis}prestashop>kingavis_bfb163822ae68f663913955c6ba6cc19'] = 'Avis sur la boutique';
$_MODULE['<{kingavis}prestashop>kingavis_5c767f1e87f740293a10ff00de269afa'] = 'Afficher le badge dans le pied de page';
$_MODULE['<{kingavis}prestashop>kingavis_7adc3a861e69797d5869cbe02188768b'] = 'Afficher le widget d\'avis sur';
$_MODULE['<{kingavis}prestashop>kingavis_e677dbdc3563f8fc7e981ef69fcb1df8'] = 'aucune page';
$_MODULE['<{kingavis}prestashop>kingavis_2b67aad0389cc27e596512062f1e02b8'] = 'la page d\'accueil';
$_MODULE['<{kingavis}prestashop>kingavis_f3a7b0180dadb28c5ddf8c14ac368549'] = 'les pages produit';
$_MODULE['<{kingavis}prestashop>kingavis_177091f77e79df3fe243ec165f26d3e6'] = 'la page de contenu choisie ci-dessous';
$_MODULE['<{kingavis}prestashop>kingavis_23106a39fa86c359f6545db774cc2c9b'] = 'Page de contenu';
$_MODULE['<{kingavis}prestashop>kingavis_d2f1dc4fd1772f6713b86365d8aff2da'] = 'Derniers avis dans le widget';
$_MODULE['<{kingavis}prestashop>kingavis_d4bbf1eb1171cc660403f685a76386b4'] = 'Commandes passées avant le module';
$_MODULE['<{kingavis}prestashop>kingavis_2c6087d6752ad3766e85876baf689475'] = 'Envoie à King-Avis le statut actuel des commandes modifiées ces derniers jours, pour que les commandes livrées ne soient pas oubliées. Cliquez de nouveau pour continuer : rien n\'est envoyé deux fois.';
$_MODULE['<{kingavis}prestashop>kingavis_f7e8f1d28f755f5bbfe4c875cb74953e'] = 'Commandes modifiées ces derniers (jours)';
$_MODULE['<{kingavis}prestashop>kingavis_beb40b7820d1be21916f9ba900c6db85'] = 'Envoyer ces commandes';
$_MODULE['<{kingavis}prestashop>kingavis_102d338aeb0cf4a81228e4f7b514c2e2'] = 'Envoyer maintenant les webhooks en attente';
