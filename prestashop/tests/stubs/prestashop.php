<?php
/**
 * A small stand-in of the PrestaShop 8 classes the module touches, written from PrestaShop's
 * own signatures (classes/Configuration.php, classes/db/Db.php, classes/order/Order.php,
 * classes/order/OrderState.php, classes/Customer.php, classes/Language.php,
 * classes/module/Module.php, classes/helper/HelperForm.php, classes/Tools.php, ...).
 *
 * Objects (orders, statuses, customers, languages, CMS pages) come from static fixture arrays
 * (PrestaShopFixtures); the database is SQLite through PDO, with PrestaShop's Db methods and a
 * translation of the few MySQL-only bits of CREATE TABLE. Configuration is written through to
 * a `configuration` table, as in PrestaShop, so it survives between two PHP processes.
 */
namespace PrestaShop\PrestaShop\Core\Module {
    /** src/Core/Module/WidgetInterface.php */
    interface WidgetInterface
    {
        public function renderWidget($hookName, array $configuration);

        public function getWidgetVariables($hookName, array $configuration);
    }
}

namespace {
if (!defined('_PS_VERSION_')) {
    define('_PS_VERSION_', '8.1.7');
}
if (!defined('_DB_PREFIX_')) {
    define('_DB_PREFIX_', 'ps_');
}
if (!defined('_MYSQL_ENGINE_')) {
    define('_MYSQL_ENGINE_', 'InnoDB');
}
if (!defined('_PS_MODULE_DIR_')) {
    define('_PS_MODULE_DIR_', dirname(__DIR__, 2) . '/');
}

function pSQL($string, $htmlOK = false)
{
    return Db::getInstance()->escape($string, $htmlOK);
}

function bqSQL($string)
{
    return str_replace('`', '\`', pSQL($string));
}

/** Fixtures standing for PrestaShop's core tables. */
class PrestaShopFixtures
{
    /** @var array<int, array> id_order => fields (id_customer, id_lang, id_shop, reference, date_add, current_state, history) */
    public static $orders = [];
    /** @var array<int, array> id_order_state => [name => [id_lang => name], paid, shipped, logable] */
    public static $orderStates = [];
    /** @var array<int, array> id_customer => [email, firstname, lastname] */
    public static $customers = [];
    /** @var array<int, string> id_lang => iso code */
    public static $languages = [1 => 'fr', 2 => 'en'];
    /** @var array<int, string> id_cms => title */
    public static $cms = [];

    public static function reset()
    {
        self::$orders = [];
        self::$orderStates = [];
        self::$customers = [];
        self::$languages = [1 => 'fr', 2 => 'en'];
        self::$cms = [];
    }

    /** PrestaShop's default order states (install-dev/data/xml/order_state.xml), from the project's spec file. */
    public static function loadDefaultOrderStates($specFile)
    {
        $spec = json_decode(file_get_contents($specFile), true);
        foreach ($spec['states'] as $state) {
            self::$orderStates[(int) $state['id']] = [
                'name' => [1 => $state['fr'], 2 => $state['en']],
                'paid' => $state['paid'],
                'shipped' => $state['shipped'],
                'logable' => $state['logable'],
            ];
        }
    }
}

class PrestaShopException extends Exception
{
}

class PrestaShopDatabaseException extends PrestaShopException
{
}

class Db
{
    const INSERT = 1;
    const INSERT_IGNORE = 2;
    const REPLACE = 3;
    const ON_DUPLICATE_KEY = 4;

    /** @var string SQLite file (or :memory:) */
    public static $path = ':memory:';
    /** @var Db|null */
    private static $instance;
    /** @var string[] every statement run, as the module wrote it */
    public static $log = [];

    /** @var PDO */
    private $pdo;
    /** @var int */
    private $affected = 0;

    public static function getInstance($master = true)
    {
        if (self::$instance === null) {
            self::$instance = new self(self::$path);
        }

        return self::$instance;
    }

    public static function reset()
    {
        self::$instance = null;
        self::$log = [];
    }

