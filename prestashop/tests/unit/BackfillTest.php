<?php

class BackfillTest extends ModuleTestCase
{
    protected function setUp(): void
    {
        parent::setUp();
        $this->configure();
        // Now: 22 November 2026 10:00 in Paris.
        $this->addOrder(1, ['date_add' => '2026-11-20 08:00:00', 'current_state' => 5, 'history' => [
            ['id_order_history' => 11, 'id_order_state' => 2, 'date_add' => '2026-11-20 08:00:05'],
            ['id_order_history' => 12, 'id_order_state' => 4, 'date_add' => '2026-11-20 15:00:00'],
            ['id_order_history' => 13, 'id_order_state' => 5, 'date_add' => '2026-11-21 11:30:00'],
        ]]);
        $this->addOrder(2, ['date_add' => '2026-11-01 08:00:00', 'current_state' => 6, 'history' => [
            ['id_order_history' => 21, 'id_order_state' => 6, 'date_add' => '2026-11-02 09:00:00'],
        ]]);
        $this->addOrder(3, ['date_add' => '2026-09-01 08:00:00', 'current_state' => 5, 'history' => [
            ['id_order_history' => 31, 'id_order_state' => 5, 'date_add' => '2026-09-05 09:00:00'],
        ]]);
    }

    public function testSendsTheCurrentStatusOfTheOrdersOfTheLastDays()
    {
        $counts = $this->module->backfill(30);
        $this->assertSame(['orders' => 2, 'queued' => 2, 'known' => 0, 'left' => 0, 'delivered' => 2, 'rejected' => 0, 'pending' => 0], $counts);
        $this->assertCount(2, $this->transport->requests);
        $first = $this->transport->json(0)['data'];
        $this->assertSame('1', $first['order']['id']);
        $this->assertSame(['id' => '5', 'name' => 'Livré', 'paid' => true, 'shipped' => true], $first['status']);
        $this->assertSame('2026-11-21T11:30:00+01:00', $first['changed_at'], 'when the order reached it');
        $this->assertSame('6', $this->transport->json(1)['data']['status']['id']);
    }

    public function testRunningItAgainSendsNothingTwice()
    {
        $this->module->backfill(30);
        $ids = array_column(array_column($this->transport->requests, 'headers'), 'webhook-id');
        $again = $this->module->backfill(30);
        $this->assertSame(0, $again['queued']);
        $this->assertSame(2, $again['known']);
        $this->assertCount(2, $this->transport->requests);

        // Even with the module's table emptied, the ids are the same: King-Avis replays them.
        Db::getInstance()->execute('DELETE FROM ps_kingavis_event');
        $this->module->backfill(30);
        $this->assertSame($ids, array_slice(array_column(array_column($this->transport->requests, 'headers'), 'webhook-id'), 2));
    }

    public function testAnOrderWhoseStatusTheHookAlreadySentIsSkipped()
    {
        PrestaShopFixtures::$orders[1]['current_state'] = 5;
        $this->changeStatus(1, 5, 4);
        $counts = $this->module->backfill(30);
        $this->assertSame(1, $counts['known']);
        $this->assertSame(1, $counts['queued']);
    }

    public function testLargeShopsGoInBatchesAndContinueOnTheNextClick()
    {
        for ($id = 100; $id < 100 + KingAvis::BACKFILL_BATCH + 5; ++$id) {
            $this->addOrder($id, ['date_add' => '2026-11-10 10:00:00', 'current_state' => 3, 'history' => [
                ['id_order_history' => $id * 10, 'id_order_state' => 3, 'date_add' => '2026-11-10 10:00:00'],
            ]]);
        }
        $this->transport->answers = [new KingAvisResponse(503, [], '{}')];
        $counts = $this->module->backfill(30);
        $this->assertSame(KingAvis::BACKFILL_BATCH, $counts['queued']);
        $this->assertSame(7, $counts['left']);
        $this->assertSame(1, count($this->transport->requests), 'stops sending at the first failure');
        $counts = $this->module->backfill(30);
        $this->assertSame(7, $counts['queued']);
        $this->assertSame(0, $counts['left']);
        $this->assertSame(KingAvis::BACKFILL_BATCH + 7, $this->module->outbox()->countPending());
    }

    public function testTheButtonChecksTheNumberOfDays()
    {
        foreach (['0', '366', 'abc', '3.5', ''] as $days) {
            $_POST = ['submitKingavisBackfill' => '1', 'KINGAVIS_BACKFILL_DAYS' => $days];
            $this->assertStringContainsString('alert-danger', $this->module->getContent());
        }
        $this->assertCount(0, $this->rows());
        $_POST = ['submitKingavisBackfill' => '1', 'KINGAVIS_BACKFILL_DAYS' => '30'];
        $page = $this->module->getContent();
        $this->assertStringContainsString('2 commandes trouvées', $page);
        $this->assertCount(2, $this->transport->requests);
    }
}
