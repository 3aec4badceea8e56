<?php
/**
 * King-Avis for PrestaShop.
 *
 * @author    King-Avis
 * @copyright King-Avis
 */
if (!defined('_PS_VERSION_')) {
    exit;
}

/**
 * Builds the webhook bodies King-Avis expects (its contract, sections 3 and 9) from
 * PrestaShop's objects, and their webhook ids.
 */
class KingAvisEvents
{
    const MODULE_VERSION = '1.0.0';

    /**
     * A webhook id made from what identifies one change, so that every attempt (and every
     * re-run of the backfill) of that change carries the same id and King-Avis replays it.
     *
     * @param string $shopKey
     * @param string $kind
     * @param array $parts
     *
     * @return string
     */
    public static function webhookId($shopKey, $kind, array $parts)
    {
        return 'msg_ps_' . substr(hash('sha256', $shopKey . '|' . $kind . '|' . implode('|', $parts)), 0, 40);
    }

    /**
     * The shop's time zone (PS_TIMEZONE), else PHP's, else UTC.
     *
     * @return DateTimeZone
     */
    public static function shopTimeZone()
    {
        foreach ([(string) Configuration::get('PS_TIMEZONE'), date_default_timezone_get(), 'UTC'] as $name) {
            if ($name === '') {
                continue;
            }
            try {
                return new DateTimeZone($name);
            } catch (Exception $e) {
                continue;
            }
        }

        return new DateTimeZone('UTC');
    }

    /**
     * A PrestaShop date ("Y-m-d H:i:s", the shop's local time) as ISO 8601 with the shop's
     * UTC offset, or null when it is empty or zero.
     *
     * @param string $localDate
     * @param DateTimeZone $zone
     *
     * @return string|null
     */
    public static function isoDate($localDate, DateTimeZone $zone)
    {
        $localDate = (string) $localDate;
        if ($localDate === '' || strpos($localDate, '0000-00-00') === 0) {
            return null;
        }
        $date = DateTime::createFromFormat('Y-m-d H:i:s', $localDate, $zone);
        if ($date === false) {
            return null;
        }

        return $date->format('Y-m-d\TH:i:sP');
    }

    /**
     * A Unix time as ISO 8601 in the shop's time zone.
     *
     * @param int $time
     * @param DateTimeZone $zone
     *
     * @return string
     */
    public static function isoTime($time, DateTimeZone $zone)
    {
        $date = new DateTime('@' . (int) $time);
        $date->setTimezone($zone);

        return $date->format('Y-m-d\TH:i:sP');
    }

    /**
     * A status as the contract shows it: its id, its name in the shop's default language, and
     * PrestaShop's paid and shipped flags.
     *
     * @param int $idOrderState
     * @param bool $withFlags
     *
     * @return array|null
     */
    public static function status($idOrderState, $withFlags = true)
    {
        $idOrderState = (int) $idOrderState;
        if ($idOrderState <= 0) {
            return null;
        }
        $idLang = (int) Configuration::get('PS_LANG_DEFAULT');
        $state = new OrderState($idOrderState, $idLang);
        if (!Validate::isLoadedObject($state)) {
            return null;
        }
        $name = is_array($state->name) ? (string) reset($state->name) : (string) $state->name;
        if ($name === '') {
            $name = '#' . $idOrderState;
        }
        $status = ['id' => (string) $idOrderState, 'name' => $name];
        if ($withFlags) {
            $status['paid'] = (bool) $state->paid;
            $status['shipped'] = (bool) $state->shipped;
        }

        return $status;
    }

    /**
     * The order.status_changed body (contract section 3), or null when the order has no
     * customer address to send.
     *
     * @param Order $order
     * @param int $idOrderState the new status
     * @param int $idPreviousState 0 when unknown or none
     * @param string $changedAt ISO 8601 with offset
     * @param bool|null $consent
     * @param int $now
     *
     * @return array|null
     */
    public static function orderStatusChanged(Order $order, $idOrderState, $idPreviousState, $changedAt, $consent, $now)
    {
        $customer = new Customer((int) $order->id_customer);
        $email = Validate::isLoadedObject($customer) ? trim((string) $customer->email) : '';
        $status = self::status($idOrderState);
        if ($email === '' || $status === null) {
            return null;
        }
        $zone = self::shopTimeZone();
        $person = ['email' => $email];
        foreach (['first_name' => $customer->firstname, 'last_name' => $customer->lastname] as $field => $value) {
            if ((string) $value !== '') {
                $person[$field] = (string) $value;
            }
        }
        $locale = Language::getIsoById((int) $order->id_lang);
        if ($locale) {
            $person['locale'] = (string) $locale;
        }
        if ($consent !== null) {
            $person['review_consent'] = (bool) $consent;
        }
        $data = ['id' => (string) (int) $order->id];
        if ((string) $order->reference !== '') {
            $data['reference'] = (string) $order->reference;
        }
        $placedAt = self::isoDate($order->date_add, $zone);
        if ($placedAt !== null) {
            $data['placed_at'] = $placedAt;
        }
        $data['customer'] = $person;
        $body = [
            'type' => 'order.status_changed',
            'timestamp' => gmdate('Y-m-d\TH:i:s\Z', (int) $now),
            'data' => ['order' => $data, 'status' => $status],
        ];
        $previous = self::status($idPreviousState, false);
        if ($previous !== null) {
            $body['data']['previous_status'] = $previous;
        }
        $body['data']['changed_at'] = $changedAt;

        return $body;
    }

    /**
     * The customer.erasure_requested body (contract section 9).
     *
     * @param string $email
     * @param int $now
     *
     * @return array
     */
    public static function erasureRequested($email, $now)
    {
        return [
            'type' => 'customer.erasure_requested',
            'timestamp' => gmdate('Y-m-d\TH:i:s\Z', (int) $now),
            'data' => ['customer' => ['email' => (string) $email]],
        ];
    }

    /**
     * The test event of the configuration page: a status that is neither a trigger nor a
     * cancel status, for an order that does not exist, so King-Avis records it and nothing else.
     *
     * @param string $email
     * @param int $now
     *
     * @return array
     */
    public static function testEvent($email, $now)
    {
        $zone = self::shopTimeZone();

        return [
            'type' => 'order.status_changed',
            'timestamp' => gmdate('Y-m-d\TH:i:s\Z', (int) $now),
            'data' => [
                'order' => [
                    'id' => 'kingavis-test',
                    'reference' => 'TEST',
                    'customer' => ['email' => (string) $email, 'review_consent' => false],
                ],
                'status' => ['id' => 'kingavis-test', 'name' => 'Test King-Avis', 'paid' => false, 'shipped' => false],
                'changed_at' => self::isoTime($now, $zone),
            ],
        ];
    }

    /**
     * JSON as King-Avis reads it: UTF-8, unescaped slashes and characters.
     *
     * @param array $body
     *
     * @return string
     */
    public static function encode(array $body)
    {
        return (string) json_encode($body, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE);
    }
}