    private function __construct($path)
    {
        $this->pdo = new PDO('sqlite:' . $path);
        $this->pdo->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
        $this->pdo->setAttribute(PDO::ATTR_DEFAULT_FETCH_MODE, PDO::FETCH_ASSOC);
        $this->pdo->exec('PRAGMA busy_timeout = 5000');
        $this->pdo->exec('CREATE TABLE IF NOT EXISTS `' . _DB_PREFIX_ . 'configuration` (`name` VARCHAR(254) PRIMARY KEY, `value` TEXT)');
    }

    /** MySQL DDL and INSERT IGNORE as SQLite understands them. */
    public static function toSqlite($sql)
    {
        $sql = preg_replace('/\b(TINY)?INT\(\d+\)\s+UNSIGNED\s+NOT NULL\s+AUTO_INCREMENT/i', 'INTEGER NOT NULL', $sql);
        $sql = preg_replace('/\b(TINY)?INT\(\d+\)(\s+UNSIGNED)?/i', 'INTEGER', $sql);
        $sql = preg_replace('/\bMEDIUMTEXT\b/i', 'TEXT', $sql);
        $sql = preg_replace('/UNIQUE KEY\s+(`[^`]+`)\s*\(/i', 'CONSTRAINT $1 UNIQUE (', $sql);
        $sql = preg_replace('/,\s*KEY\s+`[^`]+`\s*\([^)]*\)/i', '', $sql);
        $sql = preg_replace('/\)\s*ENGINE=\w+(\s+DEFAULT CHARSET=\w+)?(\s+COLLATE=\w+)?/i', ')', $sql);
        $sql = preg_replace('/^\s*INSERT IGNORE INTO/i', 'INSERT OR IGNORE INTO', $sql);

        return $sql;
    }

    public function execute($sql, $use_cache = true)
    {
        self::$log[] = $sql;
        $this->affected = $this->pdo->exec(self::toSqlite($sql));

        return true;
    }

    public function executeS($sql, $array = true, $use_cache = true)
    {
        self::$log[] = $sql;

        return $this->pdo->query(self::toSqlite($sql))->fetchAll();
    }

    public function getRow($sql, $use_cache = true)
    {
        if (!preg_match('/\bLIMIT\b/i', $sql)) {
            $sql .= ' LIMIT 1';
        }
        $rows = $this->executeS($sql);

        return $rows ? $rows[0] : false;
    }

    public function getValue($sql, $use_cache = true)
    {
        $row = $this->getRow($sql);

        return $row ? reset($row) : false;
    }

    public function insert($table, $data, $null_values = false, $use_cache = true, $type = self::INSERT, $add_prefix = true)
    {
        if ($add_prefix) {
            $table = _DB_PREFIX_ . $table;
        }
        $rows = isset($data[0]) && is_array($data[0]) ? $data : [$data];
        $keys = array_keys($rows[0]);
        $values = [];
        foreach ($rows as $row) {
            $cells = [];
            foreach ($row as $value) {
                $cells[] = ($null_values && ($value === '' || $value === null)) ? 'NULL' : "'" . $value . "'";
            }
            $values[] = '(' . implode(', ', $cells) . ')';
        }
        $verb = $type === self::INSERT_IGNORE ? 'INSERT IGNORE' : ($type === self::REPLACE ? 'REPLACE' : 'INSERT');

        return $this->execute($verb . ' INTO `' . $table . '` (`' . implode('`, `', $keys) . '`) VALUES ' . implode(', ', $values));
    }

    public function update($table, $data, $where = '', $limit = 0, $null_values = false, $use_cache = true, $add_prefix = true)
    {
        if ($add_prefix) {
            $table = _DB_PREFIX_ . $table;
        }
        $sets = [];
        foreach ($data as $key => $value) {
            $sets[] = '`' . $key . "` = '" . $value . "'";
        }

        return $this->execute('UPDATE `' . $table . '` SET ' . implode(', ', $sets) . ($where ? ' WHERE ' . $where : ''));
    }

    public function delete($table, $where = '', $limit = 0, $use_cache = true, $add_prefix = true)
    {
        if ($add_prefix) {
            $table = _DB_PREFIX_ . $table;
        }

        return $this->execute('DELETE FROM `' . $table . '`' . ($where ? ' WHERE ' . $where : ''));
    }

    public function Insert_ID()
    {
        return (int) $this->pdo->lastInsertId();
    }

