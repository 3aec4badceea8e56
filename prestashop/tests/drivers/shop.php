<?php
/**
 * A PrestaShop shop standing in for a real one, for the end-to-end tests: the module on the
 * stand-in classes, its tables in an SQLite file, the orders in a JSON file, the real cURL
 * transport. Each run is one PHP process, as one PrestaShop request is.
 *
 *   php shop.php STATE_DIR COMMAND 'JSON ARGUMENTS'
 *
 * Commands: configure {url, key, secret, mode} | order {id, customer, lang, date_add, state}
 * (before_module: no hook fires) | status {id, state} | cron {advance} | erase {id, email}
 * | backfill {days} | reinstall | test-event.
 * Prints one JSON object: the command's result and the module's table.
 */
require_once dirname(__DIR__) . '/stubs/prestashop.php';
require_once dirname(__DIR__, 2) . '/kingavis/kingavis.php';
require_once dirname(__DIR__, 2) . '/kingavis/controllers/front/cron.php';

list(, $dir, $command) = $argv;
$args = isset($argv[3]) ? json_decode($argv[3], true) : [];
$worldFile = $dir . '/world.json';
$world = is_file($worldFile) ? json_decode(file_get_contents($worldFile), true) : ['customers' => [], 'orders' => []];

Db::$path = $dir . '/shop.sqlite';
PrestaShopFixtures::loadDefaultOrderStates(dirname(__DIR__, 3) . '/kingavis/data/prestashop-order-states.json');
foreach ($world['customers'] as $id => $customer) {
    PrestaShopFixtures::$customers[(int) $id] = $customer;
}
foreach ($world['orders'] as $id => $order) {
    PrestaShopFixtures::$orders[(int) $id] = $order;
}
if (!Configuration::get('PS_LANG_DEFAULT')) {
    Configuration::updateValue('PS_LANG_DEFAULT', 1);
    Configuration::updateValue('PS_TIMEZONE', 'Europe/Paris');
    Configuration::updateValue('PS_SHOP_EMAIL', 'contact@boutique-zoe.fr');
}
// As config/config.inc.php: PHP's dates are the shop's local time.
date_default_timezone_set(Configuration::get('PS_TIMEZONE'));

/** The real cURL transport, keeping each answer for the test to read. */
class CapturingTransport implements KingAvisTransport
{
    public $answers = [];

    public function post($url, array $headers, $body)
    {
        $response = (new KingAvisCurlTransport())->post($url, $headers, $body);
        $this->answers[] = ['url' => $url, 'webhook_id' => $headers['webhook-id'], 'status' => $response->status,
            'body' => $response->json(), 'error' => $response->error];

        return $response;
    }
}
$transport = new CapturingTransport();

$module = new KingAvis();
$module->setTransport($transport);
$advance = isset($args['advance']) ? (int) $args['advance'] : 0;
$module->setClock(function () use ($advance) {
    return time() + $advance;
});
$module->install();

/** The last history row's id of the world, plus one. */
function nextHistoryId(array $world)
{
    $max = 0;
    foreach ($world['orders'] as $order) {
        foreach ($order['history'] as $row) {
            $max = max($max, (int) $row['id_order_history']);
        }
    }

    return $max + 1;
}

function alerts($page)
{
    preg_match_all('#<div class="alert alert-(success|danger)">(.*?)</div>#s', $page, $m, PREG_SET_ORDER);

    return array_map(function ($match) {
        return ['level' => $match[1], 'text' => html_entity_decode($match[2], ENT_QUOTES, 'UTF-8')];
    }, $m);
}

