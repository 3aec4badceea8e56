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
<div class="panel" id="kingavis-status">
  <h3>{l s='Deliveries to King-Avis' d='Modules.Kingavis.Admin'}</h3>
  <p class="kingavis-pending">{l s='%d webhooks waiting to be delivered.' sprintf=[$kingavis_pending] d='Modules.Kingavis.Admin'}</p>
  <p>{l s='Webhooks that fail are sent again by this cron task (run it every 5 minutes); it also sends the status changes PrestaShop did not tell the module about:' d='Modules.Kingavis.Admin'}<br><code>{$kingavis_cron_url|escape:'html':'UTF-8'}</code></p>
  {if $kingavis_given_up_count > 0}
    <div class="alert alert-warning kingavis-given-up">
      <p>{l s='%d webhooks were given up after repeated failures. The personal data they hold is deleted after 30 days.' sprintf=[$kingavis_given_up_count] d='Modules.Kingavis.Admin'}</p>
      <table class="table">
        <thead><tr><th>{l s='Date' d='Modules.Kingavis.Admin'}</th><th>{l s='Event' d='Modules.Kingavis.Admin'}</th><th>{l s='Order' d='Modules.Kingavis.Admin'}</th><th>{l s='Attempts' d='Modules.Kingavis.Admin'}</th><th>{l s='Last answer' d='Modules.Kingavis.Admin'}</th></tr></thead>
        <tbody>
        {foreach from=$kingavis_given_up item=row}
          <tr><td>{$row.date_add|escape:'html':'UTF-8'}</td><td>{$row.kind|escape:'html':'UTF-8'}</td><td>{if $row.id_order}{$row.id_order|intval}{/if}</td><td>{$row.attempts|intval}</td><td>{if $row.last_status}{$row.last_status|intval} {/if}{$row.last_result|escape:'html':'UTF-8'}</td></tr>
        {/foreach}
        </tbody>
      </table>
      <form method="post" action="{$kingavis_action|escape:'html':'UTF-8'}">
        <button type="submit" name="submitKingavisRetry" value="1" class="btn btn-default">{l s='Send the given-up webhooks again' d='Modules.Kingavis.Admin'}</button>
      </form>
    </div>
  {/if}
  {if $kingavis_latest}
    <table class="table kingavis-latest">
      <thead><tr><th>{l s='Date' d='Modules.Kingavis.Admin'}</th><th>{l s='Event' d='Modules.Kingavis.Admin'}</th><th>{l s='Order' d='Modules.Kingavis.Admin'}</th><th>{l s='State' d='Modules.Kingavis.Admin'}</th><th>{l s='Attempts' d='Modules.Kingavis.Admin'}</th><th>{l s='Last answer' d='Modules.Kingavis.Admin'}</th></tr></thead>
      <tbody>
      {foreach from=$kingavis_latest item=row}
        <tr><td>{$row.date_add|escape:'html':'UTF-8'}</td><td>{$row.kind|escape:'html':'UTF-8'}</td><td>{if $row.id_order}{$row.id_order|intval}{/if}</td><td>{$row.state|escape:'html':'UTF-8'}</td><td>{$row.attempts|intval}</td><td>{if $row.last_status}{$row.last_status|intval} {/if}{$row.last_result|escape:'html':'UTF-8'}</td></tr>
      {/foreach}
      </tbody>
    </table>
  {/if}
</div>
