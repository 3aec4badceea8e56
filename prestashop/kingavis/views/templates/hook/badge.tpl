{**
 * King-Avis for PrestaShop
 *
 * NOTICE OF LICENSE
 *
 * This source file is subject to the Academic Free License 3.0 (AFL-3.0)
 * that is bundled with this package in the file LICENSE.md.
 * It is also available through the world-wide-web at this URL:
 * https://opensource.org/licenses/AFL-3.0
 *
 * @author    King-Avis
 * @copyright King-Avis
 * @license   https://opensource.org/licenses/AFL-3.0 Academic Free License 3.0 (AFL-3.0)
 *}
<div class="kingavis-badge"><a href="{$kingavis_page_url|escape:'html':'UTF-8'}" target="_blank" rel="noopener"><img src="{$kingavis_badge_url|escape:'html':'UTF-8'}" alt="{l s='Verified customer reviews by King-Avis' d='Modules.Kingavis.Shop'}" loading="lazy"></a></div>
