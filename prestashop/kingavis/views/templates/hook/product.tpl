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
<div class="{$kingavis_class|escape:'html':'UTF-8'}" data-kingavis-shop="{$kingavis_slug|escape:'html':'UTF-8'}" data-kingavis-product="{$kingavis_product|escape:'html':'UTF-8'}" data-kingavis-reviews="{$kingavis_reviews|intval}"{if $kingavis_lang} data-lang="{$kingavis_lang|escape:'html':'UTF-8'}"{/if}></div>
{if $kingavis_jsonld}<script type="application/ld+json" data-kingavis-jsonld="{$kingavis_slug|escape:'html':'UTF-8'}/{$kingavis_product|escape:'html':'UTF-8'}">{$kingavis_jsonld nofilter}</script>{/if}
{if $kingavis_script}<script src="{$kingavis_script|escape:'html':'UTF-8'}" async></script>{/if}
