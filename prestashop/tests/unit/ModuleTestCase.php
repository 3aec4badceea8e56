<?php

use PHPUnit\Framework\TestCase;

/** A transport that records each request and answers from a script. */
class RecordingTransport implements KingAvisTransport
{
    /** @var array[] url, headers, body */
    public $requests = [];
    /** @var array<int, KingAvisResponse|Throwable> answers in order; the last one repeats */
    public $answers = [];

    public function post($url, array $headers, $body)
    {
        $this->requests[] = ['url' => $url, 'headers' => $headers, 'body' => $body];
        $answer = count($this->answers) > 1 ? array_shift($this->answers) : reset($this->answers);
        if ($answer instanceof Throwable) {
            throw $answer;
        }

        return $answer ?: new KingAvisResponse(202, [], '{"outcome":"recorded"}');
    }

    public function json($index)
    {
        return json_decode($this->requests[$index]['body'], true);
    }
}

/**
 * A module installed on a fresh in-memory database, with PrestaShop's default order states,
 * a French default language, Europe/Paris, and a clock the test moves.
 */
abstract class ModuleTestCase extends TestCase
{
    const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const URL = 'https://avis.example.com';
    const KEY = 'shp_test-key_1';

    /** @var KingAvis */
    protected $module;
    /** @var RecordingTransport */
    protected $transport;
    /** @var int */
    protected $now;

    protected function setUp(): void
    {
        $_POST = [];
        $_GET = [];
        Db::reset();
        Db::$path = ':memory:';
        Configuration::clearCache();
        Context::reset();
        PrestaShopFixtures::reset();
        PrestaShopLogger::$logs = [];
        PrestaShopFixtures::loadDefaultOrderStates(dirname(__DIR__, 3) . '/kingavis/data/prestashop-order-states.json');
        Configuration::updateValue('PS_LANG_DEFAULT', 1);
        Configuration::updateValue('PS_TIMEZONE', 'Europe/Paris');
        Configuration::updateValue('PS_SHOP_EMAIL', 'contact@boutique.test');
        $this->now = gmmktime(9, 0, 0, 11, 22, 2026);
        $this->transport = new RecordingTransport();
        $this->module = $this->newModule();
        $this->assertTrue($this->module->install());
    }

    protected function newModule()
    {
        $module = new KingAvis();
        $module->setTransport($this->transport);
        $test = $this;
        $module->setClock(function () use ($test) {
            return $test->now;
        });

        return $module;
    }

    protected function configure($mode = KingAvisSettings::CONSENT_ALL)
    {
        Configuration::updateValue(KingAvisSettings::URL, self::URL);
        Configuration::updateValue(KingAvisSettings::SHOP_KEY, self::KEY);
        Configuration::updateValue(KingAvisSettings::SECRET, self::SECRET);
        Configuration::updateValue(KingAvisSettings::CONSENT_MODE, $mode);
    }

    /** Order 1234 of Zoë, in French, placed 12 November 2026 09:12 (Paris), now "Shipped". */
    protected function addOrder($id = 1234, array $fields = [])
    {
        PrestaShopFixtures::$customers[7] = ['email' => 'zoe@example.com', 'firstname' => 'Zoë', 'lastname' => 'Łukasiewicz'];
        PrestaShopFixtures::$orders[$id] = $fields + [
            'id_customer' => 7, 'id_lang' => 1, 'id_shop' => 1, 'reference' => 'XKBKNABJK',
            'date_add' => '2026-11-12 09:12:00', 'current_state' => 4, 'history' => [],
        ];
    }

    protected function changeStatus($idOrder, $new, $old)
    {
        PrestaShopFixtures::$orders[$idOrder]['current_state'] = $new;
        $this->module->hookActionOrderStatusPostUpdate([
            'newOrderStatus' => new OrderState($new, 2),
            'oldOrderStatus' => $old ? new OrderState($old, 2) : null,
            'id_order' => $idOrder,
        ]);
    }

    protected function rows()
    {
        return Db::getInstance()->executeS('SELECT * FROM ps_kingavis_event ORDER BY id_kingavis_event');
    }

    protected static function response($status, array $json, array $headers = [])
    {
        return new KingAvisResponse($status, $headers, json_encode($json));
    }
}
