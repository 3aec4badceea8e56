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

require_once __DIR__ . '/classes/KingAvisSigner.php';
require_once __DIR__ . '/classes/KingAvisTransport.php';
require_once __DIR__ . '/classes/KingAvisSettings.php';
require_once __DIR__ . '/classes/KingAvisEvents.php';
require_once __DIR__ . '/classes/KingAvisOutbox.php';

use PrestaShop\PrestaShop\Core\Module\WidgetInterface;

/**
 * King-Avis for PrestaShop: sends King-Avis the shop's order status changes, so that customers
 * are asked for a review at the right moment, and shows the shop's reviews on its pages
 * (docs/prestashop.md).
 *
 * Also a widget: a theme can place the reviews widget anywhere with {widget name='kingavis'}
 * (optionally reviews=N).
 */
class KingAvis extends Module implements WidgetInterface
{
    /** Orders queued per click of the backfill button. */
    const BACKFILL_BATCH = 200;
    /** Webhooks sent at once after a backfill or from the "send now" button. */
    const SEND_BATCH = 50;
    /**
     * Seconds a shop request may spend sending what it queued, after its response where PHP
     * allows: whatever King-Avis does, a status change costs the shop at most this; the rest
     * is sent by the cron task.
     */
    const REQUEST_BUDGET = 1.5;
    /** Webhooks a shop request sends at most. */
    const REQUEST_BATCH = 10;
    /** order_history rows the cron task compares with the outbox per run. */
    const CATCH_UP_BATCH = 500;
    const CONSENT_FIELD = 'kingavis_review_consent';
    /** The highest order_history row the cron task has compared with the outbox. */
    const HISTORY_CURSOR = 'KINGAVIS_HISTORY_CURSOR';
    /** Set while PrestaShop resets the module: the uninstall then keeps the settings. */
    const RESETTING = 'KINGAVIS_RESETTING';

    const HOOKS = [
        'actionObjectOrderHistoryAddAfter',
        'actionObjectOrderStateAddAfter',
        'actionObjectOrderStateUpdateAfter',
        'actionObjectOrderStateDeleteAfter',
        'actionObjectCustomerDeleteBefore',
        'actionBeforeResetModule',
        'registerGDPRConsent',
        'actionDeleteGDPRCustomer',
        'actionExportGDPRData',
        'displayFooter',
        'displayHome',
        'displayFooterProduct',
        'displayProductAdditionalInfo',
        'displayProductListReviews',
        'additionalCustomerFormFields',
        'actionCustomerAccountAdd',
        'actionCustomerAccountUpdate',
    ];

    /** Settings a reset keeps (connection and cron token); an uninstall removes them. */
    const CONNECTION_SETTINGS = [
        KingAvisSettings::URL, KingAvisSettings::SHOP_KEY, KingAvisSettings::SECRET, KingAvisSettings::CONSENT_MODE,
        KingAvisSettings::SLUG, KingAvisSettings::CRON_TOKEN, self::HISTORY_CURSOR,
    ];

    /** @var array<int, string> emails of the customers being deleted in this request, by id */
    private static $deletedCustomers = [];
    /** Seconds a product page waits at most for a product's JSON-LD. */
    const JSONLD_TIMEOUT = 1.0;
    /** Seconds a product's JSON-LD (or its absence) is kept. */
    const JSONLD_TTL = 300;
    /** @var bool whether this request sends what it queued when it ends */
    private static $deliveryScheduled = false;

    /** @var bool whether this page already loads widget.js */
    private $widgetScriptSent = false;
    /** @var KingAvisTransport|null */
    private $transport;

    public function __construct()
    {
        $this->name = 'kingavis';
        $this->tab = 'advertising_marketing';
        $this->version = KingAvisEvents::MODULE_VERSION;
        $this->author = 'King-Avis';
        $this->need_instance = 0;
        $this->ps_versions_compliancy = ['min' => '1.7.7.0', 'max' => _PS_VERSION_];
        $this->bootstrap = true;

        parent::__construct();

        $this->displayName = $this->trans('King-Avis verified reviews', [], 'Modules.Kingavis.Admin');
        $this->description = $this->trans('Asks your customers for a review when their order is delivered, and shows your reviews on your shop.', [], 'Modules.Kingavis.Admin');
        $this->confirmUninstall = $this->trans('Orders not yet sent to King-Avis will be forgotten. Uninstall?', [], 'Modules.Kingavis.Admin');
    }

    /**
     * The module's strings are translated by PrestaShop's translator (Modules.Kingavis.*).
     *
     * @return bool
     */
    public function isUsingNewTranslationSystem()
    {
        return true;
    }

    /**
     * For shops that need another HTTP client.
     *
     * @param KingAvisTransport $transport
     *
     * @return void
     */
    public function setTransport(KingAvisTransport $transport)
    {
        $this->transport = $transport;
    }

    /**
     * @return KingAvisOutbox
     */
    public function outbox()
    {
        return new KingAvisOutbox(Db::getInstance(), $this->transport ?: new KingAvisCurlTransport());
    }

    /* ------------------------------------------------------------------ install */

    /**
     * The tables first, then the module and its hooks: a failure removes what was created.
     *
     * @return bool
     */
    public function install()
    {
        if (Shop::isFeatureActive()) {
            Shop::setContext(Shop::CONTEXT_ALL);
        }
        foreach (KingAvisOutbox::installSql() as $sql) {
            if (!Db::getInstance()->execute($sql)) {
                $this->dropTables();

                return false;
            }
        }
        if (!parent::install()) {
            $this->dropTables();

            return false;
        }
        if (!$this->registerHook(self::HOOKS)) {
            $this->uninstall();

            return false;
        }
        if (!Configuration::getGlobalValue(KingAvisSettings::CRON_TOKEN)) {
            Configuration::updateGlobalValue(KingAvisSettings::CRON_TOKEN, bin2hex(random_bytes(16)));
        }
        if (!Configuration::getGlobalValue(self::HISTORY_CURSOR)) {
            // Changes before the module are the backfill's; the cron catches up from here.
            Configuration::updateGlobalValue(self::HISTORY_CURSOR, (int) Db::getInstance()->getValue(
                'SELECT MAX(`id_order_history`) FROM `' . _DB_PREFIX_ . 'order_history`'
            ));
        }
        foreach ([
            KingAvisSettings::CONSENT_MODE => KingAvisSettings::CONSENT_ALL,
            KingAvisSettings::BADGE_FOOTER => 0,
            KingAvisSettings::WIDGET_PAGE => KingAvisSettings::WIDGET_NONE,
            KingAvisSettings::WIDGET_REVIEWS => 5,
        ] as $key => $default) {
            if (Configuration::getGlobalValue($key) === false) {
                Configuration::updateGlobalValue($key, $default);
            }
        }
        Configuration::deleteByName(self::RESETTING);
        // A reinstall (or a reset) with the settings kept tells King-Avis the statuses again.
        $this->syncOrderStates(Shop::getShops(false, null, true));

        return true;
    }

