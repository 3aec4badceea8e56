<?php

use PHPUnit\Framework\TestCase;

/**
 * A barcode is sent as gtin only when King-Avis would accept it: 12 to 14 digits with a right
 * GS1 check digit (EAN-13, UPC-A, GTIN-14, ISBN-13).
 */
class GtinTest extends TestCase
{
    public function testRightCheckDigits()
    {
        foreach (['3760123450010', '036000291452', '9782070360024', '978-2-07-036002-4', '10012345678902'] as $code) {
            $this->assertTrue(KingAvisEvents::isValidGtin($code), $code);
        }
    }

    public function testWrongOnes()
    {
        foreach (['3760123450011', '', '0000000000000', '12345', '2070360024', 'ABCDEFGHIJKLM', '97820703600241'] as $code) {
            $this->assertFalse(KingAvisEvents::isValidGtin($code), $code);
        }
    }
}
