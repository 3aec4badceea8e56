"""`make test` runs pytest-xdist workers side by side: each one needs a Redis database of its own."""

from __future__ import annotations

import pytest
from conftest import worker_redis_url


def test_each_worker_gets_the_next_redis_database_and_a_single_process_the_base() -> None:
    base = "redis://127.0.0.1:6379/12"
    assert worker_redis_url(base, "main") == base
    assert worker_redis_url(base, "gw0") == base
    assert worker_redis_url(base, "gw1") == "redis://127.0.0.1:6379/13"
    assert worker_redis_url("redis://:pw@cache:6380", "gw2") == "redis://:pw@cache:6380/2"


def test_a_group_of_tests_stays_on_one_worker_in_file_order(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make test` relies on `--dist loadgroup` keeping a group on one worker, in order: the
    real-PrestaShop tests share one installed shop and the browser tests one Chromium. pytest
    9.2 silently broke this with pytest-xdist 3.8 (every test was scheduled alone); this run
    of the project's own grouping hook says so if an upgrade breaks it again."""
    pytester.makeconftest(
        "import pytest\n"
        "pytest_plugins = []\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        if item.get_closest_marker('prestashop'):\n"
        "            item.add_marker(pytest.mark.xdist_group('prestashop'))\n"
    )
    pytester.makeini("[pytest]\nmarkers =\n    prestashop: grouped\n")
    body = (
        "import os, pytest\n"
        "pytestmark = pytest.mark.prestashop\n"
        + "".join(
            f"def test_{n}():\n"
            f"    with open(os.environ['ORDER_FILE'], 'a') as f:\n"
            f"        f.write(os.environ['PYTEST_XDIST_WORKER'] + ' {n}\\n')\n"
            for n in range(8)
        )
        + "".join(f"def test_other_{n}():\n    pass\n" for n in range(20))
    )
    pytester.makepyfile(test_grouped=body)
    order = pytester.path / "order.txt"
    monkeypatch.setenv("ORDER_FILE", str(order))
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=28)
    lines = [line.split() for line in order.read_text().splitlines()]
    assert len({worker for worker, _ in lines}) == 1, lines
    assert [int(n) for _, n in lines] == list(range(8))


def test_no_test_file_imports_a_test_file_of_another_folder() -> None:
    """`pytest tests/orders` must run alone (docs/tests.md): a test file that imported another
    folder's test file would find it only when that folder was collected too."""
    import ast
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    borrowed = []
    for path in sorted(tests.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith("test_") and not (path.parent / f"{name}.py").exists():
                    borrowed.append(f"{path.relative_to(tests)} imports {name}")
    assert not borrowed, "\n".join(borrowed)
