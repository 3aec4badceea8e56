<?php

class ConfigurationPageTest extends ModuleTestCase
{
    private function submit(array $fields)
    {
        $_POST = $fields + [
            'submitKingavisConnection' => '1',
            KingAvisSettings::URL => self::URL . '/',
            KingAvisSettings::SHOP_KEY => self::KEY,
            KingAvisSettings::SECRET => self::SECRET,
            KingAvisSettings::CONSENT_MODE => 'checkout',
            KingAvisSettings::SLUG => 'https://avis.example.com/avis/boutique-zoe',
        ];

        return $this->module->getContent();
    }

    public function testSavesTheSettingsAndNeverShowsTheSecretAgain()
    {
        $page = $this->submit([]);
        $this->assertStringContainsString('alert-success', $page);
        $this->assertSame(self::URL, Configuration::get(KingAvisSettings::URL), 'without the trailing slash');
        $this->assertSame(self::KEY, Configuration::get(KingAvisSettings::SHOP_KEY));
        $this->assertSame(self::SECRET, Configuration::get(KingAvisSettings::SECRET));
        $this->assertSame('checkout', Configuration::get(KingAvisSettings::CONSENT_MODE));
        $this->assertSame('boutique-zoe', Configuration::get(KingAvisSettings::SLUG));

        $_POST = [];
        $page = $this->module->getContent();
        $this->assertStringNotContainsString(self::SECRET, $page);
        $this->assertStringNotContainsString('MfKQ9r8GKYqrTwjUPD8I', $page);
        $this->assertStringContainsString('whsec_…LaSw', $page, 'masked: recognisable, not usable');
        $this->assertStringContainsString('<input type="password" name="KINGAVIS_WEBHOOK_SECRET" value="">', $page);
        $this->assertStringContainsString('value="https://avis.example.com"', $page);
        $this->assertStringContainsString('fc=module&amp;module=kingavis&amp;controller=cron&amp;token=' . Configuration::get(KingAvisSettings::CRON_TOKEN), $page);
    }

    public function testAnEmptySecretKeepsTheSavedOne()
    {
        $this->submit([]);
        $this->submit([KingAvisSettings::SECRET => '', KingAvisSettings::SHOP_KEY => 'shp_other']);
        $this->assertSame(self::SECRET, Configuration::get(KingAvisSettings::SECRET));
        $this->assertSame('shp_other', Configuration::get(KingAvisSettings::SHOP_KEY));
    }

    /**
     * @dataProvider badInput
     */
    public function testAWrongValueSavesNothingAndSaysWhy($field, $value, $message)
    {
        $page = $this->submit([$field => $value]);
        $this->assertStringContainsString('alert-danger', $page);
        $this->assertStringContainsString($message, $page);
        foreach ([KingAvisSettings::URL, KingAvisSettings::SHOP_KEY, KingAvisSettings::SECRET, KingAvisSettings::SLUG] as $key) {
            $this->assertFalse(Configuration::get($key), $key);
        }
    }