    public function Affected_Rows()
    {
        return (int) $this->affected;
    }

    /** As PrestaShop's Db::escape: without $html_ok, tags are stripped (so a JSON body needs true). */
    public function escape($string, $html_ok = false, $bq_sql = false)
    {
        $string = (string) $string;
        if (!$html_ok) {
            $string = strip_tags(nl2br($string));
        }

        return str_replace("'", "''", $string);
    }

    /** Tables that exist, for tests. */
    public function tables()
    {
        return array_column($this->executeS("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"), 'name');
    }
}

class Configuration
{
    /** @var array<string, string>|null */
    private static $cache;

    private static function load()
    {
        if (self::$cache === null) {
            self::$cache = [];
            foreach (Db::getInstance()->executeS('SELECT `name`, `value` FROM `' . _DB_PREFIX_ . 'configuration`') as $row) {
                self::$cache[$row['name']] = $row['value'];
            }
        }
    }

    public static function clearCache()
    {
        self::$cache = null;
    }

    public static function get($key, $idLang = null, $idShopGroup = null, $idShop = null, $default = false)
    {
        self::load();

        return array_key_exists($key, self::$cache) ? self::$cache[$key] : $default;
    }

    public static function getGlobalValue($key, $idLang = null)
    {
        return self::get($key, $idLang);
    }

    public static function hasKey($key, $idLang = null, $idShopGroup = null, $idShop = null)
    {
        self::load();

        return array_key_exists($key, self::$cache);
    }

    public static function updateValue($key, $values, $html = false, $idShopGroup = null, $idShop = null)
    {
        self::load();
        $value = (string) $values;
        if (!$html) {
            $value = strip_tags($value);
        }
        self::$cache[$key] = $value;
        Db::getInstance()->execute('DELETE FROM `' . _DB_PREFIX_ . "configuration` WHERE `name` = '" . pSQL($key) . "'");
        Db::getInstance()->execute('INSERT INTO `' . _DB_PREFIX_ . "configuration` (`name`, `value`) VALUES ('" . pSQL($key) . "', '" . pSQL($value, true) . "')");

        return true;
    }

    public static function updateGlobalValue($key, $values, $html = false)
    {
        return self::updateValue($key, $values, $html);
    }

    public static function deleteByName($key)
    {
        self::load();
        unset(self::$cache[$key]);
        Db::getInstance()->execute('DELETE FROM `' . _DB_PREFIX_ . "configuration` WHERE `name` = '" . pSQL($key) . "'");

        return true;
    }
}

abstract class ObjectModel
{
    /** @var int|null */
    public $id;
}

class Order extends ObjectModel
{
    public $id_customer;
    public $id_lang;
    public $id_shop = 1;
    public $id_shop_group = 1;
    public $reference;
    public $date_add;
    public $date_upd;
    public $current_state = 0;

    public function __construct($id = null, $id_lang = null)
    {
        if ($id && isset(PrestaShopFixtures::$orders[(int) $id])) {
            $row = PrestaShopFixtures::$orders[(int) $id];
            $this->id = (int) $id;
            foreach (['id_customer', 'id_lang', 'id_shop', 'reference', 'date_add', 'current_state'] as $field) {
                if (isset($row[$field])) {
                    $this->$field = $row[$field];
                }
            }
            $this->date_upd = self::lastUpdate($row);
        }
    }

    /** Rows of order_history joined with order_state, newest first (as Order::getHistory). */
    public function getHistory($id_lang, $id_order_state = false, $no_hidden = false, $filters = 0)
    {
        $history = isset(PrestaShopFixtures::$orders[$this->id]['history']) ? PrestaShopFixtures::$orders[$this->id]['history'] : [];
        $rows = [];
        foreach ($history as $row) {
            if ($id_order_state && (int) $row['id_order_state'] !== (int) $id_order_state) {
                continue;
            }
            $rows[] = $row + ['id_order' => $this->id];
        }
        usort($rows, function ($a, $b) {
            return [$b['date_add'], $b['id_order_history']] <=> [$a['date_add'], $a['id_order_history']];
        });

        return $rows;
    }

    public function getCurrentState()
    {
        return (int) $this->current_state;
    }

    public function getCurrentOrderState()
    {
        return $this->current_state ? new OrderState((int) $this->current_state) : null;
    }

