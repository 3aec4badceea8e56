<?php
/**
 * King-Avis for PrestaShop: sends King-Avis the shop's order status changes, so that customers
 * are asked for a review at the right moment, and shows the shop's reviews on its pages.
 *
 * @author    King-Avis
 * @copyright King-Avis
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
 * Also a widget: a theme can place the reviews widget anywhere with {widget name='kingavis'}
 * (optionally reviews=N).
 */
class KingAvis extends Module implements WidgetInterface
{
    /** Orders queued per click of the backfill button. */
    const BACKFILL_BATCH = 200;
    /** Webhooks sent at once after a backfill or from the "send now" button. */
    const SEND_BATCH = 50;
    /** Older due webhooks sent along with a successful live one. */
    const PIGGYBACK = 3;
    const CONSENT_FIELD = 'kingavis_review_consent';

    const HOOKS = [
        'actionOrderStatusPostUpdate',
        'actionValidateOrder',
        'registerGDPRConsent',
        'actionDeleteGDPRCustomer',
        'actionExportGDPRData',
        'displayFooter',
        'displayHome',
        'displayFooterProduct',
        'additionalCustomerFormFields',
        'actionCustomerAccountAdd',
        'actionCustomerAccountUpdate',
    ];

    /** @var bool whether this page already loads widget.js */
    private $widgetScriptSent = false;
    /** @var KingAvisTransport|null */
    private $transport;
    /** @var callable|null */
    private $clock;

    public function __construct()
    {
        $this->name = 'kingavis';
        $this->tab = 'advertising_marketing';
        $this->version = KingAvisEvents::MODULE_VERSION;
        $this->author = 'King-Avis';
        $this->need_instance = 0;
        $this->ps_versions_compliancy = ['min' => '8.0.0', 'max' => _PS_VERSION_];
        $this->bootstrap = true;

        parent::__construct();

        $this->displayName = $this->l('King-Avis verified reviews');
        $this->description = $this->l('Asks your customers for a review when their order is delivered, and shows your reviews on your shop.');
        $this->confirmUninstall = $this->l('Orders not yet sent to King-Avis will be forgotten. Uninstall?');
    }

    /**
     * For tests and for shops that need another HTTP client.
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
     * @param callable $clock returns the current Unix time
     *
     * @return void
     */
    public function setClock($clock)
    {
        $this->clock = $clock;
    }

    /**
     * @return int
     */
    public function now()
    {
        return $this->clock ? (int) call_user_func($this->clock) : time();
    }

    /**
     * @return KingAvisOutbox
     */
    public function outbox()
    {
        return new KingAvisOutbox(Db::getInstance(), $this->transport ?: new KingAvisCurlTransport(), $this->clock);
    }

    public function install()
    {
        if (!parent::install()) {
            return false;
        }
        foreach (KingAvisOutbox::installSql() as $sql) {
            if (!Db::getInstance()->execute($sql)) {
                return false;
            }
        }
        foreach (self::HOOKS as $hook) {
            if (!$this->registerHook($hook)) {
                return false;
            }
        }
        if (!Configuration::get(KingAvisSettings::CRON_TOKEN)) {
            Configuration::updateGlobalValue(KingAvisSettings::CRON_TOKEN, bin2hex(random_bytes(16)));
        }
        Configuration::updateValue(KingAvisSettings::CONSENT_MODE, KingAvisSettings::CONSENT_ALL);
        Configuration::updateValue(KingAvisSettings::BADGE_FOOTER, 0);
        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, KingAvisSettings::WIDGET_NONE);
        Configuration::updateValue(KingAvisSettings::WIDGET_REVIEWS, 5);

