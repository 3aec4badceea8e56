<?php

class DisplayTest extends ModuleTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        $this->configure();
        Configuration::updateValue(KingAvisSettings::SLUG, 'boutique-zoe');
    }

    public function testTheBadgeGoesInTheFooterOnlyWhenEnabled()
    {
        $this->assertSame('', $this->module->hookDisplayFooter([]));
        Configuration::updateValue(KingAvisSettings::BADGE_FOOTER, 1);
        $html = $this->module->hookDisplayFooter([]);
        $this->assertSame(
            '<div class="kingavis-badge"><a href="https://avis.example.com/avis/boutique-zoe" target="_blank" rel="noopener">'
            . '<img src="https://avis.example.com/api/v1/shops/boutique-zoe/badge.svg" alt="Avis clients vérifiés par King-Avis" loading="lazy"></a></div>',
            $html
        );
        $doc = new DOMDocument();
        $this->assertTrue($doc->loadHTML('<?xml encoding="utf-8"?>' . $html, LIBXML_NOERROR));
    }

    public function testTheWidgetGoesOnTheChosenPage()
    {
        Configuration::updateValue(KingAvisSettings::WIDGET_REVIEWS, 3);
        $expected = '<div class="kingavis-widget" data-kingavis-shop="boutique-zoe" data-kingavis-reviews="3" data-lang="fr"></div>'
            . '<script src="https://avis.example.com/widget.js" async></script>';
        $this->assertSame('', $this->module->hookDisplayHome([]));
        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, 'home');
        $this->assertSame($expected, $this->module->hookDisplayHome([]));
        $this->assertSame('', $this->module->hookDisplayFooterProduct([]));

        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, 'product');
        $this->assertSame('', $this->module->hookDisplayHome([]));
        $this->assertSame($expected, $this->module->hookDisplayFooterProduct([]));

        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, 'cms');
        Configuration::updateValue(KingAvisSettings::WIDGET_CMS, 4);
        $controller = new ModuleFrontController();
        $controller->php_self = 'cms';
        Context::getContext()->controller = $controller;
        $_GET = ['id_cms' => '3'];
        $this->assertSame('', $this->module->hookDisplayFooter([]));
        $_GET = ['id_cms' => '4'];
        $this->assertSame($expected, $this->module->hookDisplayFooter([]));
    }

    public function testTheWidgetFollowsTheVisitorsLanguageAndCanShowNoReviews()
    {
        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, 'home');
        Configuration::updateValue(KingAvisSettings::WIDGET_REVIEWS, 0);
        Context::getContext()->language = new Language(2);
        $this->assertStringStartsWith('<div class="kingavis-widget" data-kingavis-shop="boutique-zoe" data-lang="en"></div>', $this->module->hookDisplayHome([]));
        PrestaShopFixtures::$languages[3] = 'de';
        Context::getContext()->language = new Language(3);
        $this->assertStringStartsWith('<div class="kingavis-widget" data-kingavis-shop="boutique-zoe"></div>', $this->module->hookDisplayHome([]));
    }

    public function testNothingIsShownWithoutASlugAndValuesAreEscaped()
    {
        Configuration::updateValue(KingAvisSettings::BADGE_FOOTER, 1);
        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, 'home');
        Configuration::updateValue(KingAvisSettings::SLUG, '');
        $this->assertSame('', $this->module->hookDisplayFooter([]));
        $this->assertSame('', $this->module->hookDisplayHome([]));

        Configuration::updateValue(KingAvisSettings::SLUG, 'a"b');
        Configuration::updateValue(KingAvisSettings::URL, 'https://avis.example.com/k"a');
        $this->assertStringNotContainsString('"b', $this->module->hookDisplayHome([]));
    }
}
