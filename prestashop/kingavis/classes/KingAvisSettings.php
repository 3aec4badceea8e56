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
 * The module's configuration for one shop, read from Configuration, and its validation.
 */
class KingAvisSettings
{
    const URL = 'KINGAVIS_URL';
    const SHOP_KEY = 'KINGAVIS_SHOP_KEY';
    const SECRET = 'KINGAVIS_WEBHOOK_SECRET';
    const CONSENT_MODE = 'KINGAVIS_CONSENT_MODE';
    const SLUG = 'KINGAVIS_SLUG';
    const BADGE_FOOTER = 'KINGAVIS_BADGE_FOOTER';
    const WIDGET_PAGE = 'KINGAVIS_WIDGET_PAGE';
    const WIDGET_CMS = 'KINGAVIS_WIDGET_CMS';
    const WIDGET_REVIEWS = 'KINGAVIS_WIDGET_REVIEWS';
    const PRODUCT_STARS = 'KINGAVIS_PRODUCT_STARS';
    const PRODUCT_REVIEWS = 'KINGAVIS_PRODUCT_REVIEWS';
    const LIST_STARS = 'KINGAVIS_LIST_STARS';
    const CRON_TOKEN = 'KINGAVIS_CRON_TOKEN';

    const CONSENT_ALL = 'all';
    const CONSENT_CHECKOUT = 'checkout';

    const WIDGET_NONE = 'none';
    const WIDGET_HOME = 'home';
    const WIDGET_PRODUCT = 'product';
    const WIDGET_CMS_PAGE = 'cms';

    /** @var string */
    public $url = '';
    /** @var string */
    public $shopKey = '';
    /** @var string */
    public $secret = '';
    /** @var string */
    public $consentMode = self::CONSENT_ALL;
    /** @var string */
    public $slug = '';

    /**
     * @param int|null $idShop null: the current shop context
     *
     * @return KingAvisSettings
     */
    public static function forShop($idShop = null)
    {
        // A shop's value, else its group's, else the global one: the group is the shop's own,
        // not the context's (Configuration::get takes the context's group when given none).
        $idGroup = $idShop ? (int) Shop::getGroupFromShop((int) $idShop, true) : null;
        $settings = new self();
        $settings->url = rtrim((string) Configuration::get(self::URL, null, $idGroup, $idShop), '/');
        $settings->shopKey = (string) Configuration::get(self::SHOP_KEY, null, $idGroup, $idShop);
        $settings->secret = (string) Configuration::get(self::SECRET, null, $idGroup, $idShop);
        $mode = (string) Configuration::get(self::CONSENT_MODE, null, $idGroup, $idShop);
        $settings->consentMode = $mode === self::CONSENT_CHECKOUT ? self::CONSENT_CHECKOUT : self::CONSENT_ALL;
        $settings->slug = (string) Configuration::get(self::SLUG, null, $idGroup, $idShop);

        return $settings;
    }

    /**
     * The shops the current context stands for: the context's shop, or every shop in "All
     * shops" and group contexts.
     *
     * @return int[]
     */
    public static function contextShopIds()
    {
        if (!Shop::isFeatureActive() || Shop::getContext() === Shop::CONTEXT_SHOP) {
            return [(int) Context::getContext()->shop->id];
        }

        return array_map('intval', Shop::getContextListShopID());
    }

    /**
     * The configured King-Avis shops among $idShops, one shop id per distinct King-Avis
     * address and shop key (two shops sharing one King-Avis shop are told once).
     *
     * @param int[] $idShops
     *
     * @return array<int, KingAvisSettings> by shop id
     */
    public static function configured(array $idShops)
    {
        $found = [];
        $seen = [];
        foreach ($idShops as $idShop) {
            $settings = self::forShop((int) $idShop);
            $key = $settings->url . '|' . $settings->shopKey;
            if ($settings->isComplete() && !isset($seen[$key])) {
                $seen[$key] = true;
                $found[(int) $idShop] = $settings;
            }
        }

        return $found;
    }

    /**
     * @return bool
     */
    public function isComplete()
    {
        return self::isValidUrl($this->url) && self::isValidShopKey($this->shopKey)
            && KingAvisSigner::isValidSecret($this->secret);
    }

    /**
     * The webhook address for one kind of event (order-status, customer-erasure).
     *
     * @param string $kind
     *
     * @return string
     */
    public function endpoint($kind)
    {
        return $this->url . '/webhooks/v1/' . rawurlencode($this->shopKey) . '/' . $kind;
    }

    /**
     * An absolute http(s) address without query or fragment.
     *
     * @param string $url
     *
     * @return bool
     */
    public static function isValidUrl($url)
    {
        $url = (string) $url;
        if (!preg_match('#^https?://#i', $url) || filter_var($url, FILTER_VALIDATE_URL) === false) {
            return false;
        }
        $parts = parse_url($url);

        return !empty($parts['host']) && !isset($parts['query']) && !isset($parts['fragment'])
            && !isset($parts['user']) && !isset($parts['pass']);
    }

    /**
     * @param string $key
     *
     * @return bool
     */
    public static function isValidShopKey($key)
    {
        return (bool) preg_match('/^[A-Za-z0-9_-]{4,64}$/', (string) $key);
    }

    /**
     * The public slug of the shop's review page, from a slug or the page's address
     * (".../avis/<slug>"). Empty when the input is neither.
     *
     * @param string $value
     *
     * @return string
     */
    public static function normalizeSlug($value)
    {
        $value = trim((string) $value);
        if (preg_match('#/avis/([A-Za-z0-9_-]+)/?$#', $value, $match)) {
            return $match[1];
        }

        return preg_match('/^[A-Za-z0-9_-]{1,100}$/', $value) ? $value : '';
    }

    /**
     * "whsec_…" followed by its last four characters: enough to recognise it, not to use it.
     *
     * @param string $secret
     *
     * @return string
     */
    public static function maskSecret($secret)
    {
        $secret = (string) $secret;
        if ($secret === '') {
            return '';
        }

        return KingAvisSigner::PREFIX . '…' . substr($secret, -4);
    }
}