    /**
     * @return bool
     */
    public function uninstall()
    {
        $resetting = (bool) Configuration::getGlobalValue(self::RESETTING);
        if (!$resetting) {
            $this->dropTables();
        }
        $keys = [
            KingAvisSettings::BADGE_FOOTER, KingAvisSettings::WIDGET_PAGE, KingAvisSettings::WIDGET_CMS,
            KingAvisSettings::WIDGET_REVIEWS, KingAvisSettings::PRODUCT_STARS, KingAvisSettings::PRODUCT_REVIEWS,
            KingAvisSettings::LIST_STARS, KingAvisOutbox::CONFIG_PAUSE,
        ];
        if (!$resetting) {
            $keys = array_merge($keys, self::CONNECTION_SETTINGS);
        }
        foreach ($keys as $key) {
            Configuration::deleteByName($key);
        }

        return parent::uninstall();
    }

    /**
     * PrestaShop's "reset" keeping data: the hooks again, settings and queue untouched.
     *
     * @return bool
     */
    public function reset()
    {
        return $this->registerHook(self::HOOKS);
    }

    /**
     * A reset without keeping data is an uninstall then an install: the connection settings,
     * the cron token (the merchant's crontab) and the queue survive it.
     *
     * @param array $params moduleName
     *
     * @return void
     */
    public function hookActionBeforeResetModule($params)
    {
        if (isset($params['moduleName']) && $params['moduleName'] === $this->name) {
            Configuration::updateGlobalValue(self::RESETTING, 1);
        }
    }

    /**
     * @return void
     */
    private function dropTables()
    {
        foreach (KingAvisOutbox::uninstallSql() as $sql) {
            Db::getInstance()->execute($sql);
        }
    }

    /* ------------------------------------------------------------------ order status changes */

    /**
     * A row of order_history was added: an order's status changed (a new order's first status
     * too). Queued at once; sent when the request ends (see scheduleDelivery).
     *
     * @param array $params object (OrderHistory)
     *
     * @return void
     */
    public function hookActionObjectOrderHistoryAddAfter($params)
    {
        $history = isset($params['object']) ? $params['object'] : null;
        try {
            if (!is_object($history) || (int) $history->id <= 0) {
                return;
            }
            $row = [
                'id_order_history' => (int) $history->id,
                'id_order' => (int) $history->id_order,
                'id_order_state' => (int) $history->id_order_state,
                'date_add' => (string) $history->date_add,
            ];
            if ($this->recordHistory($row)) {
                $this->scheduleDelivery();
            }
        } catch (Throwable $e) {
            $this->logFailure('status change', $e, is_object($history) ? (int) $history->id_order : null);
        }
    }

    /**
     * Queue the order.status_changed webhook of one order_history row. The previous status is
     * the order's history row before it (PrestaShop 1.7's hooks do not give it). The webhook
     * id is made of the order, the status and the history row, so the hook, the cron's catch-up
     * and the backfill give one change one id, and King-Avis records it once.
     *
     * @param array $row id_order_history, id_order, id_order_state, date_add
     *
     * @return int the queued row, 0 when nothing was queued
     */
    public function recordHistory(array $row)
    {
        $order = new Order((int) $row['id_order']);
        if (!Validate::isLoadedObject($order) || (int) $row['id_order_state'] <= 0) {
            return 0;
        }
        $settings = KingAvisSettings::forShop((int) $order->id_shop);
        if (!$settings->isComplete()) {
            return 0;
        }
        $webhookId = KingAvisEvents::webhookId($settings->shopKey, KingAvisOutbox::KIND_ORDER_STATUS, [
            (int) $order->id, (int) $row['id_order_state'], 'h' . (int) $row['id_order_history'],
        ]);
        $outbox = $this->outbox();
        if ($outbox->has($webhookId)) {
            return 0;
        }
        $previous = (int) Db::getInstance()->getValue('SELECT `id_order_state` FROM `' . _DB_PREFIX_ . 'order_history`'
            . ' WHERE `id_order` = ' . (int) $order->id . ' AND `id_order_history` < ' . (int) $row['id_order_history']
            . ' ORDER BY `id_order_history` DESC');
        $zone = KingAvisEvents::shopTimeZone();
        $changedAt = KingAvisEvents::isoDate($row['date_add'], $zone) ?: KingAvisEvents::isoTime(time(), $zone);
        $body = KingAvisEvents::orderStatusChanged(
            $order, (int) $row['id_order_state'], $previous, $changedAt,
            $this->consentFor($outbox, $settings, (int) $order->id_customer), time()
        );
        if ($body === null) {
            return 0;
        }

        return $outbox->enqueue(
            (int) $order->id_shop, KingAvisOutbox::KIND_ORDER_STATUS, $webhookId, KingAvisEvents::encode($body),
            (int) $order->id, (int) $row['id_order_state'], (int) $order->id_customer
        );
    }

    /**
     * Send what this request queued when it ends: after the response is sent where PHP allows
     * it (PHP-FPM, LiteSpeed), within REQUEST_BUDGET seconds in all cases.
     *
     * @return void
     */
    private function scheduleDelivery()
    {
        if (!self::$deliveryScheduled) {
            self::$deliveryScheduled = true;
            register_shutdown_function([$this, 'deliverAtEndOfRequest']);
        }
    }

    /**
     * @return void
     */
    public function deliverAtEndOfRequest()
    {
        try {
            ignore_user_abort(true);
            if (function_exists('fastcgi_finish_request')) {
                fastcgi_finish_request();
            } elseif (function_exists('litespeed_finish_request')) {
                litespeed_finish_request();
            }
            $outbox = $this->outbox();
            if (!$outbox->isPaused()) {
                $outbox->deliverDue(self::REQUEST_BATCH, self::REQUEST_BUDGET);
            }
        } catch (Throwable $e) {
            $this->logFailure('delivery', $e, null);
        }
    }

    /**
     * The review_consent to send: true for every customer in the "every customer" mode;
     * in the "consent at checkout" mode, whether this customer ticked the box.
     *
     * @param KingAvisOutbox $outbox
     * @param KingAvisSettings $settings
     * @param int $idCustomer
     *
     * @return bool
     */
    private function consentFor(KingAvisOutbox $outbox, KingAvisSettings $settings, $idCustomer)
    {
        if ($settings->consentMode === KingAvisSettings::CONSENT_ALL) {
            return true;
        }

        return $outbox->consentOf($idCustomer) === true;
    }

    /**
     * The cron task (controllers/front/cron.php): queue the changes no hook saw, send what is
     * due, forget what is old.
     *
     * @return array<string, int>
     */
    public function runCron()
    {
        $outbox = $this->outbox();
        $counts = ['caught_up' => $this->catchUp()];
        $counts += $outbox->deliverDue(200, 25);
        $outbox->purge();
        $counts['remaining'] = $outbox->countPending();
        $counts['given_up'] = $outbox->countGivenUp();

        return $counts;
    }

    /**
     * Compare order_history with the outbox from where the last run stopped: a change whose
     * hook did not run (PrestaShop skips a module for an employee without its view right, an
     * import, another module's direct write) is queued now.
     *
     * @return int changes queued
     */
    public function catchUp()
    {
        $cursor = (int) Configuration::getGlobalValue(self::HISTORY_CURSOR);
        $rows = Db::getInstance()->executeS('SELECT `id_order_history`, `id_order`, `id_order_state`, `date_add` FROM `'
            . _DB_PREFIX_ . 'order_history` WHERE `id_order_history` > ' . $cursor
            . ' ORDER BY `id_order_history` ASC LIMIT ' . self::CATCH_UP_BATCH) ?: [];
        $queued = 0;
        foreach ($rows as $row) {
            if ($this->recordHistory($row)) {
                ++$queued;
            }
            $cursor = (int) $row['id_order_history'];
        }
        Configuration::updateGlobalValue(self::HISTORY_CURSOR, $cursor);

        return $queued;
    }

