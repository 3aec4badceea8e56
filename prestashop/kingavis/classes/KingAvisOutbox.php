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
 * The module's own table of webhooks to deliver (an outbox, docs/prestashop.md). Every event
 * is written here first, then sent; a failed send stays "pending" and is tried again later,
 * with backoff, until King-Avis answers 2xx ("delivered") or a 4xx other than 429
 * ("rejected"). 429, 5xx and network errors are retried; a Retry-After header is respected.
 * After MAX_ATTEMPTS attempts or MAX_AGE seconds a row is "given_up": listed on the
 * configuration page, where the merchant can send it again; it is deleted after KEEP_DAYS.
 *
 * A delivered or refused row keeps only what deduplication needs (webhook id, order, status):
 * its body, which holds the customer's address, is blanked; except when King-Avis refused the
 * signature (401), the shop key (404) or answered a redirect (a wrong address), so that it can
 * be sent again once the settings are fixed.
 */
class KingAvisOutbox
{
    const TABLE = 'kingavis_event';
    const CONSENT_TABLE = 'kingavis_consent';

    const KIND_ORDER_STATUS = 'order-status';
    const KIND_ERASURE = 'customer-erasure';
    const KIND_ORDER_STATES = 'order-states';

    const PENDING = 'pending';
    const DELIVERED = 'delivered';
    const REJECTED = 'rejected';
    const GIVEN_UP = 'given_up';

    /** What the configuration page lists of a row (never its body). */
    const LISTED_COLUMNS = '`kind`, `id_order`, `id_order_state`, `state`, `attempts`, `last_status`, `last_result`, `date_add`, `date_upd`';

    /** A row is given up after this many failed attempts... */
    const MAX_ATTEMPTS = 12;
    /** ...or when it is this old (seconds) and its last attempt failed. */
    const MAX_AGE = 259200;
    /** deliverDue stops after this many failures in a row (King-Avis is down or broken). */
    const MAX_FAILURES_IN_A_ROW = 3;

    /** Seconds to wait after the 1st, 2nd, ... failed attempt; the last one repeats. */
    const DELAYS = [60, 300, 900, 3600, 10800, 21600];
    /** A row being sent is reserved this long, so a hook and the cron never send it together. */
    const LEASE = 30;
    /** After a failure, hooks only queue for this long: a down King-Avis never slows the shop twice. */
    const PAUSE_AFTER_FAILURE = 60;
    /** Longest Retry-After honoured. */
    const MAX_RETRY_AFTER = 86400;
    /** Delivered, rejected and given-up rows (and their personal data) are removed after this many days. */
    const KEEP_DAYS = 30;

    const CONFIG_PAUSE = 'KINGAVIS_PAUSE_UNTIL';

    /** @var Db */
    private $db;
    /** @var KingAvisTransport */
    private $transport;
    /** @var callable|null returns the current Unix time */
    private $clock;

