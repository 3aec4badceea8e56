"""kingavis.transactions.retry_on_conflict: a unit of work beaten to a unique key by a concurrent
writer is rolled back and run again, three times at most; any other error is rolled back and
raised at once (both DBs, real unique-key conflicts)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from kingavis.extensions import db
from kingavis.models import Shop, ShopStatus
from kingavis.transactions import ATTEMPTS, retry_on_conflict


def statuses(shop: Shop, status_id: str) -> int:
    return db.session.execute(select(func.count()).select_from(ShopStatus).where(
        ShopStatus.shop_id == shop.id, ShopStatus.status_id == status_id)).scalar_one()


def conflicting(shop: Shop, calls: list[int], conflicts: int):
    """Work that writes a status of its own, then, its first ``conflicts`` times, a status the
    shop already has (a unique-key conflict, as a concurrent writer's committed row gives)."""

    def work() -> str:
        calls.append(len(calls) + 1)
        db.session.add(ShopStatus(shop_id=shop.id, status_id=f"mine-{len(calls)}", name="x"))
        if len(calls) <= conflicts:
            db.session.add(ShopStatus(shop_id=shop.id, status_id="5", name="Livré encore"))
        db.session.commit()
        return f"done at attempt {len(calls)}"

    return work


def test_conflicts_are_retried_and_only_the_last_attempt_is_kept(shop) -> None:
    calls: list[int] = []

    assert retry_on_conflict(conflicting(shop, calls, conflicts=2)) == "done at attempt 3"

    assert calls == [1, 2, 3]
    assert [statuses(shop, f"mine-{n}") for n in (1, 2, 3)] == [0, 0, 1]


def test_three_conflicts_in_a_row_raise_the_last_one(shop) -> None:
    calls: list[int] = []

    with pytest.raises(IntegrityError):
        retry_on_conflict(conflicting(shop, calls, conflicts=3))

    assert ATTEMPTS == 3 and calls == [1, 2, 3]
    assert [statuses(shop, f"mine-{n}") for n in (1, 2, 3)] == [0, 0, 0]
    assert db.session.get(Shop, shop.id).name == "Boutique Zoë"  # the session is usable


def test_the_number_of_attempts_can_be_chosen(shop) -> None:
    calls: list[int] = []
    with pytest.raises(IntegrityError):
        retry_on_conflict(conflicting(shop, calls, conflicts=1), attempts=1)
    assert calls == [1]

    calls.clear()
    assert retry_on_conflict(conflicting(shop, calls, conflicts=4), attempts=5) == (
        "done at attempt 5")


def test_any_other_error_is_rolled_back_and_raised_at_once(shop) -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        db.session.add(ShopStatus(shop_id=shop.id, status_id="half", name="x"))
        db.session.flush()
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        retry_on_conflict(work)

    assert calls == [1]
    assert statuses(shop, "half") == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_found_dead_is_replaced_and_the_work_run_once_more(
    shop, database_url: str
) -> None:
    """The pool does not ping a connection on checkout: one the server dropped is found dead
    by the work's first statement, which then runs once more on a new connection."""
    db.session.commit()
    pid = db.session.execute(select(func.pg_backend_pid())).scalar_one()
    db.session.commit()  # the connection goes back to the pool, alive as far as it knows
    killer = create_engine(database_url)
    with killer.connect() as conn:
        assert conn.execute(select(func.pg_terminate_backend(pid))).scalar_one()
    killer.dispose()
    calls: list[int] = []

    def work() -> int:
        calls.append(len(calls) + 1)
        count = db.session.execute(select(func.count()).select_from(Shop)).scalar_one()
        db.session.commit()
        return count

    assert retry_on_conflict(work) == 1
    assert calls == [1, 2]
    assert db.session.execute(select(func.pg_backend_pid())).scalar_one() != pid


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_dead_twice_in_a_row_is_raised(shop, database_url: str) -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(len(calls) + 1)
        pid = db.session.execute(select(func.pg_backend_pid())).scalar_one()
        killer = create_engine(database_url)
        with killer.connect() as conn:
            conn.execute(select(func.pg_terminate_backend(pid)))
        killer.dispose()
        db.session.execute(select(func.count()).select_from(Shop))

    with pytest.raises(OperationalError):
        retry_on_conflict(work)
    assert calls == [1, 2]