    /**
     * Whether $token is the cron token (compared in constant time).
     *
     * @param string $token
     *
     * @return bool
     */
    public function isCronToken($token)
    {
        $expected = (string) Configuration::getGlobalValue(KingAvisSettings::CRON_TOKEN);

        return $expected !== '' && is_string($token) && hash_equals($expected, $token);
    }

    /**
     * Queue the current status of the orders updated in the last $days days (what
     * Order::getOrdersIdByDate returns: orders whose last change is that recent), up to
     * BACKFILL_BATCH orders not queued before, then send a first batch. Running it again
     * continues where it stopped and never sends a change twice: each change has a fixed
     * webhook id (order, status, history row) and an order whose current status was already
     * queued is skipped.
     *
     * @param int $days
     *
     * @return array<string, int>
     */
    public function backfill($days)
    {
        $days = (int) $days;
        $zone = KingAvisEvents::shopTimeZone();
        $to = new DateTime('@' . time());
        $to->setTimezone($zone);
        $from = clone $to;
        $from->modify('-' . $days . ' days');
        $ids = Order::getOrdersIdByDate($from->format('Y-m-d H:i:s'), $to->format('Y-m-d H:i:s'));
        sort($ids);
        $outbox = $this->outbox();
        $counts = ['orders' => count($ids), 'queued' => 0, 'known' => 0, 'left' => 0];
        foreach ($ids as $idOrder) {
            if ($counts['queued'] >= self::BACKFILL_BATCH) {
                ++$counts['left'];
                continue;
            }
            $row = Db::getInstance()->getRow('SELECT `id_order_history`, `id_order`, `id_order_state`, `date_add` FROM `'
                . _DB_PREFIX_ . 'order_history` WHERE `id_order` = ' . (int) $idOrder . ' ORDER BY `id_order_history` DESC');
            if (!$row || $outbox->lastQueuedState((int) $idOrder) === (int) $row['id_order_state']) {
                ++$counts['known'];
                continue;
            }
            if ($this->recordHistory($row)) {
                ++$counts['queued'];
            } else {
                ++$counts['known'];
            }
        }
        $sent = $outbox->deliverDue(self::SEND_BATCH, 20);
        $counts['delivered'] = $sent[KingAvisOutbox::DELIVERED];
        $counts['rejected'] = $sent[KingAvisOutbox::REJECTED];
        $counts['pending'] = $outbox->countPending();

        return $counts;
    }

    /* ------------------------------------------------------------------ order states */

    /**
     * Queue the shop's list of order states for every configured shop among $idShops
     * (replacing a list not sent yet), to be sent when the request ends.
     *
     * @param int[] $idShops
     *
     * @return int lists queued
     */
    public function syncOrderStates(array $idShops)
    {
        $queued = 0;
        $outbox = $this->outbox();
        foreach (KingAvisSettings::configured($idShops) as $idShop => $settings) {
            $outbox->dropUnsentOrderStates($idShop);
            $body = KingAvisEvents::encode(KingAvisEvents::orderStates(time()));
            $webhookId = KingAvisEvents::webhookId($settings->shopKey, KingAvisOutbox::KIND_ORDER_STATES, [microtime(true), bin2hex(random_bytes(8))]);
            if ($outbox->enqueue($idShop, KingAvisOutbox::KIND_ORDER_STATES, $webhookId, $body)) {
                ++$queued;
            }
        }
        if ($queued) {
            $this->scheduleDelivery();
        }

        return $queued;
    }

    /**
     * @return void
     */
    public function hookActionObjectOrderStateAddAfter($params)
    {
        $this->orderStatesChanged();
    }

    /**
     * @return void
     */
    public function hookActionObjectOrderStateUpdateAfter($params)
    {
        $this->orderStatesChanged();
    }

    /**
     * @return void
     */
    public function hookActionObjectOrderStateDeleteAfter($params)
    {
        $this->orderStatesChanged();
    }

    /**
     * @return void
     */
    private function orderStatesChanged()
    {
        try {
            $this->syncOrderStates(Shop::getShops(false, null, true));
        } catch (Throwable $e) {
            $this->logFailure('order states', $e, null);
        }
    }

    /**
     * Send the test event with the saved settings of each shop the context stands for, and
     * describe King-Avis's answers.
     *
     * @return array[] each ['shop' => string, 'ok' => bool, 'status' => int, 'detail' => string]
     */
    public function sendTestEvent()
    {
        $results = [];
        // A reserved address (RFC 2606): the event is marked "test" and nobody is written to.
        $email = 'test@example.com';
        $transport = $this->transport ?: new KingAvisCurlTransport();
        foreach (KingAvisSettings::configured(KingAvisSettings::contextShopIds()) as $idShop => $settings) {
            $body = KingAvisEvents::encode(KingAvisEvents::testEvent($email, time()));
            $webhookId = 'msg_ps_test_' . bin2hex(random_bytes(12));
            $headers = KingAvisSigner::headers($settings->secret, $webhookId, $body, time());
            $headers['Content-Type'] = 'application/json';
            $response = $transport->send('POST', $settings->endpoint(KingAvisOutbox::KIND_ORDER_STATUS), $headers, $body, 10);
            $shop = new Shop((int) $idShop);
            $results[] = [
                'shop' => (string) $shop->name,
                'ok' => KingAvisOutbox::classify($response) === KingAvisOutbox::DELIVERED,
                'status' => $response->status,
                'detail' => KingAvisOutbox::describe($response),
            ];
        }

        return $results;
    }

    /* ------------------------------------------------------------------ personal data (GDPR) */

    /**
     * Declares the module to PrestaShop's GDPR module (psgdpr), which lists its consent.
     *
     * @return string
     */
    public function hookRegisterGDPRConsent()
    {
        return '';
    }

    /**
     * A customer is about to be deleted: keep their address for this request, because psgdpr
     * 2.x deletes the customer before it asks the modules to erase them by id.
     *
     * @param array $params object (Customer)
     *
     * @return void
     */
    public function hookActionObjectCustomerDeleteBefore($params)
    {
        $customer = isset($params['object']) ? $params['object'] : null;
        if (is_object($customer) && (int) $customer->id > 0 && Validate::isEmail((string) $customer->email)) {
            self::$deletedCustomers[(int) $customer->id] = (string) $customer->email;
        }
    }

