<?php

class GdprTest extends ModuleTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        $this->configure(KingAvisSettings::CONSENT_CHECKOUT);
        $this->addOrder();
    }

    public function testErasureAsksKingAvisAndForgetsTheCustomerHere()
    {
        $_POST = ['submitCreate' => '1', KingAvis::CONSENT_FIELD => '1'];
        $this->module->hookActionCustomerAccountAdd(['newCustomer' => new Customer(7)]);
        $_POST = [];
        $this->transport->answers = [new KingAvisResponse(0, [], '', 'down')];
        $this->changeStatus(1234, 5, 4);  // queued, with Zoë's address
        Configuration::updateGlobalValue(KingAvisOutbox::CONFIG_PAUSE, 0);
        $this->transport->answers = [self::response(202, ['webhook_id' => 'x', 'erased' => ['orders' => 1]])];

        $answer = $this->module->hookActionDeleteGDPRCustomer(['id' => 7, 'email' => 'zoe@example.com', 'phone' => '']);

        $this->assertSame('true', $answer);
        $request = end($this->transport->requests);
        $this->assertSame('https://avis.example.com/webhooks/v1/shp_test-key_1/customer-erasure', $request['url']);
        $this->assertSame(['type' => 'customer.erasure_requested', 'timestamp' => '2026-11-22T09:00:00Z',
            'data' => ['customer' => ['email' => 'zoe@example.com']]], json_decode($request['body'], true));
        $this->assertTrue(KingAvisSigner::verify(self::SECRET, $request['headers']['webhook-id'], $this->now, $request['body'], $request['headers']['webhook-signature']));
        $rows = $this->rows();
        $this->assertCount(1, $rows, 'the pending order event with the address is gone');
        $this->assertSame('customer-erasure', $rows[0]['kind']);
        $this->assertSame('delivered', $rows[0]['state']);
        $this->assertSame('', $rows[0]['body']);
        $this->assertNull($this->module->outbox()->consentOf(7));
    }

    public function testAnErasureKingAvisCannotTakeNowIsRetried()
    {
        $this->transport->answers = [new KingAvisResponse(503, [], '{}'), self::response(202, ['erased' => ['orders' => 0]])];
        $this->assertSame('true', $this->module->hookActionDeleteGDPRCustomer(['id' => 7, 'email' => 'zoe@example.com']));
        $this->assertSame('pending', $this->rows()[0]['state']);
        $this->now += 61;
        $this->assertSame(1, $this->module->runCron()['delivered']);
        $this->assertSame($this->transport->requests[0]['headers']['webhook-id'], $this->transport->requests[1]['headers']['webhook-id']);
    }

    public function testErasureWithoutAValidAddressSaysSo()
    {
        $this->assertStringContainsString('King-Avis', json_decode($this->module->hookActionDeleteGDPRCustomer(['id' => 7, 'email' => 'nope']), true));
        $this->assertCount(0, $this->transport->requests);
    }

    public function testExportSaysWhatKingAvisHoldsAndWhereToAsk()
    {
        $rows = json_decode($this->module->hookActionExportGDPRData(['id' => 7, 'email' => 'zoe@example.com']), true);
        $this->assertCount(1, $rows);
        $row = $rows[0];
        $this->assertSame('King-Avis', $row['Service']);
        $this->assertSame('https://avis.example.com', $row['Adresse du service']);
        $this->assertStringContainsString('adresse e-mail', $row['Données détenues']);
        $this->assertStringContainsString('boutique', $row['Où demander']);
        $this->assertSame('non demandé', $row['Consentement aux demandes d\'avis']);
    }
}
