<?php
/**
 * PHPUnit bootstrap: the module's classes that need no PrestaShop (signing, HTTP). Everything
 * that touches PrestaShop is tested on a real shop (tests/prestashop/test_prestashop_real.py).
 */
define('_PS_VERSION_', '8.1.2');
require_once dirname(__DIR__) . '/kingavis/classes/KingAvisSigner.php';
require_once dirname(__DIR__) . '/kingavis/classes/KingAvisTransport.php';
require_once dirname(__DIR__) . '/kingavis/classes/KingAvisEvents.php';