    /**
     * Who psgdpr asks to erase: psgdpr 1.4 gives the customer as an array (id, email...);
     * psgdpr 2.x gives [$data], $data being the customer id (a string) or ['email' => …].
     *
     * @param mixed $params
     *
     * @return array [email, customer ids]
     */
    public static function erasedCustomer($params)
    {
        $data = $params;
        if (is_array($params) && !isset($params['email']) && !isset($params['id']) && !isset($params['id_customer'])
            && array_key_exists(0, $params)) {
            $data = $params[0];
        }
        $email = '';
        $ids = [];
        if (is_array($data)) {
            $email = isset($data['email']) ? trim((string) $data['email']) : '';
            foreach (['id', 'id_customer'] as $field) {
                if (isset($data[$field]) && (int) $data[$field] > 0) {
                    $ids[] = (int) $data[$field];
                }
            }
        } elseif (is_scalar($data) && ctype_digit((string) $data) && (int) $data > 0) {
            $ids[] = (int) $data;
        }
        foreach ($ids as $id) {
            if ($email === '' && isset(self::$deletedCustomers[$id])) {
                $email = self::$deletedCustomers[$id];
            }
            if ($email === '') {
                $customer = new Customer($id);
                if (Validate::isLoadedObject($customer)) {
                    $email = (string) $customer->email;
                }
            }
        }
        if ($email !== '' && Validate::isEmail($email)) {
            foreach (Customer::getCustomersByEmail($email) ?: [] as $customer) {
                $ids[] = (int) $customer['id_customer'];
            }
        }

        return [$email, array_values(array_unique($ids))];
    }

    /**
     * A customer's data is erased in the shop: drop it from the module's tables (consent,
     * events not sent yet) and ask every configured King-Avis shop to erase it too (queued
     * and retried like every webhook).
     *
     * @param mixed $params see erasedCustomer
     *
     * @return string JSON: true, or an error message
     */
    public function hookActionDeleteGDPRCustomer($params)
    {
        try {
            list($email, $ids) = self::erasedCustomer($params);
            if ($email === '' || !Validate::isEmail($email)) {
                if ($ids) {
                    $this->outbox()->forgetCustomer($ids);
                }

                return json_encode($this->trans('King-Avis: no valid email address to erase.', [], 'Modules.Kingavis.Admin'));
            }
            $outbox = $this->outbox();
            $outbox->forgetCustomer($ids, $email);
            $now = time();
            $queued = [];
            foreach (KingAvisSettings::configured(Shop::getShops(false, null, true)) as $idShop => $settings) {
                $body = KingAvisEvents::encode(KingAvisEvents::erasureRequested($email, $now));
                $webhookId = KingAvisEvents::webhookId($settings->shopKey, KingAvisOutbox::KIND_ERASURE, [Tools::strtolower($email), $now, bin2hex(random_bytes(4))]);
                $id = $outbox->enqueue($idShop, KingAvisOutbox::KIND_ERASURE, $webhookId, $body);
                if ($id) {
                    $queued[] = $id;
                }
            }
            if (!$outbox->isPaused()) {
                foreach ($queued as $id) {
                    $outbox->deliver($id, 5);
                }
            }

            return json_encode(true);
        } catch (Throwable $e) {
            $this->logFailure('erasure', $e, null);

            return json_encode($this->trans('King-Avis: the erasure request could not be recorded.', [], 'Modules.Kingavis.Admin'));
        }
    }

    /**
     * What King-Avis holds about a customer, and where to ask for it.
     *
     * @param mixed $params see erasedCustomer
     *
     * @return string JSON
     */
    public function hookActionExportGDPRData($params)
    {
        list($email, $ids) = self::erasedCustomer($params);
        if ($email === '' || !Validate::isEmail($email)) {
            return json_encode($this->trans('King-Avis: no valid email address.', [], 'Modules.Kingavis.Admin'));
        }
        $settings = KingAvisSettings::forShop();
        $consent = $ids ? $this->outbox()->consentOf($ids[0]) : null;

        return json_encode([[
            $this->trans('Service', [], 'Modules.Kingavis.Shop') => 'King-Avis',
            $this->trans('Address of the service', [], 'Modules.Kingavis.Shop') => $settings->url,
            $this->trans('Data held', [], 'Modules.Kingavis.Shop') => $this->trans('Your email address, first and last name and language; the reference, dates and statuses of your orders; the products you bought; the review requests sent to you; the reviews you wrote.', [], 'Modules.Kingavis.Shop'),
            $this->trans('Purpose', [], 'Modules.Kingavis.Shop') => $this->trans('Asking for your review of your orders and publishing the reviews you write.', [], 'Modules.Kingavis.Shop'),
            $this->trans('Review request consent', [], 'Modules.Kingavis.Shop') => $consent === null ? $this->trans('not asked', [], 'Modules.Kingavis.Shop') : ($consent ? $this->trans('given', [], 'Modules.Kingavis.Shop') : $this->trans('refused', [], 'Modules.Kingavis.Shop')),
            $this->trans('Where to ask', [], 'Modules.Kingavis.Shop') => $this->trans('Ask this shop (its contact page): it forwards your request to King-Avis. Erasing your data in this shop erases it in King-Avis too. Every review request email also has a link to unsubscribe and to withdraw your review.', [], 'Modules.Kingavis.Shop'),
        ]]);
    }

/* ------------------------------------------------------------------ consent at checkout */

    /**
     * The review-request consent box on the customer forms (registration, guest checkout,
     * identity), in the "consent at checkout" mode.
     *
     * @param array $params
     *
     * @return FormField[]
     */
    public function hookAdditionalCustomerFormFields($params)
    {
        if (KingAvisSettings::forShop()->consentMode !== KingAvisSettings::CONSENT_CHECKOUT) {
            return [];
        }
        $field = new FormField();
        $field->setName(self::CONSENT_FIELD)
            ->setType('checkbox')
            ->setLabel($this->trans('I agree to receive one email asking for my review of my order', [], 'Modules.Kingavis.Shop'))
            ->setRequired(false);
        $customer = isset($this->context->customer) ? $this->context->customer : null;
        if (is_object($customer) && (int) $customer->id > 0 && $this->outbox()->consentOf((int) $customer->id) === true) {
            $field->setValue(1);
        }

        return [$field];
    }

    /**
     * @param array $params newCustomer (Customer)
     *
     * @return void
     */
    public function hookActionCustomerAccountAdd($params)
    {
        $this->saveConsentFromForm(isset($params['newCustomer']) ? $params['newCustomer'] : null);
    }

    /**
     * @param array $params customer (Customer)
     *
     * @return void
     */
    public function hookActionCustomerAccountUpdate($params)
    {
        $this->saveConsentFromForm(isset($params['customer']) ? $params['customer'] : null);
    }

    /**
     * Saves the box's state when the customer form that carries it was submitted.
     *
     * @param Customer|null $customer
     *
     * @return void
     */
    private function saveConsentFromForm($customer)
    {
        try {
            if (!is_object($customer) || (int) $customer->id <= 0 || !Tools::isSubmit('submitCreate')
                || KingAvisSettings::forShop()->consentMode !== KingAvisSettings::CONSENT_CHECKOUT) {
                return;
            }
            $this->outbox()->saveConsent((int) $customer->id, (bool) Tools::getValue(self::CONSENT_FIELD));
        } catch (Throwable $e) {
            $this->logFailure('consent', $e, null);
        }
    }

        /* ------------------------------------------------------------------ reviews on the shop */