    public function badInput()
    {
        return [
            [KingAvisSettings::URL, 'avis.example.com', 'adresse http:// ou https:// absolue'],
            [KingAvisSettings::URL, 'ftp://avis.example.com', 'adresse http:// ou https:// absolue'],
            [KingAvisSettings::URL, 'https://avis.example.com/?x=1', 'adresse http:// ou https:// absolue'],
            [KingAvisSettings::SHOP_KEY, 'shp key<script>', 'clé de boutique'],
            [KingAvisSettings::SECRET, 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_'],
            [KingAvisSettings::SECRET, '', 'whsec_'],
            [KingAvisSettings::CONSENT_MODE, 'nobody', 'qui King-Avis peut solliciter'],
            [KingAvisSettings::SLUG, 'not a slug!', 'page publique'],
        ];
    }

    public function testTheTestButtonShowsKingAvissAnswer()
    {
        $this->submit([]);
        $_POST = ['submitKingavisTest' => '1'];
        $this->transport->answers = [self::response(202, ['webhook_id' => 'msg', 'order_id' => 'kingavis-test', 'outcome' => 'recorded'])];
        $page = $this->module->getContent();
        $this->assertStringContainsString('King-Avis a répondu 202 : recorded', $page);
        $this->assertStringContainsString('alert-success', $page);
        $request = $this->transport->requests[0];
        $body = json_decode($request['body'], true);
        $this->assertSame('order.status_changed', $body['type']);
        $this->assertSame('kingavis-test', $body['data']['status']['id']);
        $this->assertSame('contact@boutique.test', $body['data']['order']['customer']['email']);
        $this->assertTrue(KingAvisSigner::verify(self::SECRET, $request['headers']['webhook-id'], $this->now, $request['body'], $request['headers']['webhook-signature']));

        $this->transport->answers = [self::response(401, ['type' => 'about:blank', 'title' => 'Unauthorized', 'status' => 401, 'detail' => 'The <b>signature</b> does not match.'])];
        $page = $this->module->getContent();
        $this->assertStringContainsString('King-Avis a répondu 401 : The &lt;b&gt;signature&lt;/b&gt; does not match.', $page);
        $this->assertStringContainsString('alert-danger', $page);

        $this->transport->answers = [new KingAvisResponse(0, [], '', 'Failed to connect to avis.example.com port 443')];
        $page = $this->module->getContent();
        $this->assertStringContainsString('King-Avis est injoignable : Failed to connect', $page);
        $this->assertCount(0, $this->rows(), 'a test event is not queued');
    }

    public function testTheTestButtonAsksForTheSettingsFirst()
    {
        $_POST = ['submitKingavisTest' => '1'];
        $page = $this->module->getContent();
        $this->assertStringContainsString('alert-danger">Enregistrez d&#039;abord', $page);
        $this->assertStringNotContainsString('injoignable', $page);
        $this->assertCount(0, $this->transport->requests);
    }

    public function testDisplaySettingsAreCheckedAndSaved()
    {
        PrestaShopFixtures::$cms = [4 => 'Nos avis'];
        $_POST = ['submitKingavisDisplay' => '1', KingAvisSettings::BADGE_FOOTER => '1', KingAvisSettings::WIDGET_PAGE => 'cms',
            KingAvisSettings::WIDGET_CMS => '4', KingAvisSettings::WIDGET_REVIEWS => '3'];
        $this->assertStringContainsString('alert-success', $this->module->getContent());
        $this->assertSame('1', Configuration::get(KingAvisSettings::BADGE_FOOTER));
        $this->assertSame('cms', Configuration::get(KingAvisSettings::WIDGET_PAGE));
        $this->assertSame('4', Configuration::get(KingAvisSettings::WIDGET_CMS));
        $this->assertSame('3', Configuration::get(KingAvisSettings::WIDGET_REVIEWS));

        foreach ([[KingAvisSettings::WIDGET_PAGE, 'footer'], [KingAvisSettings::WIDGET_REVIEWS, '50'], [KingAvisSettings::WIDGET_CMS, '0']] as $bad) {
            $_POST = [KingAvisSettings::WIDGET_PAGE => 'cms', KingAvisSettings::WIDGET_CMS => '4', KingAvisSettings::WIDGET_REVIEWS => '3', 'submitKingavisDisplay' => '1'];
            $_POST[$bad[0]] = $bad[1];
            $this->assertStringContainsString('alert-danger', $this->module->getContent());
        }
        $this->assertSame('3', Configuration::get(KingAvisSettings::WIDGET_REVIEWS));
    }

    public function testTheStatusPanelListsWhatIsWaiting()
    {
        $this->submit([]);
        $this->addOrder();
        $this->transport->answers = [self::response(503, ['title' => 'Service unavailable'])];
        $this->changeStatus(1234, 5, 4);
        $_POST = [];
        $page = $this->module->getContent();
        $this->assertStringContainsString('1 webhooks en attente', $page);
        $this->assertStringContainsString('503 Service unavailable', $page);
        $this->assertStringNotContainsString('zoe@example.com', $page);

        $this->transport->answers = [self::response(202, ['outcome' => 'scheduled'])];
        $this->now += 61;
        $_POST = ['submitKingavisSendNow' => '1'];
        $this->assertStringContainsString('1 webhooks livrés, 0 refusés, 0 en attente.', $this->module->getContent());
    }
}
