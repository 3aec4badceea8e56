<?php

class InstallTest extends ModuleTestCase
{
    public function testInstallCreatesOnlyItsOwnTablesAndRegistersTheHooks()
    {
        $creates = array_values(array_filter(Db::$log, function ($sql) {
            return stripos($sql, 'CREATE TABLE') !== false;
        }));
        $this->assertCount(2, $creates);
        foreach ($creates as $sql) {
            $this->assertMatchesRegularExpression('/^CREATE TABLE IF NOT EXISTS `ps_kingavis_(event|consent)`/', trim($sql));
        }
        foreach (Db::$log as $sql) {
            // Nothing written in a core table (configuration goes through Configuration).
            if (preg_match('/^\s*(INSERT|UPDATE|DELETE|ALTER|DROP)\b[^`]*`([^`]+)`/i', $sql, $m)) {
                $this->assertContains($m[2], ['ps_kingavis_event', 'ps_kingavis_consent', 'ps_configuration'], $sql);
            }
        }
        $this->assertEqualsCanonicalizing(KingAvis::HOOKS, $this->module->registeredHooks);
        foreach (['actionOrderStatusPostUpdate', 'actionValidateOrder', 'registerGDPRConsent', 'actionDeleteGDPRCustomer',
            'actionExportGDPRData', 'displayFooter'] as $hook) {
            $this->assertContains($hook, $this->module->registeredHooks);
        }
        $this->assertMatchesRegularExpression('/^[0-9a-f]{32}$/', Configuration::get(KingAvisSettings::CRON_TOKEN));
    }

    public function testInstallingTwiceKeepsTheQueueAndUninstallDropsOnlyItsTables()
    {
        $this->configure();
        $this->addOrder();
        $this->transport->answers = [new KingAvisResponse(0, [], '', 'Connection refused')];
        $this->changeStatus(1234, 5, 4);
        $this->assertCount(1, $this->rows());
        $this->assertTrue($this->newModule()->install());
        $this->assertCount(1, $this->rows(), 'CREATE TABLE IF NOT EXISTS keeps what is queued');

        Db::$log = [];
        $this->assertTrue($this->module->uninstall());
        $this->assertNotContains('ps_kingavis_event', Db::getInstance()->tables());
        $this->assertNotContains('ps_kingavis_consent', Db::getInstance()->tables());
        $this->assertContains('ps_configuration', Db::getInstance()->tables());
        foreach (Db::$log as $sql) {
            if (stripos($sql, 'DROP TABLE') !== false) {
                $this->assertMatchesRegularExpression('/DROP TABLE IF EXISTS `ps_kingavis_(event|consent)`/', $sql);
            }
        }
        $this->assertFalse(Configuration::get(KingAvisSettings::SECRET));
        $this->assertFalse(Configuration::get(KingAvisSettings::CRON_TOKEN));
        $this->assertSame('Europe/Paris', Configuration::get('PS_TIMEZONE'), 'the shop\'s own settings stay');
    }

    public function testModuleDeclaresItselfAsPrestaShopExpects()
    {
        $this->assertSame('kingavis', $this->module->name);
        $this->assertTrue($this->module->bootstrap);
        $this->assertSame('8.0.0', $this->module->ps_versions_compliancy['min']);
        $config = simplexml_load_file(dirname(__DIR__, 2) . '/kingavis/config.xml');
        $this->assertSame('kingavis', (string) $config->name);
        $this->assertSame($this->module->version, (string) $config->version);
        $this->assertSame('1', (string) $config->is_configurable);
        $logo = getimagesize(dirname(__DIR__, 2) . '/kingavis/logo.png');
        $this->assertSame(IMAGETYPE_PNG, $logo[2]);
    }
}
