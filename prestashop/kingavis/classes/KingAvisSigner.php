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
 * Signs webhooks the Standard Webhooks way (https://www.standardwebhooks.com): base64 HMAC-SHA256
 * of "{webhook-id}.{webhook-timestamp}.{body}", keyed with the base64-decoded part of the
 * "whsec_" secret, sent as "v1,<signature>".
 */
class KingAvisSigner
{
    const PREFIX = 'whsec_';

    /**
     * The HMAC key of a "whsec_" secret, or null when the secret is not one.
     *
     * @param string $secret
     *
     * @return string|null
     */
    public static function keyOf($secret)
    {
        $secret = trim((string) $secret);
        if (strpos($secret, self::PREFIX) !== 0) {
            return null;
        }
        $key = base64_decode(substr($secret, strlen(self::PREFIX)), true);
        if ($key === false || strlen($key) < 16) {
            return null;
        }

        return $key;
    }

    /**
     * @param string $secret
     *
     * @return bool
     */
    public static function isValidSecret($secret)
    {
        return self::keyOf($secret) !== null;
    }

    /**
     * The value of the webhook-signature header.
     *
     * @param string $secret
     * @param string $webhookId
     * @param int $timestamp
     * @param string $body
     *
     * @return string
     */
    public static function sign($secret, $webhookId, $timestamp, $body)
    {
        $key = self::keyOf($secret);
        if ($key === null) {
            throw new InvalidArgumentException('The webhook secret is not a whsec_ secret.');
        }
        $mac = hash_hmac('sha256', $webhookId . '.' . (int) $timestamp . '.' . $body, $key, true);

        return 'v1,' . base64_encode($mac);
    }

    /**
     * Whether one of the space-separated "v1,<b64>" entries of $header signs this message.
     * Compared in constant time.
     *
     * @param string $secret
     * @param string $webhookId
     * @param int $timestamp
     * @param string $body
     * @param string $header
     *
     * @return bool
     */
    public static function verify($secret, $webhookId, $timestamp, $body, $header)
    {
        if (self::keyOf($secret) === null) {
            return false;
        }
        $expected = self::sign($secret, $webhookId, $timestamp, $body);
        $found = false;
        foreach (preg_split('/\s+/', trim((string) $header)) as $entry) {
            if (hash_equals($expected, $entry)) {
                $found = true;
            }
        }

        return $found;
    }

    /**
     * The three Standard Webhooks headers for one attempt, signed now.
     *
     * @param string $secret
     * @param string $webhookId
     * @param string $body
     * @param int|null $now
     *
     * @return array<string, string>
     */
    public static function headers($secret, $webhookId, $body, $now = null)
    {
        $timestamp = $now === null ? time() : (int) $now;

        return [
            'webhook-id' => $webhookId,
            'webhook-timestamp' => (string) $timestamp,
            'webhook-signature' => self::sign($secret, $webhookId, $timestamp, $body),
        ];
    }
}