    /**
     * The badge (every page, when enabled), and the widget on the chosen CMS page.
     *
     * @return string
     */
    public function hookDisplayFooter($params)
    {
        $html = '';
        if (Configuration::get(KingAvisSettings::WIDGET_PAGE) === KingAvisSettings::WIDGET_CMS_PAGE) {
            $controller = isset($this->context->controller) ? $this->context->controller : null;
            $page = is_object($controller) && isset($controller->php_self) ? $controller->php_self : '';
            $idCms = (int) Configuration::get(KingAvisSettings::WIDGET_CMS);
            if ($page === 'cms' && $idCms > 0 && (int) Tools::getValue('id_cms') === $idCms) {
                $html .= $this->widgetHtml();
            }
        }
        if (Configuration::get(KingAvisSettings::BADGE_FOOTER)) {
            $html .= $this->badgeHtml();
        }

        return $html;
    }

    /**
     * @return string
     */
    public function hookDisplayHome($params)
    {
        return Configuration::get(KingAvisSettings::WIDGET_PAGE) === KingAvisSettings::WIDGET_HOME ? $this->widgetHtml() : '';
    }

    /**
     * @return string
     */
    public function hookDisplayFooterProduct($params)
    {
        $html = Configuration::get(KingAvisSettings::WIDGET_PAGE) === KingAvisSettings::WIDGET_PRODUCT ? $this->widgetHtml() : '';
        if (Configuration::get(KingAvisSettings::PRODUCT_REVIEWS)) {
            $idProduct = $this->productId($params);
            if ($idProduct > 0) {
                $reviews = max(1, (int) Configuration::get(KingAvisSettings::WIDGET_REVIEWS));
                $html .= $this->productHtml($idProduct, $reviews, 'kingavis-product-reviews', true);
            }
        }

        return $html;
    }

    /**
     * The product's stars next to its price (product page).
     *
     * @return string
     */
    public function hookDisplayProductAdditionalInfo($params)
    {
        $idProduct = Configuration::get(KingAvisSettings::PRODUCT_STARS) ? $this->productId($params) : 0;

        return $idProduct > 0 ? $this->productHtml($idProduct, 0, 'kingavis-product-stars', false) : '';
    }

    /**
     * Each product's stars in the product lists (categories, search, home).
     *
     * @return string
     */
    public function hookDisplayProductListReviews($params)
    {
        $idProduct = Configuration::get(KingAvisSettings::LIST_STARS) ? $this->productId($params) : 0;

        return $idProduct > 0 ? $this->productHtml($idProduct, 0, 'kingavis-list-stars', false) : '';
    }

    /**
     * @param array $params product (array, ProductLazyArray or Product)
     *
     * @return int
     */
    private function productId($params)
    {
        $product = isset($params['product']) ? $params['product'] : null;
        if ((is_array($product) || $product instanceof ArrayAccess) && isset($product['id_product'])) {
            return (int) $product['id_product'];
        }
        if ($product instanceof Product) {
            return (int) $product->id;
        }

        return (int) Tools::getValue('id_product');
    }

    /**
     * One product's stars (reviews 0) or stars and latest reviews, filled by widget.js; with
     * $jsonLd, the product's schema.org JSON-LD from King-Avis rendered here, on the server.
     *
     * @param int $idProduct
     * @param int $reviews
     * @param string $class
     * @param bool $jsonLd
     *
     * @return string
     */
    private function productHtml($idProduct, $reviews, $class, $jsonLd)
    {
        $settings = KingAvisSettings::forShop();
        if ($settings->slug === '' || !KingAvisSettings::isValidUrl($settings->url)) {
            return '';
        }
        $iso = isset($this->context->language->iso_code) ? (string) $this->context->language->iso_code : '';
        $this->context->smarty->assign([
            'kingavis_class' => $class,
            'kingavis_slug' => $settings->slug,
            'kingavis_product' => (string) (int) $idProduct,
            'kingavis_reviews' => (int) $reviews,
            'kingavis_lang' => in_array($iso, ['fr', 'en'], true) ? $iso : '',
            'kingavis_script' => $this->widgetScriptSent ? '' : $settings->url . '/widget.js',
            'kingavis_jsonld' => $jsonLd ? $this->productJsonLd($settings, (int) $idProduct) : '',
        ]);
        $this->widgetScriptSent = true;

        return $this->fetch('module:kingavis/views/templates/hook/product.tpl');
    }