$result = null;
switch ($command) {
    case 'configure':
        $_POST = [
            'submitKingavisConnection' => '1',
            KingAvisSettings::URL => $args['url'],
            KingAvisSettings::SHOP_KEY => $args['key'],
            KingAvisSettings::SECRET => $args['secret'],
            KingAvisSettings::CONSENT_MODE => isset($args['mode']) ? $args['mode'] : 'all',
            KingAvisSettings::SLUG => isset($args['slug']) ? $args['slug'] : '',
        ];
        $result = alerts($module->getContent());
        break;
    case 'order':
        $customer = $args['customer'];
        $world['customers'][$customer['id']] = $customer;
        $placed = isset($args['date_add']) ? $args['date_add'] : date('Y-m-d H:i:s');
        $world['orders'][$args['id']] = [
            'id_customer' => $customer['id'], 'id_lang' => isset($args['lang']) ? $args['lang'] : 1, 'id_shop' => 1,
            'reference' => isset($args['reference']) ? $args['reference'] : 'REF' . $args['id'],
            'date_add' => $placed, 'current_state' => $args['state'],
            'history' => [['id_order_history' => nextHistoryId($world), 'id_order_state' => $args['state'], 'date_add' => $placed]],
        ];
        PrestaShopFixtures::$customers[(int) $customer['id']] = $customer;
        PrestaShopFixtures::$orders[(int) $args['id']] = $world['orders'][$args['id']];
        if (!empty($args['before_module'])) {
            break;  // an order placed before the module was installed: no hook saw it
        }
        // As PaymentModule::validateOrder: actionValidateOrder, then the first status's hooks.
        $module->hookActionValidateOrder(['order' => new Order($args['id']), 'orderStatus' => new OrderState($args['state'], 1)]);
        $module->hookActionOrderStatusPostUpdate(['newOrderStatus' => new OrderState($args['state'], 1), 'oldOrderStatus' => null, 'id_order' => $args['id']]);
        break;
    case 'status':
        $order = &$world['orders'][$args['id']];
        $old = (int) $order['current_state'];
        $order['current_state'] = $args['state'];
        $order['history'][] = ['id_order_history' => nextHistoryId($world), 'id_order_state' => $args['state'], 'date_add' => date('Y-m-d H:i:s')];
        PrestaShopFixtures::$orders[(int) $args['id']] = $order;
        $started = microtime(true);
        $module->hookActionOrderStatusPostUpdate([
            'newOrderStatus' => new OrderState($args['state'], (int) $order['id_lang']),
            'oldOrderStatus' => new OrderState($old, (int) $order['id_lang']),
            'id_order' => $args['id'],
        ]);
        $result = ['hook_seconds' => microtime(true) - $started];
        unset($order);
        break;
    case 'cron':
        $_GET = ['fc' => 'module', 'module' => 'kingavis', 'controller' => 'cron', 'token' => Configuration::get(KingAvisSettings::CRON_TOKEN)];
        $controller = new KingavisCronModuleFrontController();
        $controller->run();
        $result = json_decode($controller->rendered, true);
        break;
    case 'erase':
        $result = json_decode($module->hookActionDeleteGDPRCustomer(['id' => $args['id'], 'email' => $args['email']]), true);
        break;
    case 'backfill':
        $result = $module->backfill((int) $args['days']);
        break;
    case 'reinstall':
        $result = $module->uninstall() && $module->install();
        break;
    case 'test-event':
        $_POST = ['submitKingavisTest' => '1'];
        $result = alerts($module->getContent());
        break;
    default:
        fwrite(STDERR, "unknown command $command\n");
        exit(2);
}

file_put_contents($worldFile, json_encode($world, JSON_PRETTY_PRINT | JSON_UNESCAPED_UNICODE));
$rows = Db::getInstance()->executeS('SELECT id_kingavis_event, kind, webhook_id, id_order, id_order_state, state, attempts,'
    . ' last_status, last_result, body FROM ps_kingavis_event ORDER BY id_kingavis_event');
echo json_encode(['result' => $result, 'answers' => $transport->answers, 'rows' => $rows, 'logs' => PrestaShopLogger::$logs], JSON_UNESCAPED_UNICODE), "\n";
