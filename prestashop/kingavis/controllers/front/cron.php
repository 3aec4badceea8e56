<?php
/**
 * King-Avis for PrestaShop.
 *
 * @author    King-Avis
 * @copyright King-Avis
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
    /** @var int */
    private $status = 200;

    public function __construct()
    {
        parent::__construct();
        // Controller::__construct sets ajax from the request; this controller only answers JSON.
        $this->ajax = true;
    }

    public function postProcess()
    {
        if (!$this->module instanceof KingAvis || !$this->module->isCronToken(Tools::getValue('token'))) {
            $this->status = 403;
            $this->result = ['error' => 'invalid token'];

            return;
        }
        $this->result = $this->module->runCron();
    }

    public function displayAjax()
    {
        if (!headers_sent()) {
            http_response_code($this->status);
            header('Content-Type: application/json');
            header('Cache-Control: no-store');
        }
        $this->ajaxRender(json_encode($this->result));
    }
}
