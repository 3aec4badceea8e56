<?php

use PHPUnit\Framework\TestCase;

/** The real cURL transport against PHP's built-in web server, and against silent or closed ports. */
class CurlTransportTest extends TestCase
{
    /** @var resource|null */
    private static $server;
    /** @var int */
    private static $port;

    public static function setUpBeforeClass(): void
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        self::$port = (int) substr(strrchr(stream_socket_get_name($probe, false), ':'), 1);
        fclose($probe);
        self::$server = proc_open(
            [PHP_BINARY, '-S', '127.0.0.1:' . self::$port, dirname(__DIR__) . '/fixtures/echo-server.php'],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']],
            $pipes
        );
        for ($i = 0; $i < 100; ++$i) {
            $socket = @fsockopen('127.0.0.1', self::$port);
            if ($socket) {
                fclose($socket);

                return;
            }
            usleep(50000);
        }
        self::fail('the built-in server did not start');
    }

    public static function tearDownAfterClass(): void
    {
        proc_terminate(self::$server);
        proc_close(self::$server);
    }

    public function testPostsTheBodyAndHeadersAndReadsTheAnswer()
    {
        $transport = new KingAvisCurlTransport();
        $response = $transport->send('POST', 'http://127.0.0.1:' . self::$port . '/?status=429&retry_after=120',
            ['webhook-id' => 'msg_1', 'Content-Type' => 'application/json'], '{"é":1}');
        $this->assertNull($response->error);
        $this->assertSame(429, $response->status);
        $this->assertSame('120', $response->headers['retry-after']);
        $echo = $response->json();
        $this->assertSame('POST', $echo['method']);
        $this->assertSame('msg_1', $echo['headers']['webhook-id']);
        $this->assertSame('application/json', $echo['headers']['content-type']);
        $this->assertStringStartsWith('KingAvis-PrestaShop/', $echo['headers']['user-agent']);
        $this->assertSame('{"é":1}', $echo['body']);
    }

    public function testPutsTheOrderStates()
    {
        $response = (new KingAvisCurlTransport())->send('PUT', 'http://127.0.0.1:' . self::$port . '/?status=200', [], '{"states":[]}');
        $echo = $response->json();
        $this->assertSame('PUT', $echo['method']);
        $this->assertSame('{"states":[]}', $echo['body']);
    }

    public function testTheTimeoutGivenWinsOverTheTransportsOwn()
    {
        $silent = stream_socket_server('tcp://127.0.0.1:0');
        $started = microtime(true);
        $response = (new KingAvisCurlTransport(2, 4))->send('POST', 'http://' . stream_socket_get_name($silent, false) . '/', [], '{}', 0.5);
        $this->assertSame(0, $response->status);
        $this->assertLessThan(1.5, microtime(true) - $started);
    }

    public function testAClosedPortIsAnErrorAtOnce()
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $closed = stream_socket_get_name($probe, false);
        fclose($probe);
        $started = microtime(true);
        $response = (new KingAvisCurlTransport())->send('POST', 'http://' . $closed . '/', [], '{}');
        $this->assertSame(0, $response->status);
        $this->assertNotEmpty($response->error);
        $this->assertLessThan(1.5, microtime(true) - $started);
    }

    public function testASilentServerCostsNoMoreThanTheTimeout()
    {
        $silent = stream_socket_server('tcp://127.0.0.1:0');  // accepts connections, never answers
        $started = microtime(true);
        $response = (new KingAvisCurlTransport(1, 1))->send('POST', 'http://' . stream_socket_get_name($silent, false) . '/', [], '{}');
        $elapsed = microtime(true) - $started;
        fclose($silent);
        $this->assertSame(0, $response->status);
        $this->assertStringContainsStringIgnoringCase('timed out', $response->error);
        $this->assertGreaterThanOrEqual(0.9, $elapsed);
        $this->assertLessThan(2.5, $elapsed);
    }

    public function testOnlyHttpAndHttps()
    {
        $response = (new KingAvisCurlTransport())->send('POST', 'file:///etc/passwd', [], '{}');
        $this->assertSame(0, $response->status);
        $this->assertNotEmpty($response->error);
    }
}