    /** date_upd: the fixture's, else its last history row's date, else date_add. */
    private static function lastUpdate(array $row)
    {
        if (isset($row['date_upd'])) {
            return $row['date_upd'];
        }
        $dates = array_column(isset($row['history']) ? $row['history'] : [], 'date_add');

        return $dates ? max($dates) : $row['date_add'];
    }

    /**
     * As Order::getOrdersIdByDate: the orders whose date_upd (shop's local time) is from $date_from,
     * and at most a day after $date_to (PrestaShop's "DATE_ADD(date_upd, INTERVAL -1 DAY) <= to").
     */
    public static function getOrdersIdByDate($date_from, $date_to, $id_customer = null, $type = null)
    {
        $ids = [];
        $to = date('Y-m-d H:i:s', strtotime($date_to . ' +1 day'));
        foreach (PrestaShopFixtures::$orders as $id => $row) {
            $updated = self::lastUpdate($row);
            if ($updated >= $date_from && $updated <= $to
                && ($id_customer === null || (int) $row['id_customer'] === (int) $id_customer)) {
                $ids[] = (int) $id;
            }
        }

        return $ids;
    }
}

class OrderState extends ObjectModel
{
    /** @var string|array<int, string> */
    public $name;
    public $paid = false;
    public $shipped = false;
    public $logable = false;
    public $delivery = false;

    public function __construct($id = null, $id_lang = null, $id_shop = null)
    {
        if ($id && isset(PrestaShopFixtures::$orderStates[(int) $id])) {
            $row = PrestaShopFixtures::$orderStates[(int) $id];
            $this->id = (int) $id;
            $this->name = $id_lang ? (isset($row['name'][(int) $id_lang]) ? $row['name'][(int) $id_lang] : '') : $row['name'];
            $this->paid = (bool) $row['paid'];
            $this->shipped = (bool) $row['shipped'];
            $this->logable = (bool) $row['logable'];
        }
    }
}

class Customer extends ObjectModel
{
    public $email;
    public $firstname;
    public $lastname;
    public $is_guest = false;

    public function __construct($id = null)
    {
        if ($id && isset(PrestaShopFixtures::$customers[(int) $id])) {
            $row = PrestaShopFixtures::$customers[(int) $id];
            $this->id = (int) $id;
            $this->email = $row['email'];
            $this->firstname = isset($row['firstname']) ? $row['firstname'] : '';
            $this->lastname = isset($row['lastname']) ? $row['lastname'] : '';
        }
    }
}

class Language extends ObjectModel
{
    public $iso_code;

    public function __construct($id = null, $id_lang = null)
    {
        if ($id && isset(PrestaShopFixtures::$languages[(int) $id])) {
            $this->id = (int) $id;
            $this->iso_code = PrestaShopFixtures::$languages[(int) $id];
        }
    }

    public static function getIsoById($id_lang)
    {
        return isset(PrestaShopFixtures::$languages[(int) $id_lang]) ? PrestaShopFixtures::$languages[(int) $id_lang] : false;
    }
}

class Shop extends ObjectModel
{
    public function __construct($id = 1)
    {
        $this->id = (int) $id;
    }
}

class Employee extends ObjectModel
{
    public $email = 'admin@shop.test';
}

class CMS extends ObjectModel
{
    public static function getCMSPages($id_lang = null, $id_cms_category = null, $active = true, $id_shop = null)
    {
        $rows = [];
        foreach (PrestaShopFixtures::$cms as $id => $title) {
            $rows[] = ['id_cms' => $id, 'meta_title' => $title];
        }

        return $rows;
    }
}

class Validate
{
    public static function isLoadedObject($object)
    {
        return is_object($object) && $object->id;
    }

    public static function isEmail($email)
    {
        return !empty($email) && filter_var($email, FILTER_VALIDATE_EMAIL) !== false;
    }
}

class Tools
{
    public static function getValue($key, $default_value = false)
    {
        if (isset($_POST[$key])) {
            return $_POST[$key];
        }

        return isset($_GET[$key]) ? $_GET[$key] : $default_value;
    }

    public static function getIsset($key)
    {
        return isset($_POST[$key]) || isset($_GET[$key]);
    }