    /**
     * The product's JSON-LD from King-Avis (GET /api/v1/shops/<slug>/products/<id>/jsonld),
     * ready to sit in a <script> element: re-encoded so that no "<" can close it. Kept
     * JSONLD_TTL seconds in PrestaShop's cache folder, its absence too; fetched with a
     * JSONLD_TIMEOUT timeout, so a slow King-Avis never slows a product page.
     *
     * @param KingAvisSettings $settings
     * @param int $idProduct
     *
     * @return string empty when King-Avis has none
     */
    public function productJsonLd(KingAvisSettings $settings, $idProduct)
    {
        $url = $settings->url . '/api/v1/shops/' . rawurlencode($settings->slug) . '/products/' . (int) $idProduct . '/jsonld';
        $folder = _PS_CACHE_DIR_ . 'kingavis';
        $file = $folder . '/jsonld-' . sha1($url) . '.json';
        if (is_file($file) && filemtime($file) > time() - self::JSONLD_TTL) {
            return (string) file_get_contents($file);
        }
        $encoded = '';
        $transport = $this->transport ?: new KingAvisCurlTransport(1, 1);
        $response = $transport->send('GET', $url, ['Accept' => 'application/ld+json, application/json'], '', self::JSONLD_TIMEOUT);
        $data = $response->status === 200 ? $response->json() : [];
        if ($data && isset($data['@type']) && $data['@type'] === 'Product') {
            $encoded = (string) json_encode($data, JSON_HEX_TAG | JSON_HEX_AMP | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
        }
        if (!is_dir($folder)) {
            @mkdir($folder, 0755, true);
        }
        @file_put_contents($file, $encoded, LOCK_EX);

        return $encoded;
    }

    /**
     * The King-Avis badge (docs/prestashop.md: /api/v1/shops/<slug>/badge.svg) linking to the
     * public page.
     *
     * @return string
     */
    public function badgeHtml()
    {
        $settings = KingAvisSettings::forShop();
        if ($settings->slug === '' || !KingAvisSettings::isValidUrl($settings->url)) {
            return '';
        }
        $slug = rawurlencode($settings->slug);
        $this->context->smarty->assign([
            'kingavis_page_url' => $settings->url . '/avis/' . $slug,
            'kingavis_badge_url' => $settings->url . '/api/v1/shops/' . $slug . '/badge.svg',
        ]);

        return $this->fetch('module:kingavis/views/templates/hook/badge.tpl');
    }

    /**
     * The King-Avis widget (/widget.js fills <div data-kingavis-shop="<slug>">).
     *
     * @param int|null $reviews
     *
     * @return string
     */
    public function widgetHtml($reviews = null)
    {
        $settings = KingAvisSettings::forShop();
        if ($settings->slug === '' || !KingAvisSettings::isValidUrl($settings->url)) {
            return '';
        }
        $reviews = max(0, min(20, $reviews === null ? (int) Configuration::get(KingAvisSettings::WIDGET_REVIEWS) : (int) $reviews));
        $iso = isset($this->context->language->iso_code) ? (string) $this->context->language->iso_code : '';
        $this->context->smarty->assign([
            'kingavis_slug' => $settings->slug,
            'kingavis_reviews' => $reviews,
            'kingavis_lang' => in_array($iso, ['fr', 'en'], true) ? $iso : '',
            // One script fills every widget of the page.
            'kingavis_script' => $this->widgetScriptSent ? '' : $settings->url . '/widget.js',
        ]);
        $this->widgetScriptSent = true;

        return $this->fetch('module:kingavis/views/templates/hook/widget.tpl');
    }

    /**
     * {widget name='kingavis' reviews=3} in a theme template.
     *
     * @param string|null $hookName
     * @param array $configuration
     *
     * @return string
     */
    public function renderWidget($hookName, array $configuration)
    {
        return $this->widgetHtml(isset($configuration['reviews']) ? (int) $configuration['reviews'] : null);
    }

    /**
     * @param string|null $hookName
     * @param array $configuration
     *
     * @return array
     */
    public function getWidgetVariables($hookName, array $configuration)
    {
        $settings = KingAvisSettings::forShop();

        return [
            'slug' => $settings->slug,
            'url' => $settings->url,
            'reviews' => isset($configuration['reviews']) ? (int) $configuration['reviews'] : (int) Configuration::get(KingAvisSettings::WIDGET_REVIEWS),
        ];
    }

    /* ------------------------------------------------------------------ configuration page */

    /**
     * The configuration page. Each section is its own <form> (HelperForm puts a hidden input
     * named after its submit_action in every form it renders), and the buttons that share a
     * form with a section's "Save" are tested before it.
     *
     * @return string
     */
    public function getContent()
    {
        $output = '';
        if (Tools::isSubmit('submitKingavisTest')) {
            $output .= $this->testEventMessages();
        } elseif (Tools::isSubmit('submitKingavisSendNow')) {
            $counts = $this->outbox()->deliverDue(self::SEND_BATCH, 20);
            $output .= $this->displayConfirmation($this->trans('%1$d webhooks delivered, %2$d refused, %3$d waiting.', [
                $counts[KingAvisOutbox::DELIVERED], $counts[KingAvisOutbox::REJECTED], $this->outbox()->countPending(),
            ], 'Modules.Kingavis.Admin'));
        } elseif (Tools::isSubmit('submitKingavisRetry')) {
            $requeued = $this->outbox()->retryGivenUp();
            $counts = $this->outbox()->deliverDue(self::SEND_BATCH, 20);
            $output .= $this->displayConfirmation($this->trans('%1$d webhooks queued again: %2$d delivered, %3$d refused, %4$d waiting.', [
                $requeued, $counts[KingAvisOutbox::DELIVERED], $counts[KingAvisOutbox::REJECTED], $this->outbox()->countPending(),
            ], 'Modules.Kingavis.Admin'));
        } elseif (Tools::isSubmit('submitKingavisConnection')) {
            $output .= $this->saveConnection();
        } elseif (Tools::isSubmit('submitKingavisDisplay')) {
            $output .= $this->saveDisplay();
        } elseif (Tools::isSubmit('submitKingavisBackfill')) {
            $output .= $this->runBackfill();
        }

        return $output . $this->renderStatus() . $this->renderForms();
    }

    /**
     * @return string
     */
    private function testEventMessages()
    {
        $results = $this->sendTestEvent();
        if (!$results) {
            return $this->displayError($this->trans('Save the King-Avis address, shop key and webhook secret first.', [], 'Modules.Kingavis.Admin'));
        }
        $output = '';
        foreach ($results as $result) {
            $message = $result['status']
                ? $this->trans('King-Avis answered %d: %s', [$result['status'], $result['detail']], 'Modules.Kingavis.Admin')
                : $this->trans('King-Avis could not be reached: %s', [$result['detail']], 'Modules.Kingavis.Admin');
            if (count($results) > 1) {
                $message = htmlspecialchars($result['shop'], ENT_NOQUOTES, 'UTF-8') . ' — ' . $message;
            }
            $output .= $result['ok'] ? $this->displayConfirmation($message) : $this->displayError($message);
        }

        return $output;
    }

    /**
     * @return string
     */
    private function runBackfill()
    {
        $days = Tools::getValue('KINGAVIS_BACKFILL_DAYS');
        if (!is_numeric($days) || (int) $days < 1 || (int) $days > 365 || (string) (int) $days !== trim((string) $days)) {
            return $this->displayError($this->trans('The number of days must be a whole number from 1 to 365.', [], 'Modules.Kingavis.Admin'));
        }
        if (!KingAvisSettings::configured(KingAvisSettings::contextShopIds())) {
            return $this->displayError($this->trans('Save the King-Avis address, shop key and webhook secret first.', [], 'Modules.Kingavis.Admin'));
        }
        $counts = $this->backfill((int) $days);

        return $this->displayConfirmation($this->trans(
            '%1$d orders found: %2$d queued now, %3$d already sent before, %4$d left for the next click. %5$d webhooks delivered, %6$d refused, %7$d waiting.',
            [$counts['orders'], $counts['queued'], $counts['known'], $counts['left'], $counts['delivered'], $counts['rejected'], $counts['pending']],
            'Modules.Kingavis.Admin'
        ));
    }

    /**
     * Validates and saves the connection settings; nothing is saved when one is wrong.
     *
     * @return string messages
     */
    private function saveConnection()
    {
        $url = rtrim(trim((string) Tools::getValue(KingAvisSettings::URL)), '/');
        $key = trim((string) Tools::getValue(KingAvisSettings::SHOP_KEY));
        $secret = trim((string) Tools::getValue(KingAvisSettings::SECRET));
        $mode = (string) Tools::getValue(KingAvisSettings::CONSENT_MODE);
        $slugInput = trim((string) Tools::getValue(KingAvisSettings::SLUG));
        $slug = KingAvisSettings::normalizeSlug($slugInput);
        $errors = [];
        if (!KingAvisSettings::isValidUrl($url)) {
            $errors[] = $this->trans('The King-Avis address must be an absolute http:// or https:// address, such as https://avis.example.com.', [], 'Modules.Kingavis.Admin');
        }
        if (!KingAvisSettings::isValidShopKey($key)) {
            $errors[] = $this->trans('The shop key is the "key" King-Avis gave you (letters, digits, _ and -).', [], 'Modules.Kingavis.Admin');
        }
        if ($secret === '' && !KingAvisSigner::isValidSecret((string) Configuration::get(KingAvisSettings::SECRET))) {
            $errors[] = $this->trans('Enter the webhook secret King-Avis gave you (it starts with whsec_).', [], 'Modules.Kingavis.Admin');
        } elseif ($secret !== '' && !KingAvisSigner::isValidSecret($secret)) {
            $errors[] = $this->trans('The webhook secret must start with whsec_ followed by the base64 key King-Avis gave you.', [], 'Modules.Kingavis.Admin');
        }
        if (!in_array($mode, [KingAvisSettings::CONSENT_ALL, KingAvisSettings::CONSENT_CHECKOUT], true)) {
            $errors[] = $this->trans('Choose whom King-Avis may ask for a review.', [], 'Modules.Kingavis.Admin');
        }
        if ($slugInput !== '' && $slug === '') {
            $errors[] = $this->trans('The public review page is its address (…/avis/your-shop) or its last part.', [], 'Modules.Kingavis.Admin');
        }
        if ($errors) {
            return $this->displayError(implode('<br>', $errors));
        }
        Configuration::updateValue(KingAvisSettings::URL, $url);
        Configuration::updateValue(KingAvisSettings::SHOP_KEY, $key);
        if ($secret !== '') {
            Configuration::updateValue(KingAvisSettings::SECRET, $secret);
        }
        Configuration::updateValue(KingAvisSettings::CONSENT_MODE, $mode);
        Configuration::updateValue(KingAvisSettings::SLUG, $slug);
        Configuration::updateGlobalValue(KingAvisOutbox::CONFIG_PAUSE, 0);
        $requeued = $this->outbox()->requeueRefusedCredentials();
        $this->syncOrderStates(KingAvisSettings::contextShopIds());
        $message = $this->trans('Settings saved.', [], 'Modules.Kingavis.Admin');
        if ($requeued) {
            $message .= ' ' . $this->trans('%d webhooks refused with the previous settings will be sent again.', [$requeued], 'Modules.Kingavis.Admin');
        }

        return $this->displayConfirmation($message);
    }

    /**
     * @return string messages
     */
    private function saveDisplay()
    {
        $page = (string) Tools::getValue(KingAvisSettings::WIDGET_PAGE);
        $reviews = Tools::getValue(KingAvisSettings::WIDGET_REVIEWS);
        $idCms = (int) Tools::getValue(KingAvisSettings::WIDGET_CMS);
        $errors = [];
        if (!in_array($page, [KingAvisSettings::WIDGET_NONE, KingAvisSettings::WIDGET_HOME, KingAvisSettings::WIDGET_PRODUCT, KingAvisSettings::WIDGET_CMS_PAGE], true)) {
            $errors[] = $this->trans('Choose where the widget is shown.', [], 'Modules.Kingavis.Admin');
        }
        if (!is_numeric($reviews) || (int) $reviews < 0 || (int) $reviews > 20) {
            $errors[] = $this->trans('The number of reviews in the widget must be from 0 to 20.', [], 'Modules.Kingavis.Admin');
        }
        if ($page === KingAvisSettings::WIDGET_CMS_PAGE && $idCms <= 0) {
            $errors[] = $this->trans('Choose the page that shows the widget.', [], 'Modules.Kingavis.Admin');
        }
        if ($errors) {
            return $this->displayError(implode('<br>', $errors));
        }
        Configuration::updateValue(KingAvisSettings::BADGE_FOOTER, Tools::getValue(KingAvisSettings::BADGE_FOOTER) ? 1 : 0);
        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, $page);
        Configuration::updateValue(KingAvisSettings::WIDGET_CMS, $idCms);
        Configuration::updateValue(KingAvisSettings::WIDGET_REVIEWS, (int) $reviews);
        foreach ([KingAvisSettings::PRODUCT_STARS, KingAvisSettings::PRODUCT_REVIEWS, KingAvisSettings::LIST_STARS] as $key) {
            Configuration::updateValue($key, Tools::getValue($key) ? 1 : 0);
        }

        return $this->displayConfirmation($this->trans('Settings saved.', [], 'Modules.Kingavis.Admin'));
    }

