<?php
/**
 * PHPUnit bootstrap: the PrestaShop stand-ins, then the module as PrestaShop loads it.
 */
require_once __DIR__ . '/stubs/prestashop.php';
require_once dirname(__DIR__) . '/kingavis/kingavis.php';
require_once dirname(__DIR__) . '/kingavis/controllers/front/cron.php';
require_once __DIR__ . '/unit/ModuleTestCase.php';