    /**
     * @param Db $db
     * @param KingAvisTransport $transport
     * @param callable|null $clock
     */
    public function __construct($db, KingAvisTransport $transport, $clock = null)
    {
        $this->db = $db;
        $this->transport = $transport;
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
     * CREATE TABLE statements of the module's own tables (and nothing else).
     *
     * @return string[]
     */
    public static function installSql()
    {
        $engine = defined('_MYSQL_ENGINE_') ? _MYSQL_ENGINE_ : 'InnoDB';

        return [
            'CREATE TABLE IF NOT EXISTS `' . _DB_PREFIX_ . self::TABLE . '` (
                `id_kingavis_event` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
                `id_shop` INT(10) UNSIGNED NOT NULL DEFAULT 0,
                `kind` VARCHAR(32) NOT NULL,
                `webhook_id` VARCHAR(64) NOT NULL,
                `id_order` INT(10) UNSIGNED NOT NULL DEFAULT 0,
                `id_order_state` INT(10) UNSIGNED NOT NULL DEFAULT 0,
                `id_customer` INT(10) UNSIGNED NOT NULL DEFAULT 0,
                `body` MEDIUMTEXT NOT NULL,
                `state` VARCHAR(16) NOT NULL,
                `attempts` INT(10) UNSIGNED NOT NULL DEFAULT 0,
                `next_attempt_at` INT(10) UNSIGNED NOT NULL DEFAULT 0,
                `last_status` INT(10) UNSIGNED NOT NULL DEFAULT 0,
                `last_result` VARCHAR(255) NOT NULL DEFAULT \'\',
                `date_add` DATETIME NOT NULL,
                `date_upd` DATETIME NOT NULL,
                PRIMARY KEY (`id_kingavis_event`),
                UNIQUE KEY `kingavis_event_webhook` (`webhook_id`),
                KEY `kingavis_event_due` (`state`, `next_attempt_at`),
                KEY `kingavis_event_order` (`id_order`)
            ) ENGINE=' . $engine . ' DEFAULT CHARSET=utf8mb4',
            'CREATE TABLE IF NOT EXISTS `' . _DB_PREFIX_ . self::CONSENT_TABLE . '` (
                `id_customer` INT(10) UNSIGNED NOT NULL,
                `consent` TINYINT(1) UNSIGNED NOT NULL DEFAULT 0,
                `date_upd` DATETIME NOT NULL,
                PRIMARY KEY (`id_customer`)
            ) ENGINE=' . $engine . ' DEFAULT CHARSET=utf8mb4',
        ];
    }

    /**
     * @return string[]
     */
    public static function uninstallSql()
    {
        return [
            'DROP TABLE IF EXISTS `' . _DB_PREFIX_ . self::TABLE . '`',
            'DROP TABLE IF EXISTS `' . _DB_PREFIX_ . self::CONSENT_TABLE . '`',
        ];
    }

    /**
     * Queue one webhook. Returns the row id, or 0 when this webhook id is already known
     * (the same change seen twice: nothing is queued again).
     *
     * @param int $idShop
     * @param string $kind
     * @param string $webhookId
     * @param string $body JSON
     * @param int $idOrder
     * @param int $idOrderState
     * @param int $idCustomer
     *
     * @return int
     */
    public function enqueue($idShop, $kind, $webhookId, $body, $idOrder = 0, $idOrderState = 0, $idCustomer = 0)
    {
        $known = $this->db->getValue('SELECT `id_kingavis_event` FROM `' . _DB_PREFIX_ . self::TABLE
            . '` WHERE `webhook_id` = \'' . pSQL($webhookId) . '\'');
        if ($known) {
            return 0;
        }
        $date = date('Y-m-d H:i:s', $this->now());
        $inserted = $this->db->insert(self::TABLE, [
            'id_shop' => (int) $idShop,
            'kind' => pSQL($kind),
            'webhook_id' => pSQL($webhookId),
            'id_order' => (int) $idOrder,
            'id_order_state' => (int) $idOrderState,
            'id_customer' => (int) $idCustomer,
            'body' => pSQL($body, true),
            'state' => self::PENDING,
            'attempts' => 0,
            'next_attempt_at' => $this->now(),
            'last_status' => 0,
            'last_result' => '',
            'date_add' => $date,
            'date_upd' => $date,
        ], false, true, Db::INSERT_IGNORE);
        if (!$inserted || !$this->db->Affected_Rows()) {
            return 0;
        }

        return (int) $this->db->Insert_ID();
    }

    /**
     * @param int $id
     *
     * @return array|false
     */
    public function get($id)
    {
        return $this->db->getRow('SELECT * FROM `' . _DB_PREFIX_ . self::TABLE
            . '` WHERE `id_kingavis_event` = ' . (int) $id);
    }

    /**
     * Whether hooks should only queue (King-Avis failed less than a minute ago).
     *
     * @return bool
     */
    public function isPaused()
    {
        return (int) Configuration::getGlobalValue(self::CONFIG_PAUSE) > $this->now();
    }

    /**
     * Reserve a due row for one attempt. False when another process has it, or it is not due.
     *
     * @param int $id
     *
     * @return bool
     */
    private function claim($id)
    {
        $now = $this->now();
        $this->db->execute('UPDATE `' . _DB_PREFIX_ . self::TABLE . '` SET `next_attempt_at` = '
            . ($now + self::LEASE) . ' WHERE `id_kingavis_event` = ' . (int) $id
            . ' AND `state` = \'' . self::PENDING . '\' AND `next_attempt_at` <= ' . $now);

        return (int) $this->db->Affected_Rows() === 1;
    }

    /**
     * Send one queued row now (when it is due and no one else is sending it) and record the
     * answer. Returns what happened: ['state', 'status', 'detail'] or null when not sent.
     *
     * @param int $id
     * @param float|null $timeout seconds this attempt may take at most
     *
     * @return array|null
     */
    public function deliver($id, $timeout = null)
    {
        if (!$this->claim($id)) {
            return null;
        }
        $row = $this->get($id);
        $settings = KingAvisSettings::forShop((int) $row['id_shop']);
        if (!$settings->isComplete()) {
            return $this->record($row, self::PENDING, 0, 'King-Avis is not configured.', null);
        }
        $body = (string) $row['body'];
        $headers = KingAvisSigner::headers($settings->secret, $row['webhook_id'], $body, $this->now());
        $headers['Content-Type'] = 'application/json';
        $method = $row['kind'] === self::KIND_ORDER_STATES ? 'PUT' : 'POST';
        $response = $this->transport->send($method, $settings->endpoint($row['kind']), $headers, $body, $timeout);

        return $this->record($row, self::classify($response), $response->status, self::describe($response), $response);
    }

    /**
     * What an answer means for a queued webhook.
     *
     * @param KingAvisResponse $response
     *
     * @return string delivered, rejected or pending (retry later)
     */
    public static function classify(KingAvisResponse $response)
    {
        $status = $response->status;
        if ($status >= 200 && $status < 300) {
            return self::DELIVERED;
        }
        if (($status >= 400 && $status < 500 && $status !== 429) || ($status >= 300 && $status < 400)) {
            return self::REJECTED;
        }

        return self::PENDING;
    }

    /**
     * A short description of an answer, for the merchant: the outcome, or the problem's detail.
     * Never the request's body.
     *
     * @param KingAvisResponse $response
     *
     * @return string
     */
    public static function describe(KingAvisResponse $response)
    {
        if ($response->status === 0) {
            return (string) $response->error;
        }
        $data = $response->json();
        if (isset($data['outcome']) && is_string($data['outcome'])) {
            return $data['outcome'];
        }
        if (isset($data['erased']) && is_array($data['erased'])) {
            return 'erased';
        }
        foreach (['detail', 'title'] as $field) {
            if (isset($data[$field]) && is_string($data[$field]) && $data[$field] !== '') {
                // A 422 names the fields at fault (never their values).
                $fields = isset($data['errors']) && is_array($data['errors']) ? array_keys($data['errors']) : [];

                return $data[$field] . ($fields ? ' (' . implode(', ', $fields) . ')' : '');
            }
        }

        return 'HTTP ' . $response->status;
    }

    /**
     * Seconds to wait before the next attempt, after $attempts failed attempts: the backoff
     * schedule, or Retry-After (seconds or an HTTP date) when that is longer, up to a day.
     *
     * @param int $attempts
     * @param string|null $retryAfter
     * @param int $now
     *
     * @return int
     */
    public static function delayAfter($attempts, $retryAfter, $now)
    {
        $delays = self::DELAYS;
        $index = max(0, min((int) $attempts - 1, count($delays) - 1));
        $delay = $delays[$index];
        if ($retryAfter !== null && $retryAfter !== '') {
            $asked = null;
            if (ctype_digit(trim($retryAfter))) {
                $asked = (int) trim($retryAfter);
            } else {
                $when = strtotime($retryAfter);
                if ($when !== false) {
                    $asked = $when - $now;
                }
            }
            if ($asked !== null) {
                $delay = max($delay, min($asked, self::MAX_RETRY_AFTER));
            }
        }

        return $delay;
    }

    /**
     * @param array $row
     * @param string $state
     * @param int $status
     * @param string $detail
     * @param KingAvisResponse|null $response
     *
     * @return array
     */
    private function record(array $row, $state, $status, $detail, $response)
    {
        $now = $this->now();
        $attempts = (int) $row['attempts'] + ($response ? 1 : 0);
        $fields = [
            'state' => pSQL($state),
            'attempts' => $attempts,
            'last_status' => (int) $status,
            'last_result' => pSQL(self::truncate($detail, 255)),
            'date_upd' => date('Y-m-d H:i:s', $now),
        ];
        if ($state === self::PENDING) {
            $retryAfter = $response && isset($response->headers['retry-after']) ? $response->headers['retry-after'] : null;
            $fields['next_attempt_at'] = $now + self::delayAfter(max(1, $attempts), $retryAfter, $now);
            if ($response) {
                Configuration::updateGlobalValue(self::CONFIG_PAUSE, $now + self::PAUSE_AFTER_FAILURE);
            }
            $created = strtotime((string) $row['date_add']);
            if ($response && ($attempts >= self::MAX_ATTEMPTS || ($created !== false && $now - $created > self::MAX_AGE))) {
                $state = self::GIVEN_UP;
                $fields['state'] = self::GIVEN_UP;
            }
        } elseif ($state === self::DELIVERED || !self::keepsBodyWhenRejected((int) $status)) {
            // Done with: the body (the customer's address) is not kept. Only what a wrong key or
            // secret refused stays, to be sent again once the settings are fixed.
            $fields['body'] = '';
        }
        $this->db->update(self::TABLE, $fields, '`id_kingavis_event` = ' . (int) $row['id_kingavis_event']);

        return ['state' => $state, 'status' => (int) $status, 'detail' => $detail];
    }

    /**
     * Whether a refused row keeps its body to be sent again once the settings are fixed:
     * a wrong secret (401), an unknown shop key (404) or a redirect (a wrong address).
     *
     * @param int $status
     *
     * @return bool
     */
    public static function keepsBodyWhenRejected($status)
    {
        return in_array((int) $status, [401, 404], true) || ((int) $status >= 300 && (int) $status < 400);
    }

    /**
     * Send the due rows within a number and a total time budget: each attempt gets what is
     * left of the budget as its timeout, so a slow King-Avis costs at most the budget.
     * Rows are taken by their next attempt time, so a row that keeps failing (a "poison"
     * event) goes behind the others and never holds them back. Stops when King-Avis cannot
     * be reached or asks to slow down, or after MAX_FAILURES_IN_A_ROW failures.
     *
     * @param int $limit
     * @param float $budgetSeconds
     *
     * @return array<string, int> counts by resulting state
     */
    public function deliverDue($limit = 50, $budgetSeconds = 20)
    {
        $counts = [self::DELIVERED => 0, self::REJECTED => 0, self::PENDING => 0, self::GIVEN_UP => 0];
        $deadline = microtime(true) + (float) $budgetSeconds;
        $rows = $this->db->executeS('SELECT `id_kingavis_event` FROM `' . _DB_PREFIX_ . self::TABLE
            . '` WHERE `state` = \'' . self::PENDING . '\' AND `next_attempt_at` <= ' . $this->now()
            . ' ORDER BY `next_attempt_at` ASC, `id_kingavis_event` ASC LIMIT ' . (int) $limit);
        $failures = 0;
        foreach ($rows ?: [] as $row) {
            $left = $deadline - microtime(true);
            if ($left < 0.2) {
                break;
            }
            $result = $this->deliver((int) $row['id_kingavis_event'], $left);
            if ($result === null) {
                continue;
            }
            ++$counts[$result['state']];
            if ($result['state'] !== self::PENDING && $result['state'] !== self::GIVEN_UP) {
                $failures = 0;
                continue;
            }
            ++$failures;
            if ($result['status'] === 0 || $result['status'] === 429 || $failures >= self::MAX_FAILURES_IN_A_ROW) {
                break;
            }
        }

        return $counts;
    }

    /**
     * Rows still waiting to be delivered.
     *
     * @return int
     */
    public function countPending()
    {
        return $this->countInState(self::PENDING);
    }

    /**
     * The last rows, newest first, for the configuration page (no bodies).
     *
     * @param int $limit
     *
     * @return array
     */
    public function latest($limit = 10)
    {
        return $this->newest('`id_kingavis_event`, ' . self::LISTED_COLUMNS, '', $limit);
    }

    /**
     * The status of the last order-status event queued for an order (0 when none), so the
     * backfill does not send again what the hooks already sent.
     *
     * @param int $idOrder
     *
     * @return int
     */
    public function lastQueuedState($idOrder)
    {
        return (int) $this->db->getValue('SELECT `id_order_state` FROM `' . _DB_PREFIX_ . self::TABLE
            . '` WHERE `id_order` = ' . (int) $idOrder . ' AND `kind` = \'' . self::KIND_ORDER_STATUS
            . '\' AND `state` <> \'' . self::REJECTED . '\' ORDER BY `id_kingavis_event` DESC');
    }

    /**
     * After the merchant fixes the URL, key or secret: what King-Avis refused for a wrong
     * signature (401) or an unknown shop (404) is sent again.
     *
     * @return int rows queued again
     */
    public function requeueRefusedCredentials()
    {
        $this->db->execute('UPDATE `' . _DB_PREFIX_ . self::TABLE . '` SET `state` = \'' . self::PENDING
            . '\', `attempts` = 0, `next_attempt_at` = ' . $this->now() . ' WHERE `state` = \'' . self::REJECTED
            . '\' AND (`last_status` IN (401, 404) OR `last_status` BETWEEN 300 AND 399) AND `body` <> \'\'');

        return (int) $this->db->Affected_Rows();
    }

    /**
     * Send the given-up rows again (the configuration page's button): they become pending,
     * their attempts counted from zero.
     *
     * @return int rows queued again
     */
    public function retryGivenUp()
    {
        $this->db->execute('UPDATE `' . _DB_PREFIX_ . self::TABLE . '` SET `state` = \'' . self::PENDING
            . '\', `attempts` = 0, `date_add` = \'' . pSQL(date('Y-m-d H:i:s', $this->now())) . '\', `next_attempt_at` = '
            . $this->now() . ' WHERE `state` = \'' . self::GIVEN_UP . '\' AND `body` <> \'\'');

        return (int) $this->db->Affected_Rows();
    }

    /**
     * @return int
     */
    public function countGivenUp()
    {
        return $this->countInState(self::GIVEN_UP);
    }

    /**
     * The given-up rows, newest first (no bodies).
     *
     * @param int $limit
     *
     * @return array
     */
    public function givenUp($limit = 20)
    {
        return $this->newest('`id_kingavis_event`, `id_shop`, ' . self::LISTED_COLUMNS,
            ' WHERE `state` = \'' . self::GIVEN_UP . '\'', $limit);
    }

    /**
     * @param string $state one of the state constants
     *
     * @return int
     */
    private function countInState($state)
    {
        return (int) $this->db->getValue('SELECT COUNT(*) FROM `' . _DB_PREFIX_ . self::TABLE
            . '` WHERE `state` = \'' . $state . '\'');
    }

    /**
     * Rows for a list, newest first: the given columns (never the body), those matching the
     * given WHERE clause (empty: all of them).
     *
     * @param string $columns
     * @param string $where
     * @param int $limit
     *
     * @return array
     */
    private function newest($columns, $where, $limit)
    {
        return $this->db->executeS('SELECT ' . $columns . ' FROM `' . _DB_PREFIX_ . self::TABLE . '`' . $where
            . ' ORDER BY `id_kingavis_event` DESC LIMIT ' . (int) $limit) ?: [];
    }

    /**
     * A new list of order states replaces the one not sent yet for that shop.
     *
     * @param int $idShop
     *
     * @return void
     */
    public function dropUnsentOrderStates($idShop)
    {
        $this->db->delete(self::TABLE, '`kind` = \'' . self::KIND_ORDER_STATES . '\' AND `id_shop` = ' . (int) $idShop
            . ' AND `state` IN (\'' . self::PENDING . '\', \'' . self::GIVEN_UP . '\')');
    }

    /**
     * Whether this change (its webhook id) is already in the outbox.
     *
     * @param string $webhookId
     *
     * @return bool
     */
    public function has($webhookId)
    {
        return (bool) $this->db->getValue('SELECT `id_kingavis_event` FROM `' . _DB_PREFIX_ . self::TABLE
            . '` WHERE `webhook_id` = \'' . pSQL($webhookId) . '\'');
    }

    /**
     * Drop a customer's data from the module's tables: their consent and their order events not
     * delivered yet (which carry their address), found by customer id or by address.
     * Returns the number of events dropped.
     *
     * @param int[] $idCustomers
     * @param string $email
     *
     * @return int
     */
    public function forgetCustomer(array $idCustomers, $email = '')
    {
        $ids = array_values(array_filter(array_map('intval', $idCustomers)));
        $where = [];
        if ($ids) {
            $this->db->delete(self::CONSENT_TABLE, '`id_customer` IN (' . implode(',', $ids) . ')');
            $where[] = '`id_customer` IN (' . implode(',', $ids) . ')';
        }
        if ((string) $email !== '') {
            // The address as KingAvisEvents::encode writes it in a body.
            $json = substr(json_encode((string) $email, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), 1, -1);
            $where[] = '`body` LIKE \'%' . pSQL(addcslashes('"email":"' . $json . '"', '%_\\'), true) . '%\'';
        }
        if (!$where) {
            return 0;
        }
        $this->db->delete(self::TABLE, '(' . implode(' OR ', $where) . ') AND `kind` = \''
            . self::KIND_ORDER_STATUS . '\' AND `state` <> \'' . self::DELIVERED . '\'');

        return (int) $this->db->Affected_Rows();
    }

    /**
     * Remove delivered, rejected and given-up rows older than KEEP_DAYS: no customer's
     * address stays longer in the module's table.
     *
     * @return void
     */
    public function purge()
    {
        $limit = date('Y-m-d H:i:s', $this->now() - self::KEEP_DAYS * 86400);
        $this->db->delete(self::TABLE, '`state` <> \'' . self::PENDING . '\' AND `date_upd` < \'' . pSQL($limit) . '\'');
    }

    /**
     * The consent a customer gave at checkout: true, false, or null when never asked.
     *
     * @param int $idCustomer
     *
     * @return bool|null
     */
    public function consentOf($idCustomer)
    {
        $value = $this->db->getValue('SELECT `consent` FROM `' . _DB_PREFIX_ . self::CONSENT_TABLE
            . '` WHERE `id_customer` = ' . (int) $idCustomer);
        if ($value === false || $value === null) {
            return null;
        }

        return (bool) (int) $value;
    }

    /**
     * @param int $idCustomer
     * @param bool $consent
     *
     * @return void
     */
    public function saveConsent($idCustomer, $consent)
    {
        if ((int) $idCustomer <= 0) {
            return;
        }
        $this->db->delete(self::CONSENT_TABLE, '`id_customer` = ' . (int) $idCustomer);
        $this->db->insert(self::CONSENT_TABLE, [
            'id_customer' => (int) $idCustomer,
            'consent' => $consent ? 1 : 0,
            'date_upd' => date('Y-m-d H:i:s', $this->now()),
        ]);
    }

    /**
     * @param string $text
     * @param int $length
     *
     * @return string
     */
    public static function truncate($text, $length)
    {
        $text = (string) $text;
        if (function_exists('mb_substr')) {
            return mb_substr($text, 0, $length);
        }

        return substr($text, 0, $length);
    }
}