    /**
     * The delivery state: waiting and given-up webhooks, the last ones, the cron address.
     *
     * @return string
     */
    private function renderStatus()
    {
        $outbox = $this->outbox();
        $this->context->smarty->assign([
            'kingavis_pending' => $outbox->countPending(),
            'kingavis_given_up' => $outbox->givenUp(20),
            'kingavis_given_up_count' => $outbox->countGivenUp(),
            'kingavis_latest' => $outbox->latest(10),
            'kingavis_cron_url' => $this->context->link->getModuleLink($this->name, 'cron', ['token' => (string) Configuration::getGlobalValue(KingAvisSettings::CRON_TOKEN)]),
            'kingavis_action' => AdminController::$currentIndex . '&configure=' . $this->name . '&token=' . Tools::getAdminTokenLite('AdminModules'),
        ]);

        return $this->display(__FILE__, 'views/templates/admin/status.tpl');
    }

    /**
     * @return string
     */
    private function renderForms()
    {
        $idLang = (int) Configuration::get('PS_LANG_DEFAULT');
        $savedSecret = (string) Configuration::get(KingAvisSettings::SECRET);
        $cmsPages = [];
        foreach (CMS::getCMSPages($idLang, null, true) ?: [] as $page) {
            $cmsPages[] = ['id' => (int) $page['id_cms'], 'name' => $page['meta_title']];
        }
        $yesNo = [
            ['id' => 'active_on', 'value' => 1, 'label' => $this->trans('Yes', [], 'Modules.Kingavis.Admin')],
            ['id' => 'active_off', 'value' => 0, 'label' => $this->trans('No', [], 'Modules.Kingavis.Admin')],
        ];
        $connection = ['form' => [
            'legend' => ['title' => $this->trans('Connection to King-Avis', [], 'Modules.Kingavis.Admin'), 'icon' => 'icon-cogs'],
            'input' => [
                ['type' => 'text', 'name' => KingAvisSettings::URL, 'label' => $this->trans('King-Avis address', [], 'Modules.Kingavis.Admin'), 'required' => true,
                    'desc' => $this->trans('For example https://avis.example.com', [], 'Modules.Kingavis.Admin')],
                ['type' => 'text', 'name' => KingAvisSettings::SHOP_KEY, 'label' => $this->trans('Shop key', [], 'Modules.Kingavis.Admin'), 'required' => true],
                ['type' => 'password', 'name' => KingAvisSettings::SECRET, 'label' => $this->trans('Webhook secret', [], 'Modules.Kingavis.Admin'), 'required' => $savedSecret === '',
                    'desc' => $savedSecret === '' ? $this->trans('Starts with whsec_. King-Avis shows it once, when the shop is created.', [], 'Modules.Kingavis.Admin')
                        : $this->trans('A secret is saved (%s). Leave empty to keep it.', [KingAvisSettings::maskSecret($savedSecret)], 'Modules.Kingavis.Admin')],
                ['type' => 'radio', 'name' => KingAvisSettings::CONSENT_MODE, 'label' => $this->trans('Ask for a review', [], 'Modules.Kingavis.Admin'), 'values' => [
                    ['id' => 'kingavis_consent_all', 'value' => KingAvisSettings::CONSENT_ALL, 'label' => $this->trans('every customer', [], 'Modules.Kingavis.Admin')],
                    ['id' => 'kingavis_consent_checkout', 'value' => KingAvisSettings::CONSENT_CHECKOUT,
                        'label' => $this->trans('only customers who ticked the review request box when ordering', [], 'Modules.Kingavis.Admin')],
                ]],
                ['type' => 'text', 'name' => KingAvisSettings::SLUG, 'label' => $this->trans('Public review page', [], 'Modules.Kingavis.Admin'),
                    'desc' => $this->trans('Its address (…/avis/your-shop) or its last part; needed for the badge and the widget.', [], 'Modules.Kingavis.Admin')],
            ],
            'submit' => ['title' => $this->trans('Save', [], 'Modules.Kingavis.Admin'), 'name' => 'submitKingavisConnection'],
            'buttons' => [['title' => $this->trans('Send a test event', [], 'Modules.Kingavis.Admin'), 'name' => 'submitKingavisTest', 'type' => 'submit', 'icon' => 'process-icon-refresh']],
        ]];
        $display = ['form' => [
            'legend' => ['title' => $this->trans('Reviews on the shop', [], 'Modules.Kingavis.Admin'), 'icon' => 'icon-star'],
            'input' => [
                ['type' => 'switch', 'name' => KingAvisSettings::BADGE_FOOTER, 'label' => $this->trans('Show the badge in the footer', [], 'Modules.Kingavis.Admin'), 'is_bool' => true, 'values' => $yesNo],
                ['type' => 'select', 'name' => KingAvisSettings::WIDGET_PAGE, 'label' => $this->trans('Show the reviews widget on', [], 'Modules.Kingavis.Admin'), 'options' => ['query' => [
                    ['id' => KingAvisSettings::WIDGET_NONE, 'name' => $this->trans('no page', [], 'Modules.Kingavis.Admin')],
                    ['id' => KingAvisSettings::WIDGET_HOME, 'name' => $this->trans('the home page', [], 'Modules.Kingavis.Admin')],
                    ['id' => KingAvisSettings::WIDGET_PRODUCT, 'name' => $this->trans('the product pages', [], 'Modules.Kingavis.Admin')],
                    ['id' => KingAvisSettings::WIDGET_CMS_PAGE, 'name' => $this->trans('the content page chosen below', [], 'Modules.Kingavis.Admin')],
                ], 'id' => 'id', 'name' => 'name']],
                ['type' => 'select', 'name' => KingAvisSettings::WIDGET_CMS, 'label' => $this->trans('Content page', [], 'Modules.Kingavis.Admin'),
                    'options' => ['query' => $cmsPages, 'id' => 'id', 'name' => 'name']],
                ['type' => 'text', 'name' => KingAvisSettings::WIDGET_REVIEWS, 'label' => $this->trans('Latest reviews in the widget', [], 'Modules.Kingavis.Admin'), 'class' => 'fixed-width-sm'],
                ['type' => 'switch', 'name' => KingAvisSettings::PRODUCT_STARS, 'label' => $this->trans('Product stars on the product page', [], 'Modules.Kingavis.Admin'), 'is_bool' => true, 'values' => $yesNo],
                ['type' => 'switch', 'name' => KingAvisSettings::PRODUCT_REVIEWS, 'label' => $this->trans('Product reviews under the product, with its Google rich results data', [], 'Modules.Kingavis.Admin'), 'is_bool' => true, 'values' => $yesNo],
                ['type' => 'switch', 'name' => KingAvisSettings::LIST_STARS, 'label' => $this->trans('Product stars in the product lists', [], 'Modules.Kingavis.Admin'), 'is_bool' => true, 'values' => $yesNo],
            ],
            'submit' => ['title' => $this->trans('Save', [], 'Modules.Kingavis.Admin'), 'name' => 'submitKingavisDisplay'],
        ]];
        $backfill = ['form' => [
            'legend' => ['title' => $this->trans('Orders placed before the module', [], 'Modules.Kingavis.Admin'), 'icon' => 'icon-refresh'],
            'description' => $this->trans('Sends King-Avis the current status of the orders updated in the last days, so delivered orders are not forgotten. Click again to continue: nothing is sent twice.', [], 'Modules.Kingavis.Admin'),
            'input' => [
                ['type' => 'text', 'name' => 'KINGAVIS_BACKFILL_DAYS', 'label' => $this->trans('Orders updated in the last (days)', [], 'Modules.Kingavis.Admin'), 'class' => 'fixed-width-sm'],
            ],
            'submit' => ['title' => $this->trans('Send these orders', [], 'Modules.Kingavis.Admin'), 'name' => 'submitKingavisBackfill'],
            'buttons' => [['title' => $this->trans('Send waiting webhooks now', [], 'Modules.Kingavis.Admin'), 'name' => 'submitKingavisSendNow', 'type' => 'submit', 'icon' => 'process-icon-upload']],
        ]];
        $values = [
            KingAvisSettings::URL => Tools::getValue(KingAvisSettings::URL, Configuration::get(KingAvisSettings::URL)),
            KingAvisSettings::SHOP_KEY => Tools::getValue(KingAvisSettings::SHOP_KEY, Configuration::get(KingAvisSettings::SHOP_KEY)),
            KingAvisSettings::SECRET => '',
            KingAvisSettings::CONSENT_MODE => Configuration::get(KingAvisSettings::CONSENT_MODE) ?: KingAvisSettings::CONSENT_ALL,
            KingAvisSettings::SLUG => Configuration::get(KingAvisSettings::SLUG),
            KingAvisSettings::BADGE_FOOTER => (int) Configuration::get(KingAvisSettings::BADGE_FOOTER),
            KingAvisSettings::WIDGET_PAGE => Configuration::get(KingAvisSettings::WIDGET_PAGE) ?: KingAvisSettings::WIDGET_NONE,
            KingAvisSettings::WIDGET_CMS => (int) Configuration::get(KingAvisSettings::WIDGET_CMS),
            KingAvisSettings::WIDGET_REVIEWS => (int) Configuration::get(KingAvisSettings::WIDGET_REVIEWS),
            KingAvisSettings::PRODUCT_STARS => (int) Configuration::get(KingAvisSettings::PRODUCT_STARS),
            KingAvisSettings::PRODUCT_REVIEWS => (int) Configuration::get(KingAvisSettings::PRODUCT_REVIEWS),
            KingAvisSettings::LIST_STARS => (int) Configuration::get(KingAvisSettings::LIST_STARS),
            'KINGAVIS_BACKFILL_DAYS' => Tools::getValue('KINGAVIS_BACKFILL_DAYS', 30),
        ];

        return $this->helperForm('submitKingavisConnection', $values)->generateForm([$connection])
            . $this->helperForm('submitKingavisDisplay', $values)->generateForm([$display])
            . $this->helperForm('submitKingavisBackfill', $values)->generateForm([$backfill]);
    }