    public static function isSubmit($submit)
    {
        return isset($_POST[$submit]) || isset($_POST[$submit . '_x']) || isset($_POST[$submit . '_y'])
            || isset($_GET[$submit]) || isset($_GET[$submit . '_x']) || isset($_GET[$submit . '_y']);
    }

    public static function getAdminTokenLite($tab, $context = null)
    {
        return md5($tab . 'token');
    }

    public static function strtolower($str)
    {
        return mb_strtolower($str, 'utf-8');
    }
}

class Link
{
    public function getModuleLink($module, $controller = 'default', array $params = [], $ssl = null, $idLang = null, $idShop = null, $relativeProtocol = false)
    {
        return 'https://shop.test/index.php?' . http_build_query(['fc' => 'module', 'module' => $module, 'controller' => $controller] + $params);
    }

    public function getAdminLink($controller, $withToken = true, $sfRouteParams = [], $params = [])
    {
        return 'https://shop.test/admin/index.php?controller=' . $controller;
    }
}

class Context
{
    /** @var Context|null */
    private static $instance;

    public $shop;
    public $language;
    public $link;
    public $controller;
    public $customer;
    public $employee;
    public $cookie;

    public static function getContext()
    {
        if (self::$instance === null) {
            self::$instance = new self();
            self::$instance->shop = new Shop(1);
            self::$instance->language = new Language(1);
            self::$instance->link = new Link();
            self::$instance->employee = new Employee();
        }

        return self::$instance;
    }

    public static function reset()
    {
        self::$instance = null;
    }
}

class PrestaShopLogger
{
    /** @var array[] */
    public static $logs = [];

    public static function addLog($message, $severity = 1, $errorCode = null, $objectType = null, $objectId = null, $allowDuplicate = false, $idEmployee = null)
    {
        self::$logs[] = ['message' => $message, 'severity' => $severity, 'object_type' => $objectType, 'object_id' => $objectId];

        return true;
    }
}

abstract class Module
{
    public $name;
    public $tab;
    public $version;
    public $author;
    public $need_instance;
    public $ps_versions_compliancy = [];
    public $bootstrap = false;
    public $displayName;
    public $description;
    public $confirmUninstall;
    public $table = 'module';
    public $identifier = 'id_module';
    public $id;
    /** @var Context */
    public $context;

    /** @var string[] hooks registered, for tests */
    public $registeredHooks = [];
    /** @var bool */
    public $installed = false;

    /** @var Module[] the last instance of each module, for getInstanceByName */
    public static $instances = [];

    public function __construct($name = null, Context $context = null)
    {
        $this->context = $context ?: Context::getContext();
        self::$instances[strtolower(get_class($this))] = $this;
    }

    public static function getInstanceByName($module_name)
    {
        return isset(self::$instances[strtolower((string) $module_name)]) ? self::$instances[strtolower((string) $module_name)] : false;
    }

    public function install()
    {
        $this->installed = true;
        $this->id = 1;

        return true;
    }

    public function uninstall()
    {
        $this->installed = false;

        return true;
    }

    public function registerHook($hook_name, $shop_list = null)
    {
        foreach ((array) $hook_name as $hook) {
            $this->registeredHooks[] = $hook;
        }

        return true;
    }

    /** Translation as Translate::getModuleTranslation: translations/<iso>.php, key <{module}prestashop>source_md5. */
    public function l($string, $specific = false, $locale = null)
    {
        $iso = $locale ?: (isset($this->context->language->iso_code) ? $this->context->language->iso_code : 'en');
        $file = _PS_MODULE_DIR_ . $this->name . '/translations/' . $iso . '.php';
        $_MODULE = [];
        if (is_file($file)) {
            include $file;
        }
        $key = strtolower('<{' . $this->name . '}prestashop>' . ($specific ?: $this->name)) . '_' . md5(str_replace("'", "\\'", $string));

        return isset($_MODULE[$key]) && $_MODULE[$key] !== '' ? stripslashes($_MODULE[$key]) : $string;
    }

    public function displayConfirmation($string)
    {
        return '<div class="alert alert-success">' . $string . '</div>';
    }

