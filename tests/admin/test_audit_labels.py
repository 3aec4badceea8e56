"""Every action the back-office records has a label on the audit log page."""

from __future__ import annotations

import re

from processes import ROOT

from admin.audit import ACTION_LABELS
from kingavis.review_requests.actions import RequestAction

# audit.record(user, "action", …) or record(user, "action", …) — not other functions named *record.
RECORDED = re.compile(
    r"""(?:audit\.|(?<![\w.]))record\(\s*[^"']*?["']([a-z_]+(?:\.[a-z_]+)*)["']""", re.S
)


def recorded_actions() -> set[str]:
    found: set[str] = set()
    for path in [*ROOT.joinpath("admin").rglob("*.py"), *ROOT.joinpath("kingavis").rglob("*.py")]:
        found.update(RECORDED.findall(path.read_text(encoding="utf-8")))
    # kingavis/review_requests/actions.py records f"review_requests.{action.value}".
    found.update(f"review_requests.{action.value}" for action in RequestAction)
    return found


def test_every_recorded_action_has_a_label() -> None:
    actions = recorded_actions()
    assert {"login", "rule.activate", "collection.update"} <= actions  # the scan finds them
    missing = sorted(actions - set(ACTION_LABELS))
    assert not missing, f"add labels to admin/audit.py ACTION_LABELS for: {missing}"
