<?php
/**
 * King-Avis for PrestaShop
 *
 * NOTICE OF LICENSE
 *
 * This source file is subject to the Academic Free License 3.0 (AFL-3.0)
 * that is bundled with this package in the file LICENSE.md.
 * It is also available through the world-wide-web at this URL:
 * https://opensource.org/licenses/AFL-3.0
 *
 * @author    King-Avis
 * @copyright King-Avis
 * @license   https://opensource.org/licenses/AFL-3.0 Academic Free License 3.0 (AFL-3.0)
 */
if (!defined('_PS_VERSION_')) {
    exit;
}

/**
 * The cron task: index.php?fc=module&module=kingavis&controller=cron&token=<token>.
 * Sends the webhooks that are due again and answers a JSON summary; a wrong token gets 403.
 */
class KingavisCronModuleFrontController extends ModuleFrontController
{
    /** @var bool */
    public $auth = false;
    /** @var bool */
    public $guestAllowed = true;
    /** @var array */
    private $result = [];
    /**
     * @var int the HTTP status to answer; not named $status, which ControllerCore declares
     */
    private $answerStatus = 200;

    public function __construct()
    {
        parent::__construct();
        // Controller::__construct sets ajax from the request; this controller only answers JSON.
        $this->ajax = true;
    }

    public function postProcess()
    {
        if (!$this->module instanceof KingAvis || !$this->module->isCronToken(Tools::getValue('token'))) {
            $this->answerStatus = 403;
            $this->result = ['error' => 'invalid token'];

            return;
        }
        $this->result = $this->module->runCron();
    }

    public function displayAjax()
    {
        if (!headers_sent()) {
            http_response_code($this->answerStatus);
            header('Content-Type: application/json');
            header('Cache-Control: no-store');
        }
        $this->ajaxRender(json_encode($this->result));
    }
}