    /**
     * One HelperForm: one <form> whose hidden input names its own section's button.
     *
     * @param string $submitAction
     * @param array $values
     *
     * @return HelperForm
     */
    private function helperForm($submitAction, array $values)
    {
        $helper = new HelperForm();
        $helper->module = $this;
        $helper->name_controller = $this->name;
        $helper->table = $this->table;
        $helper->identifier = $this->identifier;
        $helper->token = Tools::getAdminTokenLite('AdminModules');
        $helper->currentIndex = AdminController::$currentIndex . '&configure=' . $this->name;
        $helper->default_form_language = (int) Configuration::get('PS_LANG_DEFAULT');
        $helper->allow_employee_form_lang = (int) Configuration::get('PS_BO_ALLOW_EMPLOYEE_FORM_LANG');
        $helper->show_toolbar = false;
        $helper->submit_action = $submitAction;
        $helper->fields_value = $values;

        return $helper;
    }

    /**
     * Logs a failure for the merchant without personal data (no message text, no address).
     *
     * @param string $where
     * @param Throwable $e
     * @param int|null $idOrder
     *
     * @return void
     */
    private function logFailure($where, $e, $idOrder)
    {
        try {
            PrestaShopLogger::addLog(
                'King-Avis: ' . $where . ' not recorded (' . get_class($e) . ' in ' . basename($e->getFile()) . ':' . $e->getLine() . ')',
                3, null, $idOrder ? 'Order' : null, $idOrder ?: null, true
            );
        } catch (Throwable $ignored) {
            // Logging must never break the shop either.
        }
    }
}
