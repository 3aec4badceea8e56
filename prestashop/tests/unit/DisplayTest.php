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

    /** One page of the shop: a new request, so a new module instance. */
    private function page()
    {
        return $this->module = $this->newModule();
    }

    public function testTheWidgetGoesOnTheChosenPage()
    {
        Configuration::updateValue(KingAvisSettings::WIDGET_REVIEWS, 3);
        $expected = '<div class="kingavis-widget" data-kingavis-shop="boutique-zoe" data-kingavis-reviews="3" data-lang="fr"></div>'
            . '<script src="https://avis.example.com/widget.js" async></script>';
        $this->assertSame('', $this->page()->hookDisplayHome([]));
        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, 'home');
        $this->assertSame($expected, $this->page()->hookDisplayHome([]));
        $this->assertSame('', $this->page()->hookDisplayFooterProduct([]));

        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, 'product');
        $this->assertSame('', $this->page()->hookDisplayHome([]));
        $this->assertSame($expected, $this->page()->hookDisplayFooterProduct([]));

        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, 'cms');
        Configuration::updateValue(KingAvisSettings::WIDGET_CMS, 4);
        $_GET = ['id_cms' => '3'];
        $controller = new ModuleFrontController();
        $controller->php_self = 'cms';
        Context::getContext()->controller = $controller;
        $this->assertSame('', $this->page()->hookDisplayFooter([]));
        $_GET = ['id_cms' => '4'];
        $this->assertSame($expected, $this->page()->hookDisplayFooter([]));
    }

    public function testAThemeCanPlaceTheWidgetAnywhereAndThePageLoadsTheScriptOnce()
    {
        $this->assertInstanceOf(PrestaShop\PrestaShop\Core\Module\WidgetInterface::class, $this->module);
        $first = $this->page()->renderWidget(null, ['reviews' => 2]);
        $this->assertSame('<div class="kingavis-widget" data-kingavis-shop="boutique-zoe" data-kingavis-reviews="2" data-lang="fr"></div>'
            . '<script src="https://avis.example.com/widget.js" async></script>', $first);
        $second = $this->module->renderWidget('displayLeftColumn', []);
        $this->assertSame('<div class="kingavis-widget" data-kingavis-shop="boutique-zoe" data-kingavis-reviews="5" data-lang="fr"></div>', $second);
        $this->assertSame(['slug' => 'boutique-zoe', 'url' => 'https://avis.example.com', 'reviews' => 2],
            $this->module->getWidgetVariables(null, ['reviews' => 2]));
    }

    public function testTheWidgetFollowsTheVisitorsLanguageAndCanShowNoReviews()
    {
        Configuration::updateValue(KingAvisSettings::WIDGET_PAGE, 'home');
        Configuration::updateValue(KingAvisSettings::WIDGET_REVIEWS, 0);
        Context::getContext()->language = new Language(2);
        $this->assertStringStartsWith('<div class="kingavis-widget" data-kingavis-shop="boutique-zoe" data-lang="en"></div><script', $this->page()->hookDisplayHome([]));
        PrestaShopFixtures::$languages[3] = 'de';
        Context::getContext()->language = new Language(3);
        $this->assertStringStartsWith('<div class="kingavis-widget" data-kingavis-shop="boutique-zoe"></div><script', $this->page()->hookDisplayHome([]));
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
