<?php
/**
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
 */
if (!defined('_PS_VERSION_')) {
    exit;
}

/**
 * 1.0.0 to 1.1.0: status changes are taken from order_history (one hook for every change,
 * PrestaShop 1.7.7 included), the cron task catches up the changes no hook saw from the last
 * row of order_history on, order states are sent to King-Avis, and a reset keeps the settings.
 *
 * @param KingAvis $module
 *
 * @return bool
 */
function upgrade_module_1_1_0($module)
{
    if (!Configuration::getGlobalValue(KingAvis::HISTORY_CURSOR)) {
        Configuration::updateGlobalValue(KingAvis::HISTORY_CURSOR, (int) Db::getInstance()->getValue(
            'SELECT MAX(`id_order_history`) FROM `' . _DB_PREFIX_ . 'order_history`'
        ));
    }
    foreach (['actionOrderStatusPostUpdate', 'actionValidateOrder'] as $hook) {
        $module->unregisterHook($hook);
    }
    if (!$module->registerHook(KingAvis::HOOKS)) {
        return false;
    }
    $module->syncOrderStates(Shop::getShops(false, null, true));

    return true;
}
