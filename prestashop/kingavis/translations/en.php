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
$_MODULE['<{kingavis}prestashop>kingavis_31b12a7af27b21b71e93a7c326834211'] = 'King-Avis verified reviews';
$_MODULE['<{kingavis}prestashop>kingavis_27b674d6d1303471d77d64aa87bbde6b'] = 'Asks your customers for a review when their order is delivered, and shows your reviews on your shop.';
$_MODULE['<{kingavis}prestashop>kingavis_31629a70b076aef5b91ab9d402fc4d23'] = 'Orders not yet sent to King-Avis will be forgotten. Uninstall?';
$_MODULE['<{kingavis}prestashop>kingavis_62e075e4f13abcbfb41b75988f441125'] = 'Save the King-Avis address, shop key and webhook secret first.';
$_MODULE['<{kingavis}prestashop>kingavis_db617232c121b9c9c7e3df13de10e096'] = 'King-Avis: no valid email address to erase.';
$_MODULE['<{kingavis}prestashop>kingavis_8e72fcb10be51d1ff6daa37d411524c9'] = 'King-Avis: the erasure request could not be recorded.';
$_MODULE['<{kingavis}prestashop>kingavis_b40026ee36e64c845a269ed1be76631a'] = 'King-Avis: no valid email address.';
$_MODULE['<{kingavis}prestashop>kingavis_c2ba7e785c49050f48da9aacc45c2b85'] = 'Service';
$_MODULE['<{kingavis}prestashop>kingavis_b945785edfebfac79eaefc044b86f5e3'] = 'Address of the service';
$_MODULE['<{kingavis}prestashop>kingavis_bf74dbf66f46d7794111c8ab338a19fa'] = 'Data held';
$_MODULE['<{kingavis}prestashop>kingavis_6eb21aabf00ca9e97f803b398bb8f582'] = 'Your email address, first and last name and language; the reference, dates and statuses of your orders; the review requests sent to you; the reviews you wrote.';
$_MODULE['<{kingavis}prestashop>kingavis_261addf78c7b2c961032b3dd08ba0b1f'] = 'Purpose';
$_MODULE['<{kingavis}prestashop>kingavis_ec038b3c4cbe28b3fc583cfc2eb8e793'] = 'Asking for your review of your orders and publishing the reviews you write.';
$_MODULE['<{kingavis}prestashop>kingavis_e12369e27fc51d076072c3d815e94663'] = 'Review request consent';
$_MODULE['<{kingavis}prestashop>kingavis_5e7211d3a13e076a1c509e896dcb6636'] = 'not asked';
$_MODULE['<{kingavis}prestashop>kingavis_b9f4c1cc743af7b09673ba380390d2f1'] = 'given';
$_MODULE['<{kingavis}prestashop>kingavis_723634aa8cde73188d4661bb3fe81ce4'] = 'refused';
$_MODULE['<{kingavis}prestashop>kingavis_a43414c337499d075ee4f039acc30068'] = 'Where to ask';
$_MODULE['<{kingavis}prestashop>kingavis_d8ab06d3f00052c804b5075b9aa70814'] = 'Ask this shop (its contact page): it forwards your request to King-Avis. Erasing your data in this shop erases it in King-Avis too. Every review request email also has a link to unsubscribe and to withdraw your review.';
$_MODULE['<{kingavis}prestashop>kingavis_111a13616044d0ce2ecb107fc95a48c5'] = 'I agree to receive one email asking for my review of my order';
$_MODULE['<{kingavis}prestashop>kingavis_13a1d414b7142efd25f4dc1e3597ab92'] = 'Verified customer reviews by King-Avis';
$_MODULE['<{kingavis}prestashop>kingavis_0c5b5330125abff2369ea8cf52b5ff46'] = 'King-Avis answered %d: %s';
$_MODULE['<{kingavis}prestashop>kingavis_ca2070ce9bdebd6247e16b357eb990fb'] = 'King-Avis could not be reached: %s';
$_MODULE['<{kingavis}prestashop>kingavis_3cd6ba2be51b14e8a9098fda13dd808a'] = 'The number of days must be a whole number from 1 to 365.';
$_MODULE['<{kingavis}prestashop>kingavis_73a4fb2310654c0e789b741b96f55b5c'] = '%1$d orders found: %2$d queued now, %3$d already sent before, %4$d left for the next click. %5$d webhooks delivered, %6$d refused, %7$d waiting.';
$_MODULE['<{kingavis}prestashop>kingavis_372a165bd9bc237e0e8744caaf263b1d'] = '%1$d webhooks delivered, %2$d refused, %3$d waiting.';
$_MODULE['<{kingavis}prestashop>kingavis_5ec3cd1c251f2c856188fc53c8c9f7a7'] = 'The King-Avis address must be an absolute http:// or https:// address, such as https://avis.example.com.';
$_MODULE['<{kingavis}prestashop>kingavis_edd04c1413862e1f135d093e28ec75e7'] = 'The shop key is the "key" King-Avis gave you (letters, digits, _ and -).';
$_MODULE['<{kingavis}prestashop>kingavis_0cbd510496bc1382d4f15f8ca8b2afb6'] = 'Enter the webhook secret King-Avis gave you (it starts with whsec_).';
$_MODULE['<{kingavis}prestashop>kingavis_50f83d7af235da059d25e4c39d2cf910'] = 'The webhook secret must start with whsec_ followed by the base64 key King-Avis gave you.';
$_MODULE['<{kingavis}prestashop>kingavis_25b51adf3605862731ba24e423dcd335'] = 'Choose whom King-Avis may ask for a review.';
$_MODULE['<{kingavis}prestashop>kingavis_f05f783c75785b524009e59431d9f432'] = 'The public review page is its address (…/avis/your-shop) or its last part.';
$_MODULE['<{kingavis}prestashop>kingavis_9a7e58ee13cb727cb7c4acc68f4cafe5'] = 'Settings saved.';
$_MODULE['<{kingavis}prestashop>kingavis_e8f26834eeb6ab85ccba1d525af2ce7e'] = '%d webhooks refused with the previous settings will be sent again.';
$_MODULE['<{kingavis}prestashop>kingavis_eb2e227612e5e44a5bb162b73bfbd090'] = 'Choose where the widget is shown.';
$_MODULE['<{kingavis}prestashop>kingavis_b069ea2fff281d72a8e629b06fcd4e64'] = 'The number of reviews in the widget must be from 0 to 20.';
$_MODULE['<{kingavis}prestashop>kingavis_4c591ec45324d5a7da3029653ba7910b'] = 'Choose the page that shows the widget.';
$_MODULE['<{kingavis}prestashop>kingavis_a745c9dfa516975cd890edeff9293c89'] = 'Deliveries to King-Avis';
$_MODULE['<{kingavis}prestashop>kingavis_ef88b1998e9041cec5c11dabeedb9952'] = '%d webhooks waiting to be delivered.';
$_MODULE['<{kingavis}prestashop>kingavis_34a37989f954d62075f8308f5bb9521d'] = 'Webhooks that fail are sent again on the next status changes and by this cron task (run it every 5 minutes):';
$_MODULE['<{kingavis}prestashop>kingavis_44749712dbec183e983dcd78a7736c41'] = 'Date';
$_MODULE['<{kingavis}prestashop>kingavis_a4ecfc70574394990cf17bd83df499f7'] = 'Event';
$_MODULE['<{kingavis}prestashop>kingavis_a240fa27925a635b08dc28c9e4f9216d'] = 'Order';
$_MODULE['<{kingavis}prestashop>kingavis_46a2a41cc6e552044816a2d04634545d'] = 'State';
$_MODULE['<{kingavis}prestashop>kingavis_7ba3b8236d48d4f4c5ec03c3fe6b75a9'] = 'Attempts';
$_MODULE['<{kingavis}prestashop>kingavis_cf54cfa52126a5195fe4d27935e07433'] = 'Last answer';
$_MODULE['<{kingavis}prestashop>kingavis_93cba07454f06a4a960172bbd6e2a435'] = 'Yes';
$_MODULE['<{kingavis}prestashop>kingavis_bafd7322c6e97d25b6299b5d6fe8920b'] = 'No';
$_MODULE['<{kingavis}prestashop>kingavis_ff24fd8c6ba4a6a4e01b0fe93644dc3e'] = 'Connection to King-Avis';
$_MODULE['<{kingavis}prestashop>kingavis_454a22efe2a47442a6757154dccb3325'] = 'King-Avis address';
$_MODULE['<{kingavis}prestashop>kingavis_e77dc58e7f1c67771bf54ee19716b7b5'] = 'For example https://avis.example.com';
$_MODULE['<{kingavis}prestashop>kingavis_639351f2c11ba70cb26d284d74d0b16d'] = 'Shop key';
$_MODULE['<{kingavis}prestashop>kingavis_fa538cc4be3ae6dc7deb0eebe354db1e'] = 'Webhook secret';
$_MODULE['<{kingavis}prestashop>kingavis_e4793be3ecc95d0897172c69b7b3ef8e'] = 'Starts with whsec_. King-Avis shows it once, when the shop is created.';
$_MODULE['<{kingavis}prestashop>kingavis_dea2a91db933842e1a42b9c1d089d93b'] = 'A secret is saved (%s). Leave empty to keep it.';
$_MODULE['<{kingavis}prestashop>kingavis_2041f403fff55073619e940a887b2553'] = 'Ask for a review';
$_MODULE['<{kingavis}prestashop>kingavis_6febd9db836bf6be458cb972a396a634'] = 'every customer';
$_MODULE['<{kingavis}prestashop>kingavis_61cc39db2f6dd812cda8b34c4c788052'] = 'only customers who ticked the review request box when ordering';
$_MODULE['<{kingavis}prestashop>kingavis_31b39a288e47adb1753efe1849078c8b'] = 'Public review page';
$_MODULE['<{kingavis}prestashop>kingavis_7388f7847f914c8e5186ded26403678f'] = 'Its address (…/avis/your-shop) or its last part; needed for the badge and the widget.';
$_MODULE['<{kingavis}prestashop>kingavis_c9cc8cce247e49bae79f15173ce97354'] = 'Save';
$_MODULE['<{kingavis}prestashop>kingavis_1358b1c0d821a6404930945f1505538f'] = 'Send a test event';
$_MODULE['<{kingavis}prestashop>kingavis_bfb163822ae68f663913955c6ba6cc19'] = 'Reviews on the shop';
$_MODULE['<{kingavis}prestashop>kingavis_5c767f1e87f740293a10ff00de269afa'] = 'Show the badge in the footer';
$_MODULE['<{kingavis}prestashop>kingavis_7adc3a861e69797d5869cbe02188768b'] = 'Show the reviews widget on';
$_MODULE['<{kingavis}prestashop>kingavis_e677dbdc3563f8fc7e981ef69fcb1df8'] = 'no page';
$_MODULE['<{kingavis}prestashop>kingavis_2b67aad0389cc27e596512062f1e02b8'] = 'the home page';
$_MODULE['<{kingavis}prestashop>kingavis_f3a7b0180dadb28c5ddf8c14ac368549'] = 'the product pages';
$_MODULE['<{kingavis}prestashop>kingavis_177091f77e79df3fe243ec165f26d3e6'] = 'the content page chosen below';
$_MODULE['<{kingavis}prestashop>kingavis_23106a39fa86c359f6545db774cc2c9b'] = 'Content page';
$_MODULE['<{kingavis}prestashop>kingavis_d2f1dc4fd1772f6713b86365d8aff2da'] = 'Latest reviews in the widget';
$_MODULE['<{kingavis}prestashop>kingavis_d4bbf1eb1171cc660403f685a76386b4'] = 'Orders placed before the module';
$_MODULE['<{kingavis}prestashop>kingavis_2c6087d6752ad3766e85876baf689475'] = 'Sends King-Avis the current status of the orders updated in the last days, so delivered orders are not forgotten. Click again to continue: nothing is sent twice.';
$_MODULE['<{kingavis}prestashop>kingavis_f7e8f1d28f755f5bbfe4c875cb74953e'] = 'Orders updated in the last (days)';
$_MODULE['<{kingavis}prestashop>kingavis_beb40b7820d1be21916f9ba900c6db85'] = 'Send these orders';
$_MODULE['<{kingavis}prestashop>kingavis_102d338aeb0cf4a81228e4f7b514c2e2'] = 'Send waiting webhooks now';