    public function displayError($error)
    {
        return '<div class="alert alert-danger">' . (is_array($error) ? implode('<br>', $error) : $error) . '</div>';
    }

    public function displayWarning($warning)
    {
        return '<div class="alert alert-warning">' . $warning . '</div>';
    }
}

class AdminController
{
    public static $currentIndex = 'index.php?controller=AdminModules';
}

class ModuleFrontController
{
    /** @var Module */
    public $module;
    /** @var Context */
    public $context;
    public $ajax = false;
    public $auth = false;
    public $guestAllowed = true;
    public $php_self;
    /** @var string what ajaxRender printed, for tests */
    public $rendered = '';

    /** As ModuleFrontController::__construct (and Controller's): the module from the URL, ajax from the request. */
    public function __construct()
    {
        $this->ajax = Tools::getValue('ajax') || Tools::isSubmit('ajax');
        $this->context = Context::getContext();
        $this->module = Module::getInstanceByName(Tools::getValue('module'));
    }

    /** As Controller::run: postProcess, then displayAjax for an ajax controller, else display. */
    public function run()
    {
        $this->postProcess();
        if ($this->ajax && method_exists($this, 'displayAjax')) {
            $this->displayAjax();
        } else {
            $this->display();
        }
    }

    public function display()
    {
        throw new PrestaShopException('No template to display');
    }

    public function postProcess()
    {
    }

    protected function ajaxRender($value = null, $controller = null, $method = null)
    {
        $this->rendered .= (string) $value;
    }
}

class FormField
{
    private $name = '';
    private $type = 'text';
    private $required = false;
    private $label = '';
    private $value;

    public function setName($name)
    {
        $this->name = $name;

        return $this;
    }

    public function getName()
    {
        return $this->name;
    }

    public function setType($type)
    {
        $this->type = $type;

        return $this;
    }

    public function getType()
    {
        return $this->type;
    }

    public function setRequired($required)
    {
        $this->required = $required;

        return $this;
    }

    public function isRequired()
    {
        return $this->required;
    }

    public function setLabel($label)
    {
        $this->label = $label;

        return $this;
    }

    public function getLabel()
    {
        return $this->label;
    }

    public function setValue($value)
    {
        $this->value = $value;

        return $this;
    }

    public function getValue()
    {
        return $this->value;
    }
}

/** HelperForm: renders the inputs it is given, with their values escaped as the Smarty template does. */
class HelperForm
{
    public $module;
    public $name_controller;
    public $table;
    public $identifier;
    public $token;
    public $currentIndex;
    public $default_form_language;
    public $allow_employee_form_lang;
    public $show_toolbar = true;
    public $submit_action;
    public $fields_value = [];
    public $tpl_vars = [];
    /** @var array the last forms rendered, for tests */
    public static $lastForms = [];

    public function generateForm($fields_form)
    {
        self::$lastForms = $fields_form;
        $html = '<form method="post" action="' . htmlspecialchars($this->currentIndex . '&token=' . $this->token) . '">';
        foreach ($fields_form as $form) {
            $form = $form['form'];
            $html .= '<fieldset><legend>' . htmlspecialchars($form['legend']['title']) . '</legend>';
            foreach ($form['input'] as $input) {
                $name = $input['name'];
                $value = isset($this->fields_value[$name]) ? (string) $this->fields_value[$name] : '';
                $html .= '<label>' . htmlspecialchars($input['label']) . '</label>';
                if ($input['type'] === 'password') {
                    $html .= '<input type="password" name="' . $name . '" value="">';
                } else {
                    $html .= '<input type="' . htmlspecialchars($input['type']) . '" name="' . $name . '" value="' . htmlspecialchars($value) . '">';
                }
                if (!empty($input['desc'])) {
                    $html .= '<p class="help-block">' . htmlspecialchars($input['desc']) . '</p>';
                }
            }
            $html .= '<button type="submit" name="' . $form['submit']['name'] . '">' . htmlspecialchars($form['submit']['title']) . '</button>';
            foreach (isset($form['buttons']) ? $form['buttons'] : [] as $button) {
                $html .= '<button type="submit" name="' . $button['name'] . '">' . htmlspecialchars($button['title']) . '</button>';
            }
            $html .= '</fieldset>';
        }

        return $html . '</form>';
    }
}
}
