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
 * Sends one POST. The module uses KingAvisCurlTransport; tests give it another.
 */
interface KingAvisTransport
{
    /**
     * @param string $url
     * @param array<string, string> $headers
     * @param string $body
     *
     * @return KingAvisResponse
     */
    public function post($url, array $headers, $body);
}

/**
 * cURL with short timeouts, no redirects, HTTP(S) only: a slow or absent King-Avis costs the
 * shop at most a few seconds, once (see KingAvisOutbox's pause after a failure).
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

    public function post($url, array $headers, $body)
    {
        if (!function_exists('curl_init')) {
            return new KingAvisResponse(0, [], '', 'The PHP cURL extension is not installed.');
        }
        $lines = [];
        foreach ($headers as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        $received = [];
        $handle = curl_init($url);
        curl_setopt_array($handle, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $body,
            CURLOPT_HTTPHEADER => $lines,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_CONNECTTIMEOUT => $this->connectTimeout,
            CURLOPT_TIMEOUT => $this->timeout,
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
