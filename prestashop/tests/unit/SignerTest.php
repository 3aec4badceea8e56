<?php

use PHPUnit\Framework\TestCase;

class SignerTest extends TestCase
{
    const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

    public function testSignsLikeTheStandardWebhooksReference()
    {
        // The Standard Webhooks specification's own example (also what the Python package signs).
        $this->assertSame(
            'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
            KingAvisSigner::sign(self::SECRET, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')
        );
    }

    public function testVerifyAcceptsAnyMatchingEntryAndRefusesATamperedBody()
    {
        $good = KingAvisSigner::sign(self::SECRET, 'msg_1', 1700000000, '{"a":1}');
        $this->assertTrue(KingAvisSigner::verify(self::SECRET, 'msg_1', 1700000000, '{"a":1}', 'v1,AAAA ' . $good));
        $this->assertFalse(KingAvisSigner::verify(self::SECRET, 'msg_1', 1700000000, '{"a":2}', $good));
        $this->assertFalse(KingAvisSigner::verify(self::SECRET, 'msg_1', 1700000001, '{"a":1}', $good));
    }

    public function testHeadersCarryIdTimestampAndSignature()
    {
        $headers = KingAvisSigner::headers(self::SECRET, 'msg_2', '{}', 1700000000);
        $this->assertSame(['webhook-id', 'webhook-timestamp', 'webhook-signature'], array_keys($headers));
        $this->assertSame('1700000000', $headers['webhook-timestamp']);
        $this->assertTrue(KingAvisSigner::verify(self::SECRET, 'msg_2', 1700000000, '{}', $headers['webhook-signature']));
    }

    /**
     * @dataProvider badSecrets
     */
    public function testOnlyWhsecSecretsWithABase64KeyAreValid($secret)
    {
        $this->assertFalse(KingAvisSigner::isValidSecret($secret));
        $this->expectException(InvalidArgumentException::class);
        KingAvisSigner::sign($secret, 'msg', 1, '{}');
    }

    public function badSecrets()
    {
        return [[''], ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], ['whsec_'], ['whsec_not base64!'], ['whsec_c2hvcnQ=']];
    }
}
