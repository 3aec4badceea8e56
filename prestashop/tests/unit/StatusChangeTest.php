<?php

class StatusChangeTest extends ModuleTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        $this->configure();
        $this->addOrder();
    }

    public function testAStatusChangeSendsTheContractsBodySigned()
    {
        $this->transport->answers = [self::response(202, ['outcome' => 'scheduled'])];
        $this->changeStatus(1234, 5, 4);

        $this->assertCount(1, $this->transport->requests);
        $request = $this->transport->requests[0];
        $this->assertSame('https://avis.example.com/webhooks/v1/shp_test-key_1/order-status', $request['url']);
        $this->assertSame('application/json', $request['headers']['Content-Type']);
        $this->assertSame((string) $this->now, $request['headers']['webhook-timestamp']);
        $this->assertMatchesRegularExpression('/^msg_ps_[0-9a-f]{40}$/', $request['headers']['webhook-id']);
        $this->assertTrue(KingAvisSigner::verify(self::SECRET, $request['headers']['webhook-id'], $this->now, $request['body'], $request['headers']['webhook-signature']));
        $this->assertSame([
            'type' => 'order.status_changed',
            'timestamp' => '2026-11-22T09:00:00Z',
            'data' => [
                'order' => [
                    'id' => '1234',
                    'reference' => 'XKBKNABJK',
                    'placed_at' => '2026-11-12T09:12:00+01:00',
                    'customer' => [
                        'email' => 'zoe@example.com',
                        'first_name' => 'Zoë',
                        'last_name' => 'Łukasiewicz',
                        'locale' => 'fr',
                        'review_consent' => true,
                    ],
                ],
                'status' => ['id' => '5', 'name' => 'Livré', 'paid' => true, 'shipped' => true],
                'previous_status' => ['id' => '4', 'name' => 'Expédié'],
                'changed_at' => '2026-11-22T10:00:00+01:00',
            ],
        ], $this->transport->json(0));
        $this->assertStringContainsString('"Zoë"', $request['body'], 'UTF-8 as is, not \u escapes');

        $row = $this->rows()[0];
        $this->assertSame('delivered', $row['state']);
        $this->assertSame('', $row['body'], 'a delivered body (with the address) is not kept');
        $this->assertSame('scheduled', $row['last_result']);
    }

    public function testStatusNameIsInTheShopsDefaultLanguageAndLocaleIsTheOrders()
    {
        Configuration::updateValue('PS_LANG_DEFAULT', 2);
        PrestaShopFixtures::$orders[1234]['id_lang'] = 1;
        $this->changeStatus(1234, 6, 5);
        $body = $this->transport->json(0);
        $this->assertSame(['id' => '6', 'name' => 'Canceled', 'paid' => false, 'shipped' => false], $body['data']['status']);
        $this->assertSame(['id' => '5', 'name' => 'Delivered'], $body['data']['previous_status']);
        $this->assertSame('fr', $body['data']['order']['customer']['locale']);
    }

    public function testDatesCarryTheShopsOffsetInSummerAndInAnotherZone()
    {
        PrestaShopFixtures::$orders[1234]['date_add'] = '2026-07-01 23:30:00';
        $this->now = gmmktime(22, 15, 0, 7, 2, 2026);
        $this->changeStatus(1234, 5, 4);
        $body = $this->transport->json(0);
        $this->assertSame('2026-07-01T23:30:00+02:00', $body['data']['order']['placed_at']);
        $this->assertSame('2026-07-03T00:15:00+02:00', $body['data']['changed_at']);

        Configuration::updateValue('PS_TIMEZONE', 'America/Montreal');
        $this->changeStatus(1234, 6, 5);
        $this->assertSame('2026-07-01T23:30:00-04:00', $this->transport->json(1)['data']['order']['placed_at']);
        $this->assertSame('2026-07-02T18:15:00-04:00', $this->transport->json(1)['data']['changed_at']);
    }

    public function testCheckoutConsentModeSendsWhetherTheCustomerTickedTheBox()
    {
        Configuration::updateValue(KingAvisSettings::CONSENT_MODE, KingAvisSettings::CONSENT_CHECKOUT);
        $this->changeStatus(1234, 4, 3);
        $this->assertFalse($this->transport->json(0)['data']['order']['customer']['review_consent']);

        $_POST = ['submitCreate' => '1', KingAvis::CONSENT_FIELD => '1'];
        $this->module->hookActionCustomerAccountUpdate(['customer' => new Customer(7)]);
        $this->changeStatus(1234, 5, 4);
        $this->assertTrue($this->transport->json(1)['data']['order']['customer']['review_consent']);

        $_POST = ['submitCreate' => '1'];  // box unticked on the identity form
        $this->module->hookActionCustomerAccountUpdate(['customer' => new Customer(7)]);
        $this->changeStatus(1234, 6, 5);
        $this->assertFalse($this->transport->json(2)['data']['order']['customer']['review_consent']);
    }

    public function testTheConsentBoxIsOfferedOnlyInCheckoutMode()
    {
        $this->assertSame([], $this->module->hookAdditionalCustomerFormFields([]));
        Configuration::updateValue(KingAvisSettings::CONSENT_MODE, KingAvisSettings::CONSENT_CHECKOUT);
        $fields = $this->module->hookAdditionalCustomerFormFields([]);
        $this->assertCount(1, $fields);
        $this->assertSame(KingAvis::CONSENT_FIELD, $fields[0]->getName());
        $this->assertSame('checkbox', $fields[0]->getType());
        $this->assertFalse($fields[0]->isRequired());
        $this->assertStringContainsString('avis', $fields[0]->getLabel(), 'French label for a French customer');

        $_POST = ['submitCreate' => '1', KingAvis::CONSENT_FIELD => '1'];
        $this->module->hookActionCustomerAccountAdd(['newCustomer' => new Customer(7)]);
        Context::getContext()->customer = new Customer(7);
        $this->assertSame(1, $this->module->hookAdditionalCustomerFormFields([])[0]->getValue());
    }

    public function testAConsentIsNotChangedByAnUpdateThatDidNotShowTheBox()
    {
        Configuration::updateValue(KingAvisSettings::CONSENT_MODE, KingAvisSettings::CONSENT_CHECKOUT);
        $_POST = ['submitCreate' => '1', KingAvis::CONSENT_FIELD => '1'];
        $this->module->hookActionCustomerAccountAdd(['newCustomer' => new Customer(7)]);
        $_POST = [];  // e.g. a password change elsewhere
        $this->module->hookActionCustomerAccountUpdate(['customer' => new Customer(7)]);
        $this->assertTrue($this->module->outbox()->consentOf(7));
    }

    public function testAFirstStatusSeenByBothHooksIsSentOnce()
    {
        $this->module->hookActionValidateOrder(['order' => new Order(1234), 'orderStatus' => new OrderState(10, 1)]);
        $this->module->hookActionOrderStatusPostUpdate(['newOrderStatus' => new OrderState(10, 1), 'oldOrderStatus' => null, 'id_order' => 1234]);
        $this->assertCount(1, $this->transport->requests);
        $body = $this->transport->json(0);
        $this->assertSame('10', $body['data']['status']['id']);
        $this->assertFalse($body['data']['status']['paid']);
        $this->assertArrayNotHasKey('previous_status', $body['data']);
    }

    public function testEachChangeHasItsOwnWebhookId()
    {
        $this->changeStatus(1234, 5, 4);
        $this->now += 60;
        $this->changeStatus(1234, 6, 5);
        $this->now += 60;
        $this->changeStatus(1234, 5, 6);
        $ids = array_map(function ($r) {
            return $r['headers']['webhook-id'];
        }, $this->transport->requests);
        $this->assertCount(3, array_unique($ids));
    }

    public function testNothingIsSentWhenTheModuleIsNotConfiguredOrTheOrderHasNoAddress()
    {
        Configuration::updateValue(KingAvisSettings::SECRET, '');
        $this->changeStatus(1234, 5, 4);
        $this->configure();
        PrestaShopFixtures::$customers[7]['email'] = '';
        $this->changeStatus(1234, 5, 4);
        $this->module->hookActionOrderStatusPostUpdate(['newOrderStatus' => new OrderState(5, 1), 'id_order' => 999]);
        $this->assertCount(0, $this->transport->requests);
        $this->assertCount(0, $this->rows());
    }

    public function testAnErrorInsideTheHookNeverReachesTheShopAndIsLoggedWithoutTheAddress()
    {
        $this->transport->answers = [new RuntimeException('boom zoe@example.com')];
        $this->changeStatus(1234, 5, 4);
        $this->assertCount(1, PrestaShopLogger::$logs);
        $this->assertStringNotContainsString('zoe@example.com', PrestaShopLogger::$logs[0]['message']);
        $this->assertSame('Order', PrestaShopLogger::$logs[0]['object_type']);
        $this->assertSame(1234, PrestaShopLogger::$logs[0]['object_id']);
        $this->assertSame('pending', $this->rows()[0]['state'], 'queued before sending: the cron retries it');
    }
}
