<?php

use PHPUnit\Framework\TestCase;

/**
 * Every string the module shows goes through $this->l() with a literal, and has a French and an
 * English translation in translations/, keyed as PrestaShop's Translate::getModuleTranslation does.
 */
class TranslationsTest extends TestCase
{
    private static function strings()
    {
        $source = file_get_contents(dirname(__DIR__, 2) . '/kingavis/kingavis.php');
        preg_match_all("/->l\\('((?:[^'\\\\]|\\\\.)*)'\\)/", $source, $matches);
        $all = preg_match_all('/->l\(/', $source);
        return [array_unique(array_map('stripslashes', $matches[1])), $all, count($matches[1])];
    }

    private static function catalog($iso)
    {
        $_MODULE = [];
        include dirname(__DIR__, 2) . '/kingavis/translations/' . $iso . '.php';

        return $_MODULE;
    }

    public function testEveryCallUsesOneLiteral()
    {
        list(, $calls, $literal) = self::strings();
        $this->assertSame($calls, $literal, 'PrestaShop only finds translations of literal strings');
    }

    /**
     * @dataProvider languages
     */
    public function testEveryStringIsTranslated($iso)
    {
        list($strings) = self::strings();
        $catalog = self::catalog($iso);
        $this->assertGreaterThan(40, count($strings));
        foreach ($strings as $string) {
            $key = '<{kingavis}prestashop>kingavis_' . md5(str_replace("'", "\\'", $string));
            $this->assertArrayHasKey($key, $catalog, $iso . ': ' . $string);
            $this->assertNotSame('', $catalog[$key], $string);
            $this->assertSame(substr_count($string, '%'), substr_count($catalog[$key], '%'), 'same placeholders: ' . $string);
        }
        $this->assertCount(count($strings), $catalog, 'no leftover translations');
    }

    public function languages()
    {
        return [['fr'], ['en']];
    }

    public function testFrenchIsFrench()
    {
        $catalog = self::catalog('fr');
        $key = '<{kingavis}prestashop>kingavis_' . md5('Send a test event');
        $this->assertSame('Envoyer un événement de test', $catalog[$key]);
    }
}
