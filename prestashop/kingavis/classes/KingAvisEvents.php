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
 * Builds the webhook bodies King-Avis expects (its contract, sections 3 and 9) from
 * PrestaShop's objects, and their webhook ids.
 */
class KingAvisEvents
{
    const MODULE_VERSION = '1.1.0';
    /** At most this many items per order (docs/prestashop.md). */
    const MAX_ITEMS = 100;
    /** At most this many order states in one list. */
    const MAX_STATES = 500;

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
        $items = self::items($order);
        if ($items) {
            $data['items'] = $items;
        }
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
     * What the order holds, for product reviews: one entry per line of the order (at most
     * MAX_ITEMS), with the product's identifiers as the shop knows them. A barcode is sent as
     * gtin only when its check digit is right (EAN-13, UPC-A, GTIN-14, ISBN-13).
     *
     * @param Order $order
     *
     * @return array
     */
    public static function items(Order $order)
    {
        $items = [];
        $idLang = (int) $order->id_lang ?: (int) Configuration::get('PS_LANG_DEFAULT');
        $link = Context::getContext()->link ?: new Link();
        foreach (OrderDetail::getList((int) $order->id) ?: [] as $line) {
            if (count($items) >= self::MAX_ITEMS) {
                break;
            }
            $idProduct = (int) $line['product_id'];
            $name = trim((string) $line['product_name']);
            if ($idProduct <= 0 || $name === '') {
                continue;
            }
            $idAttribute = (int) $line['product_attribute_id'];
            $item = ['product_id' => (string) $idProduct];
            if ($idAttribute > 0) {
                $item['variant_id'] = (string) $idAttribute;
            }
            $item['name'] = $name;
            if ((string) $line['product_reference'] !== '') {
                $item['reference'] = (string) $line['product_reference'];
            }
            foreach (['product_ean13', 'product_upc', 'product_isbn'] as $field) {
                if (isset($line[$field]) && self::isValidGtin($line[$field])) {
                    $item['gtin'] = self::digits($line[$field]);
                    break;
                }
            }
            if (isset($line['product_mpn']) && trim((string) $line['product_mpn']) !== '') {
                $item['mpn'] = trim((string) $line['product_mpn']);
            }
            $product = new Product($idProduct, false, $idLang, (int) $order->id_shop);
            if (Validate::isLoadedObject($product)) {
                if ((int) $product->id_manufacturer > 0) {
                    $brand = Manufacturer::getNameById((int) $product->id_manufacturer);
                    if ($brand) {
                        $item['brand'] = (string) $brand;
                    }
                }
                $url = $link->getProductLink($product, null, null, null, $idLang, (int) $order->id_shop, $idAttribute);
                if (is_string($url) && preg_match('#^https?://#', $url)) {
                    $item['url'] = $url;
                }
                $cover = Product::getCover($idProduct);
                if ($cover && !empty($cover['id_image'])) {
                    $rewrite = is_array($product->link_rewrite) ? (string) reset($product->link_rewrite) : (string) $product->link_rewrite;
                    $image = $link->getImageLink($rewrite, (string) $cover['id_image'], ImageType::getFormattedName('large'));
                    if (is_string($image) && $image !== '') {
                        $item['image_url'] = preg_match('#^https?://#', $image) ? $image : Tools::getShopProtocol() . $image;
                    }
                }
            }
            $item['quantity'] = max(1, (int) $line['product_quantity']);
            $items[] = $item;
        }

        return $items;
    }

    /**
     * @param string $code
     *
     * @return string
     */
    private static function digits($code)
    {
        return preg_replace('/[\s-]/', '', (string) $code);
    }

    /**
     * Whether $code is an EAN-13, UPC-A, GTIN-14 or ISBN-13 with a right check digit (GS1's
     * modulo 10: weights 3 and 1 from the right, the check digit excluded).
     *
     * @param string $code
     *
     * @return bool
     */
    public static function isValidGtin($code)
    {
        $code = self::digits($code);
        if (!preg_match('/^\d{12,14}$/', $code) || (int) ltrim($code, '0') === 0) {
            return false;
        }
        $sum = 0;
        $body = substr($code, 0, -1);
        $weight = 3;
        for ($i = strlen($body) - 1; $i >= 0; --$i) {
            $sum += (int) $body[$i] * $weight;
            $weight = $weight === 3 ? 1 : 3;
        }

        return (10 - $sum % 10) % 10 === (int) substr($code, -1);
    }

    /**
     * The order_states.synced body: every status of the shop, with its flags.
     *
     * @param int $now
     *
     * @return array
     */
    public static function orderStates($now)
    {
        $idLang = (int) Configuration::get('PS_LANG_DEFAULT');
        $states = [];
        foreach (OrderState::getOrderStates($idLang) ?: [] as $row) {
            if (count($states) >= self::MAX_STATES) {
                break;
            }
            $name = trim((string) $row['name']);
            $states[] = [
                'id' => (string) (int) $row['id_order_state'],
                'name' => $name !== '' ? $name : '#' . (int) $row['id_order_state'],
                'paid' => (bool) $row['paid'],
                'shipped' => (bool) $row['shipped'],
                'delivered' => (bool) $row['delivery'],
            ];
        }

        return [
            'type' => 'order_states.synced',
            'timestamp' => gmdate('Y-m-d\TH:i:s\Z', (int) $now),
            'data' => ['states' => $states],
        ];
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
     * The test event of the configuration page: marked "test", so King-Avis checks it like a
     * real one and stores nothing.
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
            'test' => true,
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
