"""Rule 7 with the suppression list (docs/deliverability.md): where several reasons apply, the
first of no_consent, complained, unsubscribed, bounced, recent_request is given — at
scheduling and at send time alike. Pure functions, no database."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kingavis.models import RequestState
from kingavis.scheduling import send_time_decision, suppression_reason

ORDER = ["no_consent", "complained", "unsubscribed", "bounced", "recent_request"]


@given(consent=st.sampled_from([True, False, None]), require=st.booleans(),
       unsubscribed=st.booleans(), recent=st.booleans(),
       suppressed=st.sampled_from([None, "bounced", "complained"]))
def test_the_first_applicable_reason_in_the_contract_order(consent, require, unsubscribed, recent,
                                                           suppressed) -> None:
    applies = {
        "no_consent": consent is False or (require and consent is not True),
        "complained": suppressed == "complained",
        "unsubscribed": unsubscribed,
        "bounced": suppressed == "bounced",
        "recent_request": recent,
    }
    expected = next((reason for reason in ORDER if applies[reason]), None)
    assert suppression_reason(review_consent=consent, require_consent=require,
                              unsubscribed=unsubscribed, recent_request=recent,
                              suppressed=suppressed) == expected


def test_named_cases() -> None:
    def reason(**facts: object) -> str | None:
        base: dict[str, object] = {"review_consent": True, "require_consent": False,
                                   "unsubscribed": False, "recent_request": False,
                                   "suppressed": None}
        return suppression_reason(**{**base, **facts})  # type: ignore[arg-type]

    assert reason(suppressed="complained", unsubscribed=True) == "complained"
    assert reason(suppressed="bounced", unsubscribed=True) == "unsubscribed"
    assert reason(suppressed="bounced", recent_request=True) == "bounced"
    assert reason(review_consent=False, suppressed="complained") == "no_consent"


def test_send_time_a_suppressed_address_is_suppressed_after_the_order_checks() -> None:
    facts = {"latest_status_id": "5", "latest_status_paid": True,
             "cancel_status_ids": frozenset({"6"}), "review_consent": True,
             "require_consent": False, "unsubscribed": False}
    assert send_time_decision(**facts, suppressed="bounced") == (RequestState.SUPPRESSED, "bounced")
    assert send_time_decision(**{**facts, "latest_status_id": "6"}, suppressed="bounced") == (
        RequestState.CANCELLED, "order_cancelled")
    assert send_time_decision(**facts) is None


def test_configuration_of_the_bounce_domain_and_dkim(tmp_path) -> None:
    import pytest

    from kingavis.config import ConfigError, load_config

    base = {"SECRET_KEY": "k" * 40}
    config = load_config(tmp_path, env=base)
    assert (config["KINGAVIS_BOUNCE_DOMAIN"], config["KINGAVIS_DKIM_SELECTOR"],
            config["KINGAVIS_DKIM_KEY_FILE"]) == (None, None, None)
    config = load_config(tmp_path, env={**base, "KINGAVIS_BOUNCE_DOMAIN": "Bounce.Example.COM."})
    assert config["KINGAVIS_BOUNCE_DOMAIN"] == "bounce.example.com"
    with pytest.raises(ConfigError, match="KINGAVIS_BOUNCE_DOMAIN must be a domain name"):
        load_config(tmp_path, env={**base, "KINGAVIS_BOUNCE_DOMAIN": "not a domain"})
    with pytest.raises(ConfigError, match="KINGAVIS_DKIM_KEY_FILE does not exist"):
        load_config(tmp_path, env={**base, "KINGAVIS_DKIM_SELECTOR": "ka1",
                                   "KINGAVIS_DKIM_KEY_FILE": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError, match="KINGAVIS_DKIM_SELECTOR must be a DNS label"):
        load_config(tmp_path, env={**base, "KINGAVIS_DKIM_SELECTOR": "bad selector"})


def test_envelope_addresses() -> None:
    from kingavis.delivery.envelope import envelope_sender, token_of

    token = "0123456789abcdef0123456789abcdef"
    address = envelope_sender(token, "Bounce.Example.com")
    assert address == f"bounces+{token}@bounce.example.com"
    assert token_of(address.upper(), "bounce.example.com") == token
    assert token_of(f"<{address}>", "bounce.example.com") == token
    assert token_of(address, "other.example.com") is None
    assert token_of(f"bounces+{token[:-1]}@bounce.example.com", "bounce.example.com") is None
    assert token_of("postmaster@bounce.example.com", "bounce.example.com") is None
    assert envelope_sender(None, "bounce.example.com") is None
    assert envelope_sender(token, None) is None
