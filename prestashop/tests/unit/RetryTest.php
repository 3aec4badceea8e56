<?php

class RetryTest extends ModuleTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        $this->configure();
        $this->addOrder();
        $this->addOrder(1235);
    }

    private function cron($token = null)
    {
        $_GET = ['fc' => 'module', 'module' => 'kingavis', 'controller' => 'cron',
            'token' => $token === null ? Configuration::get(KingAvisSettings::CRON_TOKEN) : $token];
        $controller = new KingavisCronModuleFrontController();
        $this->assertSame($this->module, $controller->module);
        $controller->run();

        return json_decode($controller->rendered, true);
    }

    public function testAFailedSendIsKeptAndTheCronSendsItLaterWithTheSameId()
    {
        $this->transport->answers = [new KingAvisResponse(0, [], '', 'Failed to connect: Connection refused')];
        $this->changeStatus(1234, 5, 4);
        $this->assertCount(1, $this->transport->requests);
        $first = $this->transport->requests[0];
        $row = $this->rows()[0];
        $this->assertSame('pending', $row['state']);
        $this->assertSame('1', (string) $row['attempts']);
        $this->assertSame((string) ($this->now + 60), (string) $row['next_attempt_at']);
        $this->assertStringContainsString('Connection refused', $row['last_result']);

        // King-Avis just failed: the next status change is only queued, the shop is not slowed.
        $this->changeStatus(1235, 5, 4);
        $this->assertCount(1, $this->transport->requests);
        $this->assertCount(2, $this->rows());

        // The cron does not wait for that pause (it slows no one): it tries what is due, the
        // second change; the first one waits for its backoff.
        $this->assertSame(['delivered' => 0, 'rejected' => 0, 'pending' => 1, 'remaining' => 2], $this->cron());
        $this->assertCount(2, $this->transport->requests);
        $this->assertSame('1235', json_decode($this->transport->requests[1]['body'], true)['data']['order']['id']);

        $this->now += 61;
        $this->transport->answers = [self::response(202, ['outcome' => 'scheduled'])];
        $result = $this->cron();
        $this->assertSame(['delivered' => 2, 'rejected' => 0, 'pending' => 0, 'remaining' => 0], $result);
        $this->assertCount(4, $this->transport->requests);
        $retry = $this->transport->requests[2];
        $this->assertSame($first['headers']['webhook-id'], $retry['headers']['webhook-id']);
        $this->assertSame($first['body'], $retry['body'], 'the same change, byte for byte');
        $this->assertSame((string) $this->now, $retry['headers']['webhook-timestamp'], 'signed again at send time');
        $this->assertTrue(KingAvisSigner::verify(self::SECRET, $retry['headers']['webhook-id'], $this->now, $retry['body'], $retry['headers']['webhook-signature']));
        foreach ($this->rows() as $row) {
            $this->assertSame('delivered', $row['state']);
        }
    }

    public function testBackoffGrowsAndRetryAfterIsRespected()
    {
        $this->assertSame(60, KingAvisOutbox::delayAfter(1, null, 0));
        $this->assertSame(300, KingAvisOutbox::delayAfter(2, null, 0));
        $this->assertSame(21600, KingAvisOutbox::delayAfter(6, null, 0));
        $this->assertSame(21600, KingAvisOutbox::delayAfter(40, null, 0));
        $this->assertSame(120, KingAvisOutbox::delayAfter(1, '120', 0));
        $this->assertSame(300, KingAvisOutbox::delayAfter(2, '5', 0), 'never sooner than the backoff');
        $this->assertSame(86400, KingAvisOutbox::delayAfter(1, '999999', 0));
        $now = gmmktime(9, 0, 0, 11, 22, 2026);
        $this->assertSame(600, KingAvisOutbox::delayAfter(1, gmdate('D, d M Y H:i:s \G\M\T', $now + 600), $now));

        $this->transport->answers = [self::response(429, ['title' => 'Too many requests', 'detail' => 'slow down'], ['retry-after' => '120'])];
        $this->changeStatus(1234, 5, 4);
        $row = $this->rows()[0];
        $this->assertSame('pending', $row['state']);
        $this->assertSame('429', (string) $row['last_status']);
        $this->assertSame((string) ($this->now + 120), (string) $row['next_attempt_at']);
    }

    /**
     * @dataProvider answers
     */
    public function testWhatEachAnswerMeans($status, $expected)
    {
        $this->transport->answers = [self::response($status, ['title' => 'x', 'detail' => 'why ' . $status])];
        $this->changeStatus(1234, 5, 4);
        $this->assertSame($expected, $this->rows()[0]['state']);
        $this->now += 100000;
        $this->cron();
        $this->assertCount($expected === 'pending' ? 2 : 1, $this->transport->requests);
    }

    public function answers()
    {
        return [
            [200, 'delivered'], [202, 'delivered'], [400, 'rejected'], [401, 'rejected'], [404, 'rejected'],
            [413, 'rejected'], [415, 'rejected'], [422, 'rejected'], [429, 'pending'], [500, 'pending'], [503, 'pending'],
        ];
    }

    public function testARefusalKeepsTheProblemsDetailAndTheFieldsAtFault()
    {
        $this->transport->answers = [self::response(422, ['title' => 'Unprocessable', 'detail' => 'The body does not match the schema.',
            'errors' => ['data.order.customer.email' => ['Not a valid email address.'], 'data.changed_at' => ['Missing.']]])];
        $this->changeStatus(1234, 5, 4);
        $row = $this->rows()[0];
        $this->assertSame('rejected', $row['state']);
        $this->assertSame('422', (string) $row['last_status']);
        $this->assertSame('The body does not match the schema. (data.order.customer.email, data.changed_at)', $row['last_result']);
        $this->assertSame('', $row['body'], 'the address is not kept');
    }

    public function testRefusedForWrongCredentialsIsSentAgainOnceTheyAreFixed()
    {
        $this->transport->answers = [self::response(401, ['title' => 'Unauthorized', 'detail' => 'The signature does not match.'])];
        $this->changeStatus(1234, 5, 4);
        $this->assertSame('rejected', $this->rows()[0]['state']);
        $this->assertSame('The signature does not match.', $this->rows()[0]['last_result']);

        $_POST = [
            'submitKingavisConnection' => '1', KingAvisSettings::URL => self::URL, KingAvisSettings::SHOP_KEY => self::KEY,
            KingAvisSettings::SECRET => 'whsec_' . base64_encode(str_repeat('k', 32)), KingAvisSettings::CONSENT_MODE => 'all',
        ];
        $page = $this->module->getContent();
        $this->assertStringContainsString('1 webhooks refusés avec les réglages précédents seront renvoyés.', $page);
        $this->transport->answers = [self::response(202, ['outcome' => 'scheduled'])];
        $this->cron();
        $this->assertSame('delivered', $this->rows()[0]['state']);
    }

    public function testTheCronNeedsItsToken()
    {
        $this->transport->answers = [new KingAvisResponse(0, [], '', 'down')];
        $this->changeStatus(1234, 5, 4);
        $this->now += 61;
        foreach (['', 'wrong', substr(Configuration::get(KingAvisSettings::CRON_TOKEN), 1)] as $token) {
            $this->assertSame(['error' => 'invalid token'], $this->cron($token));
        }
        $this->assertCount(1, $this->transport->requests);
        $this->assertSame(1, $this->cron()['pending']);
        $this->assertCount(2, $this->transport->requests);
    }

    public function testARowBeingSentIsNotSentAgainByAnotherProcess()
    {
        $transport = new class($this) implements KingAvisTransport {
            public $calls = 0;
            public $inner = 'not called';
            private $test;

            public function __construct($test)
            {
                $this->test = $test;
            }

            public function post($url, array $headers, $body)
            {
                ++$this->calls;
                // Meanwhile, the cron (another PHP process) looks at the same row.
                $this->inner = $this->test->module()->outbox()->deliver(1);

                return new KingAvisResponse(202, [], '{"outcome":"scheduled"}');
            }
        };
        $this->module->setTransport($transport);
        $this->changeStatus(1234, 5, 4);
        $this->assertSame(1, $transport->calls);
        $this->assertNull($transport->inner, 'reserved: the other process leaves it alone');
        $this->assertSame('delivered', $this->rows()[0]['state']);
    }

    public function module()
    {
        return $this->module;
    }

    public function testOldFinishedRowsArePurgedPendingOnesNever()
    {
        $this->changeStatus(1234, 5, 4);
        $this->transport->answers = [new KingAvisResponse(0, [], '', 'down')];
        $this->changeStatus(1235, 5, 4);
        $this->now += 31 * 86400;
        $this->transport->answers = [new KingAvisResponse(503, [], '{}')];
        $this->cron();
        $rows = $this->rows();
        $this->assertCount(1, $rows);
        $this->assertSame('1235', (string) $rows[0]['id_order']);
    }

    public function testALiveSuccessAlsoSendsAFewOlderFailures()
    {
        $this->transport->answers = [new KingAvisResponse(0, [], '', 'down')];
        $this->changeStatus(1234, 5, 4);
        $this->now += 61;
        $this->transport->answers = [self::response(202, ['outcome' => 'recorded'])];
        $this->changeStatus(1235, 3, 2);
        $this->assertCount(3, $this->transport->requests);
        $this->assertSame(['delivered', 'delivered'], array_column($this->rows(), 'state'));
    }
}