        return true;
    }

    public function uninstall()
    {
        foreach (KingAvisOutbox::uninstallSql() as $sql) {
            Db::getInstance()->execute($sql);
        }
        foreach ([
            KingAvisSettings::URL, KingAvisSettings::SHOP_KEY, KingAvisSettings::SECRET,
            KingAvisSettings::CONSENT_MODE, KingAvisSettings::SLUG, KingAvisSettings::BADGE_FOOTER,
            KingAvisSettings::WIDGET_PAGE, KingAvisSettings::WIDGET_CMS, KingAvisSettings::WIDGET_REVIEWS,
            KingAvisSettings::CRON_TOKEN, KingAvisOutbox::CONFIG_PAUSE,
        ] as $key) {
            Configuration::deleteByName($key);
        }

        return parent::uninstall();
    }

    /* ------------------------------------------------------------------ order status changes */

    /**
     * An order's status changed (also fired for a new order's first status).
     *
     * @param array $params newOrderStatus (OrderState), oldOrderStatus (OrderState|null), id_order
     *
     * @return void
     */
    public function hookActionOrderStatusPostUpdate($params)
    {
        try {
            $new = isset($params['newOrderStatus']) ? $params['newOrderStatus'] : null;
            $old = isset($params['oldOrderStatus']) ? $params['oldOrderStatus'] : null;
            if (!is_object($new) || empty($params['id_order'])) {
                return;
            }
            $idNew = (int) $new->id;
            $idOld = is_object($old) ? (int) $old->id : 0;
            $now = $this->now();
            // A first status has one id whichever hook sees it first (actionValidateOrder too).
            $change = $idOld > 0 ? 'c' . $idOld . '>' . $idNew . '@' . $now : 'first';
            $this->recordChange(new Order((int) $params['id_order']), $idNew, $idOld, $change, $now);
        } catch (Throwable $e) {
            $this->logFailure('status change', $e, isset($params['id_order']) ? (int) $params['id_order'] : null);
        }
    }

    /**
     * A new order: its first status.
     *
     * @param array $params order (Order), orderStatus (OrderState), cart, customer, currency
     *
     * @return void
     */
    public function hookActionValidateOrder($params)
    {
        try {
            $order = isset($params['order']) ? $params['order'] : null;
            $state = isset($params['orderStatus']) ? $params['orderStatus'] : null;
            if (!is_object($order) || !is_object($state)) {
                return;
            }
            $this->recordChange($order, (int) $state->id, 0, 'first', $this->now());
        } catch (Throwable $e) {
            $this->logFailure('new order', $e, isset($order->id) ? (int) $order->id : null);
        }
    }

    /**
     * Queue the order.status_changed webhook of one change and try to send it at once.
     *
     * @param Order $order
     * @param int $idState
     * @param int $idPrevious
     * @param string $change what identifies this change (see KingAvisEvents::webhookId)
     * @param int $when Unix time of the change
     * @param bool $sendNow
     *
     * @return int the queued row, 0 when nothing was queued
     */
    public function recordChange(Order $order, $idState, $idPrevious, $change, $when, $sendNow = true)
    {
        if (!Validate::isLoadedObject($order) || (int) $idState <= 0) {
            return 0;
        }
        $settings = KingAvisSettings::forShop((int) $order->id_shop ?: null);
        if (!$settings->isComplete()) {
            return 0;
        }
        $zone = KingAvisEvents::shopTimeZone();
        $changedAt = is_int($when) ? KingAvisEvents::isoTime($when, $zone) : KingAvisEvents::isoDate($when, $zone);
        if ($changedAt === null) {
            $changedAt = KingAvisEvents::isoTime($this->now(), $zone);
        }
        $outbox = $this->outbox();
        $body = KingAvisEvents::orderStatusChanged(
            $order, $idState, $idPrevious, $changedAt, $this->consentFor($outbox, $settings, (int) $order->id_customer), $this->now()
        );
        if ($body === null) {
            return 0;
        }
        $webhookId = KingAvisEvents::webhookId($settings->shopKey, KingAvisOutbox::KIND_ORDER_STATUS, [(int) $order->id, (int) $idState, $change]);
        $id = $outbox->enqueue(
            (int) $order->id_shop, KingAvisOutbox::KIND_ORDER_STATUS, $webhookId, KingAvisEvents::encode($body),
            (int) $order->id, (int) $idState, (int) $order->id_customer
        );
        if ($id && $sendNow && !$outbox->isPaused()) {
            $result = $outbox->deliver($id);
            if ($result !== null && $result['state'] === KingAvisOutbox::DELIVERED) {
                // King-Avis answers: also send a few of the webhooks that failed before.
                $outbox->deliverDue(self::PIGGYBACK, 5);
            }
        }

        return $id;
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
     * The cron task (controllers/front/cron.php): send what is due, forget what is old.
     *
     * @return array<string, int>
     */
    public function runCron()
    {
        $outbox = $this->outbox();
        $counts = $outbox->deliverDue(200, 25);
        $outbox->purge();
        $counts['remaining'] = $outbox->countPending();

        return $counts;
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
        $to = new DateTime('@' . $this->now());
        $to->setTimezone($zone);
        $from = clone $to;
        $from->modify('-' . $days . ' days');
        $ids = Order::getOrdersIdByDate($from->format('Y-m-d H:i:s'), $to->format('Y-m-d H:i:s'));
        sort($ids);
        $outbox = $this->outbox();
        $idLang = (int) Configuration::get('PS_LANG_DEFAULT');
        $counts = ['orders' => count($ids), 'queued' => 0, 'known' => 0, 'left' => 0];
        foreach ($ids as $idOrder) {
            if ($counts['queued'] >= self::BACKFILL_BATCH) {
                ++$counts['left'];
                continue;
            }
            $order = new Order((int) $idOrder);
            $state = (int) $order->current_state;
            if ($state <= 0) {
                continue;
            }
            if ($outbox->lastQueuedState((int) $idOrder) === $state) {
                ++$counts['known'];
                continue;
            }
            $history = $order->getHistory($idLang, $state);
            $row = $history ? reset($history) : null;
            $change = $row ? 'h' . (int) $row['id_order_history'] : 'now' . $state;
            $when = $row ? (string) $row['date_add'] : $this->now();
            if ($this->recordChange($order, $state, 0, $change, $when, false)) {
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

    /**
     * Send the test event with the saved settings and describe King-Avis's answer.
     *
     * @return array ['configured' => bool, 'ok' => bool, 'status' => int, 'detail' => string]
     */
    public function sendTestEvent()
    {
        $settings = KingAvisSettings::forShop();
        if (!$settings->isComplete()) {
            return ['configured' => false, 'ok' => false, 'status' => 0, 'detail' => $this->l('Save the King-Avis address, shop key and webhook secret first.')];
        }
        $email = (string) Configuration::get('PS_SHOP_EMAIL');
        if (!Validate::isEmail($email) && isset($this->context->employee->email)) {
            $email = (string) $this->context->employee->email;
        }
        $body = KingAvisEvents::encode(KingAvisEvents::testEvent($email, $this->now()));
        $webhookId = 'msg_ps_test_' . bin2hex(random_bytes(12));
        $headers = KingAvisSigner::headers($settings->secret, $webhookId, $body, $this->now());
        $headers['Content-Type'] = 'application/json';
        $transport = $this->transport ?: new KingAvisCurlTransport();
        $response = $transport->post($settings->endpoint(KingAvisOutbox::KIND_ORDER_STATUS), $headers, $body);

        return [
            'configured' => true,
            'ok' => KingAvisOutbox::classify($response) === KingAvisOutbox::DELIVERED,
            'status' => $response->status,
            'detail' => KingAvisOutbox::describe($response),
        ];
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
     * A customer's data is erased in the shop: drop it from the module's tables and ask
     * King-Avis to erase it too (queued and retried like every webhook).
     *
     * @param array $customer id, email (psgdpr's hook parameters)
     *
     * @return string JSON: true, or an error message
     */
    public function hookActionDeleteGDPRCustomer($customer)
    {
        try {
            $email = isset($customer['email']) ? trim((string) $customer['email']) : '';
            if ($email === '' || !Validate::isEmail($email)) {
                return json_encode($this->l('King-Avis: no valid email address to erase.'));
            }
            $idCustomer = isset($customer['id']) ? (int) $customer['id'] : (isset($customer['id_customer']) ? (int) $customer['id_customer'] : 0);
            $outbox = $this->outbox();
            $outbox->forgetCustomer($idCustomer);
            $settings = KingAvisSettings::forShop();
            if (!$settings->isComplete()) {
                return json_encode(true);
            }
            $now = $this->now();
            $body = KingAvisEvents::encode(KingAvisEvents::erasureRequested($email, $now));
            $webhookId = KingAvisEvents::webhookId($settings->shopKey, KingAvisOutbox::KIND_ERASURE, [Tools::strtolower($email), $now, bin2hex(random_bytes(4))]);
            $idShop = isset($this->context->shop->id) ? (int) $this->context->shop->id : 0;
            $id = $outbox->enqueue($idShop, KingAvisOutbox::KIND_ERASURE, $webhookId, $body, 0, 0, 0);
            if ($id && !$outbox->isPaused()) {
                $outbox->deliver($id);
            }

            return json_encode(true);
        } catch (Throwable $e) {
            $this->logFailure('erasure', $e, null);

            return json_encode($this->l('King-Avis: the erasure request could not be recorded.'));
        }
    }

    /**
     * What King-Avis holds about a customer, and where to ask for it.
     *
     * @param array $customer id, email
     *
     * @return string JSON
     */
    public function hookActionExportGDPRData($customer)
    {
        $email = isset($customer['email']) ? (string) $customer['email'] : '';
        if ($email === '' || !Validate::isEmail($email)) {
            return json_encode($this->l('King-Avis: no valid email address.'));
        }
        $settings = KingAvisSettings::forShop();
        $idCustomer = isset($customer['id']) ? (int) $customer['id'] : 0;
        $consent = $this->outbox()->consentOf($idCustomer);

        return json_encode([[
            $this->l('Service') => 'King-Avis',
            $this->l('Address of the service') => $settings->url,
            $this->l('Data held') => $this->l('Your email address, first and last name and language; the reference, dates and statuses of your orders; the review requests sent to you; the reviews you wrote.'),
            $this->l('Purpose') => $this->l('Asking for your review of your orders and publishing the reviews you write.'),
            $this->l('Review request consent') => $consent === null ? $this->l('not asked') : ($consent ? $this->l('given') : $this->l('refused')),
            $this->l('Where to ask') => $this->l('Ask this shop (its contact page): it forwards your request to King-Avis. Erasing your data in this shop erases it in King-Avis too. Every review request email also has a link to unsubscribe and to withdraw your review.'),
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
            ->setLabel($this->l('I agree to receive one email asking for my review of my order'))
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
        return Configuration::get(KingAvisSettings::WIDGET_PAGE) === KingAvisSettings::WIDGET_PRODUCT ? $this->widgetHtml() : '';
    }

    /**
     * The King-Avis badge (CONTRACT 8: /api/v1/shops/<slug>/badge.svg) linking to the public page.
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

        return '<div class="kingavis-badge"><a href="' . $this->escape($settings->url . '/avis/' . $slug)
            . '" target="_blank" rel="noopener"><img src="' . $this->escape($settings->url . '/api/v1/shops/' . $slug . '/badge.svg')
            . '" alt="' . $this->escape($this->l('Verified customer reviews by King-Avis')) . '" loading="lazy"></a></div>';
    }

    /**
     * The King-Avis widget (CONTRACT 8: /widget.js fills <div data-kingavis-shop="<slug>">).
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
        $html = '<div class="kingavis-widget" data-kingavis-shop="' . $this->escape($settings->slug) . '"';
        if ($reviews > 0) {
            $html .= ' data-kingavis-reviews="' . $reviews . '"';
        }
        $iso = isset($this->context->language->iso_code) ? (string) $this->context->language->iso_code : '';
        if (in_array($iso, ['fr', 'en'], true)) {
            $html .= ' data-lang="' . $iso . '"';
        }

        $html .= '></div>';
        if (!$this->widgetScriptSent) {
            // One script fills every widget of the page.
            $this->widgetScriptSent = true;
            $html .= '<script src="' . $this->escape($settings->url . '/widget.js') . '" async></script>';
        }

        return $html;
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

    /**
     * @param string $text
     *
     * @return string
     */
    private function escape($text)
    {
        return htmlspecialchars((string) $text, ENT_QUOTES, 'UTF-8');
    }

    /* ------------------------------------------------------------------ configuration page */

    public function getContent()
    {
        $output = '';
        if (Tools::isSubmit('submitKingavisConnection')) {
            $output .= $this->saveConnection();
        } elseif (Tools::isSubmit('submitKingavisTest')) {
            $result = $this->sendTestEvent();
            $message = !$result['configured'] ? $result['detail'] : ($result['status']
                ? sprintf($this->l('King-Avis answered %d: %s'), $result['status'], $result['detail'])
                : sprintf($this->l('King-Avis could not be reached: %s'), $result['detail']));
            $output .= $result['ok'] ? $this->displayConfirmation($this->escape($message)) : $this->displayError($this->escape($message));
        } elseif (Tools::isSubmit('submitKingavisDisplay')) {
            $output .= $this->saveDisplay();
        } elseif (Tools::isSubmit('submitKingavisBackfill')) {
            $days = Tools::getValue('KINGAVIS_BACKFILL_DAYS');
            if (!is_numeric($days) || (int) $days < 1 || (int) $days > 365 || (string) (int) $days !== trim((string) $days)) {
                $output .= $this->displayError($this->l('The number of days must be a whole number from 1 to 365.'));
            } elseif (!KingAvisSettings::forShop()->isComplete()) {
                $output .= $this->displayError($this->l('Save the King-Avis address, shop key and webhook secret first.'));
            } else {
                $counts = $this->backfill((int) $days);
                $message = sprintf(
                    $this->l('%1$d orders found: %2$d queued now, %3$d already sent before, %4$d left for the next click. %5$d webhooks delivered, %6$d refused, %7$d waiting.'),
                    $counts['orders'], $counts['queued'], $counts['known'], $counts['left'],
                    $counts['delivered'], $counts['rejected'], $counts['pending']
                );
                $output .= $this->displayConfirmation($this->escape($message));
            }
        } elseif (Tools::isSubmit('submitKingavisSendNow')) {
            $counts = $this->outbox()->deliverDue(self::SEND_BATCH, 20);
            $output .= $this->displayConfirmation($this->escape(sprintf(
                $this->l('%1$d webhooks delivered, %2$d refused, %3$d waiting.'),
                $counts[KingAvisOutbox::DELIVERED], $counts[KingAvisOutbox::REJECTED], $this->outbox()->countPending()
            )));
        }

        return $output . $this->renderStatus() . $this->renderForm();
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
            $errors[] = $this->l('The King-Avis address must be an absolute http:// or https:// address, such as https://avis.example.com.');
        }
        if (!KingAvisSettings::isValidShopKey($key)) {
            $errors[] = $this->l('The shop key is the "key" King-Avis gave you (letters, digits, _ and -).');
        }
        if ($secret === '' && !KingAvisSigner::isValidSecret((string) Configuration::get(KingAvisSettings::SECRET))) {
            $errors[] = $this->l('Enter the webhook secret King-Avis gave you (it starts with whsec_).');
        } elseif ($secret !== '' && !KingAvisSigner::isValidSecret($secret)) {
            $errors[] = $this->l('The webhook secret must start with whsec_ followed by the base64 key King-Avis gave you.');
        }
        if (!in_array($mode, [KingAvisSettings::CONSENT_ALL, KingAvisSettings::CONSENT_CHECKOUT], true)) {
            $errors[] = $this->l('Choose whom King-Avis may ask for a review.');
        }
        if ($slugInput !== '' && $slug === '') {
            $errors[] = $this->l('The public review page is its address (…/avis/your-shop) or its last part.');
        }
        if ($errors) {
            return $this->displayError(implode('<br>', array_map([$this, 'escape'], $errors)));
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
        $message = $this->l('Settings saved.');
        if ($requeued) {
            $message .= ' ' . sprintf($this->l('%d webhooks refused with the previous settings will be sent again.'), $requeued);
        }

        return $this->displayConfirmation($this->escape($message));
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
            $errors[] = $this->l('Choose where the widget is shown.');
        }
        if (!is_numeric($reviews) || (int) $reviews < 0 || (int) $reviews > 20) {
            $errors[] = $this->l('The number of reviews in the widget must be from 0 to 20.');
        }
        if ($page === KingAvisSettings::WIDGET_CMS_PAGE && $idCms <= 0) {
            $errors[] = $this->l('Choose the page that shows the widget.');
        }
        if ($errors) {
            return $this->displayError(implode('<br>', array_map([$this, 'escape'], $errors)));
        }
        Configuration::updateValue(KingAvisSettings::BADGE_FOOTER, Tools::getValue(KingAvisSettings::BADGE_FOOTER) ? 1 : 0);
        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, $page);
        Configuration::updateValue(KingAvisSettings::WIDGET_CMS, $idCms);
        Configuration::updateValue(KingAvisSettings::WIDGET_REVIEWS, (int) $reviews);

        return $this->displayConfirmation($this->l('Settings saved.'));
    }

    /**
     * The delivery state: waiting webhooks, the last ones, the cron address.
     *
     * @return string
     */
    private function renderStatus()
    {
        $outbox = $this->outbox();
        $cronUrl = $this->context->link->getModuleLink($this->name, 'cron', ['token' => (string) Configuration::getGlobalValue(KingAvisSettings::CRON_TOKEN)]);
        $html = '<div class="panel"><h3>' . $this->escape($this->l('Deliveries to King-Avis')) . '</h3>';
        $html .= '<p>' . $this->escape(sprintf($this->l('%d webhooks waiting to be delivered.'), $outbox->countPending())) . '</p>';
        $html .= '<p>' . $this->escape($this->l('Webhooks that fail are sent again on the next status changes and by this cron task (run it every 5 minutes):'))
            . '<br><code>' . $this->escape($cronUrl) . '</code></p>';
        $rows = $outbox->latest(10);
        if ($rows) {
            $html .= '<table class="table"><thead><tr><th>' . $this->escape($this->l('Date')) . '</th><th>' . $this->escape($this->l('Event'))
                . '</th><th>' . $this->escape($this->l('Order')) . '</th><th>' . $this->escape($this->l('State')) . '</th><th>'
                . $this->escape($this->l('Attempts')) . '</th><th>' . $this->escape($this->l('Last answer')) . '</th></tr></thead><tbody>';
            foreach ($rows as $row) {
                $answer = ((int) $row['last_status'] ? $row['last_status'] . ' ' : '') . $row['last_result'];
                $html .= '<tr><td>' . $this->escape($row['date_add']) . '</td><td>' . $this->escape($row['kind']) . '</td><td>'
                    . ((int) $row['id_order'] ?: '') . '</td><td>' . $this->escape($row['state']) . '</td><td>' . (int) $row['attempts']
                    . '</td><td>' . $this->escape($answer) . '</td></tr>';
            }
            $html .= '</tbody></table>';
        }

        return $html . '</div>';
    }

    /**
     * @return string
     */
    private function renderForm()
    {
        $idLang = (int) Configuration::get('PS_LANG_DEFAULT');
        $savedSecret = (string) Configuration::get(KingAvisSettings::SECRET);
        $cmsPages = [];
        foreach (CMS::getCMSPages($idLang, null, true) ?: [] as $page) {
            $cmsPages[] = ['id' => (int) $page['id_cms'], 'name' => $page['meta_title']];
        }
        $yesNo = [
            ['id' => 'active_on', 'value' => 1, 'label' => $this->l('Yes')],
            ['id' => 'active_off', 'value' => 0, 'label' => $this->l('No')],
        ];
        $forms = [];
        $forms[] = ['form' => [
            'legend' => ['title' => $this->l('Connection to King-Avis'), 'icon' => 'icon-cogs'],
            'input' => [
                ['type' => 'text', 'name' => KingAvisSettings::URL, 'label' => $this->l('King-Avis address'), 'required' => true,
                    'desc' => $this->l('For example https://avis.example.com')],
                ['type' => 'text', 'name' => KingAvisSettings::SHOP_KEY, 'label' => $this->l('Shop key'), 'required' => true],
                ['type' => 'password', 'name' => KingAvisSettings::SECRET, 'label' => $this->l('Webhook secret'), 'required' => $savedSecret === '',
                    'desc' => $savedSecret === '' ? $this->l('Starts with whsec_. King-Avis shows it once, when the shop is created.')
                        : sprintf($this->l('A secret is saved (%s). Leave empty to keep it.'), KingAvisSettings::maskSecret($savedSecret))],
                ['type' => 'radio', 'name' => KingAvisSettings::CONSENT_MODE, 'label' => $this->l('Ask for a review'), 'values' => [
                    ['id' => 'kingavis_consent_all', 'value' => KingAvisSettings::CONSENT_ALL, 'label' => $this->l('every customer')],
                    ['id' => 'kingavis_consent_checkout', 'value' => KingAvisSettings::CONSENT_CHECKOUT,
                        'label' => $this->l('only customers who ticked the review request box when ordering')],
                ]],
                ['type' => 'text', 'name' => KingAvisSettings::SLUG, 'label' => $this->l('Public review page'),
                    'desc' => $this->l('Its address (…/avis/your-shop) or its last part; needed for the badge and the widget.')],
            ],
            'submit' => ['title' => $this->l('Save'), 'name' => 'submitKingavisConnection'],
            'buttons' => [['title' => $this->l('Send a test event'), 'name' => 'submitKingavisTest', 'type' => 'submit', 'icon' => 'process-icon-refresh']],
        ]];
        $forms[] = ['form' => [
            'legend' => ['title' => $this->l('Reviews on the shop'), 'icon' => 'icon-star'],
            'input' => [
                ['type' => 'switch', 'name' => KingAvisSettings::BADGE_FOOTER, 'label' => $this->l('Show the badge in the footer'), 'is_bool' => true, 'values' => $yesNo],
                ['type' => 'select', 'name' => KingAvisSettings::WIDGET_PAGE, 'label' => $this->l('Show the reviews widget on'), 'options' => ['query' => [
                    ['id' => KingAvisSettings::WIDGET_NONE, 'name' => $this->l('no page')],
                    ['id' => KingAvisSettings::WIDGET_HOME, 'name' => $this->l('the home page')],
                    ['id' => KingAvisSettings::WIDGET_PRODUCT, 'name' => $this->l('the product pages')],
                    ['id' => KingAvisSettings::WIDGET_CMS_PAGE, 'name' => $this->l('the content page chosen below')],
                ], 'id' => 'id', 'name' => 'name']],
                ['type' => 'select', 'name' => KingAvisSettings::WIDGET_CMS, 'label' => $this->l('Content page'),
                    'options' => ['query' => $cmsPages, 'id' => 'id', 'name' => 'name']],
                ['type' => 'text', 'name' => KingAvisSettings::WIDGET_REVIEWS, 'label' => $this->l('Latest reviews in the widget'), 'class' => 'fixed-width-sm'],
            ],
            'submit' => ['title' => $this->l('Save'), 'name' => 'submitKingavisDisplay'],
        ]];
        $forms[] = ['form' => [
            'legend' => ['title' => $this->l('Orders placed before the module'), 'icon' => 'icon-refresh'],
            'description' => $this->l('Sends King-Avis the current status of the orders updated in the last days, so delivered orders are not forgotten. Click again to continue: nothing is sent twice.'),
            'input' => [
                ['type' => 'text', 'name' => 'KINGAVIS_BACKFILL_DAYS', 'label' => $this->l('Orders updated in the last (days)'), 'class' => 'fixed-width-sm'],
            ],
            'submit' => ['title' => $this->l('Send these orders'), 'name' => 'submitKingavisBackfill'],
            'buttons' => [['title' => $this->l('Send waiting webhooks now'), 'name' => 'submitKingavisSendNow', 'type' => 'submit', 'icon' => 'process-icon-upload']],
        ]];

        $helper = new HelperForm();
        $helper->module = $this;
        $helper->name_controller = $this->name;
        $helper->table = $this->table;
        $helper->identifier = $this->identifier;
        $helper->token = Tools::getAdminTokenLite('AdminModules');
        $helper->currentIndex = AdminController::$currentIndex . '&configure=' . $this->name;
        $helper->default_form_language = $idLang;
        $helper->allow_employee_form_lang = (int) Configuration::get('PS_BO_ALLOW_EMPLOYEE_FORM_LANG');
        $helper->show_toolbar = false;
        $helper->submit_action = 'submitKingavisConnection';
        $helper->fields_value = [
            KingAvisSettings::URL => Tools::getValue(KingAvisSettings::URL, Configuration::get(KingAvisSettings::URL)),
            KingAvisSettings::SHOP_KEY => Tools::getValue(KingAvisSettings::SHOP_KEY, Configuration::get(KingAvisSettings::SHOP_KEY)),
            KingAvisSettings::SECRET => '',
            KingAvisSettings::CONSENT_MODE => Configuration::get(KingAvisSettings::CONSENT_MODE) ?: KingAvisSettings::CONSENT_ALL,
            KingAvisSettings::SLUG => Configuration::get(KingAvisSettings::SLUG),
            KingAvisSettings::BADGE_FOOTER => (int) Configuration::get(KingAvisSettings::BADGE_FOOTER),
            KingAvisSettings::WIDGET_PAGE => Configuration::get(KingAvisSettings::WIDGET_PAGE) ?: KingAvisSettings::WIDGET_NONE,
            KingAvisSettings::WIDGET_CMS => (int) Configuration::get(KingAvisSettings::WIDGET_CMS),
            KingAvisSettings::WIDGET_REVIEWS => (int) Configuration::get(KingAvisSettings::WIDGET_REVIEWS),
            'KINGAVIS_BACKFILL_DAYS' => Tools::getValue('KINGAVIS_BACKFILL_DAYS', 30),
        ];

        return $helper->generateForm($forms);
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
