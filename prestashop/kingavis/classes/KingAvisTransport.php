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
 * What one HTTP attempt gave: the status (0 when no answer came), the response headers
 * (lower-case names), the body, and the network error if there was one.
 */
class KingAvisResponse
{
    /** @var int */
    public $status = 0;
    /** @var array<string, string> */
    public $headers = [];
    /** @var string */
    public $body = '';
    /** @var string|null */
    public $error;

    /**
     * @param int $status
     * @param array<string, string> $headers
     * @param string $body
     * @param string|null $error
     */
    public function __construct($status, array $headers = [], $body = '', $error = null)
    {
        $this->status = (int) $status;
        $this->headers = $headers;
        $this->body = (string) $body;
        $this->error = $error;
    }

    /**
     * The decoded JSON body, or an empty array.
     *
     * @return array
     */
    public function json()
    {
        $data = json_decode($this->body, true);

        return is_array($data) ? $data : [];
    }
}

/**
 * Sends one request. The module uses KingAvisCurlTransport; another client can be given.
 */
interface KingAvisTransport
{
    /**
     * @param string $method POST, PUT or GET
     * @param string $url
     * @param array<string, string> $headers
     * @param string $body
     * @param float|null $timeout seconds for the whole request; null: the transport's own
     *
     * @return KingAvisResponse
     */
    public function send($method, $url, array $headers, $body, $timeout = null);
}

/**
 * cURL with short timeouts, no redirects, HTTP(S) only. The outbox gives each request what is
 * left of its time budget, so a slow King-Avis never holds a shop request up for long.
 */
class KingAvisCurlTransport implements KingAvisTransport
{
    const CONNECT_TIMEOUT = 2;
    const TIMEOUT = 4;

    /** @var int */
    private $connectTimeout;
    /** @var int */
    private $timeout;

    /**
     * @param int $connectTimeout seconds
     * @param int $timeout seconds, whole request
     */
    public function __construct($connectTimeout = self::CONNECT_TIMEOUT, $timeout = self::TIMEOUT)
    {
        $this->connectTimeout = (int) $connectTimeout;
        $this->timeout = (int) $timeout;
    }

    public function send($method, $url, array $headers, $body, $timeout = null)
    {
        if (!function_exists('curl_init')) {
            return new KingAvisResponse(0, [], '', 'The PHP cURL extension is not installed.');
        }
        $total = $timeout === null ? (float) $this->timeout : max(0.2, min((float) $this->timeout, (float) $timeout));
        $lines = [];
        foreach ($headers as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        $received = [];
        $handle = curl_init($url);
        curl_setopt_array($handle, [
            CURLOPT_CUSTOMREQUEST => in_array($method, ['PUT', 'GET'], true) ? $method : 'POST',
            CURLOPT_HTTPHEADER => $lines,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_CONNECTTIMEOUT_MS => (int) (1000 * min($this->connectTimeout, $total)),
            CURLOPT_TIMEOUT_MS => (int) (1000 * $total),
            CURLOPT_NOSIGNAL => true,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
            CURLOPT_USERAGENT => 'KingAvis-PrestaShop/' . KingAvisEvents::MODULE_VERSION,
            CURLOPT_HEADERFUNCTION => function ($curl, $line) use (&$received) {
                $parts = explode(':', $line, 2);
                if (count($parts) === 2) {
                    $received[strtolower(trim($parts[0]))] = trim($parts[1]);
                }

                return strlen($line);
            },
        ]);
        if ($method !== 'GET') {
            curl_setopt($handle, CURLOPT_POSTFIELDS, $body);
        }
        $answer = curl_exec($handle);
        $status = (int) curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
        $error = $answer === false ? curl_error($handle) : null;
        curl_close($handle);
        if ($answer === false) {
            return new KingAvisResponse(0, [], '', $error ?: 'No answer from King-Avis.');
        }

        return new KingAvisResponse($status, $received, (string) $answer);
    }
}
