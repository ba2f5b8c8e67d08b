"""``flower_config``: auth is mandatory, credentials are parsed without ever being echoed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from wiring.settings import Settings
from worker.flower.config import (
    DEFAULT_STATE_FILE,
    STATE_SAVE_INTERVAL_MS,
    FlowerConfigError,
    flower_config,
    parse_basic_auth,
)
from worker.flower.server import flower_control_routes, rbsync_handlers
from worker.flower.templates import (
    INSERTIONS,
    Insertion,
    RbsyncTemplateLoader,
    TemplateAnchorMissingError,
    insert_include,
)


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg]


def test_without_basic_auth_flower_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(FlowerConfigError) as refused:
        flower_config(_settings(tmp_path))
    assert str(refused.value).startswith("RBSYNC_FLOWER_BASIC_AUTH is not set")
    assert "--insecure-no-auth" in str(refused.value)


def test_the_insecure_flag_starts_without_auth(tmp_path: Path) -> None:
    config = flower_config(_settings(tmp_path), insecure=True)
    assert config.basic_auth == ()
    assert config.insecure is True
    assert config.users == ()


def test_configured_auth_wins_over_the_insecure_flag(tmp_path: Path) -> None:
    config = flower_config(_settings(tmp_path, flower_basic_auth="ops:pw"), insecure=True)
    assert config.insecure is False
    assert config.users == ("ops",)


def test_defaults_come_from_the_settings(tmp_path: Path) -> None:
    config = flower_config(
        _settings(tmp_path, flower_basic_auth="ops:pw, audit:pw2", flower_port=5600)
    )
    assert [entry.get_secret_value() for entry in config.basic_auth] == ["ops:pw", "audit:pw2"]
    assert config.users == ("ops", "audit")
    assert config.port == 5600
    assert config.address == "127.0.0.1"
    assert config.state_db == tmp_path / DEFAULT_STATE_FILE
    assert config.state_save_interval_ms == STATE_SAVE_INTERVAL_MS
    assert config.control is False
    assert "pw" not in repr(config)


def test_options_override_the_settings(tmp_path: Path) -> None:
    config = flower_config(
        _settings(tmp_path, flower_basic_auth="ops:pw", flower_db=tmp_path / "f" / "state"),
        address="0.0.0.0",
        port=6000,
        url_prefix="/flower/",
    )
    assert (config.address, config.port, config.url_prefix) == ("0.0.0.0", 6000, "flower")
    assert config.state_db == tmp_path / "f" / "state"


@pytest.mark.parametrize(
    ("value", "position"),
    [("nocolon", 1), ("ops:", 1), (":pw", 1), ("ops:pw,", 2), ("ops:pw,,a:b", 2)],
)
def test_a_malformed_credential_is_named_by_position_only(value: str, position: int) -> None:
    with pytest.raises(FlowerConfigError) as refused:
        parse_basic_auth(SecretStr(value))
    assert str(refused.value) == f"RBSYNC_FLOWER_BASIC_AUTH entry {position} is not 'user:password'"


def test_a_password_may_contain_colons() -> None:
    (entry,) = parse_basic_auth(SecretStr("ops:a:b:c"))
    assert entry.get_secret_value() == "ops:a:b:c"


def test_the_installed_flower_templates_have_every_anchor() -> None:
    loader = RbsyncTemplateLoader()
    for name, insertion in INSERTIONS.items():
        compiled = loader.load(name)
        # tornado inlines an include, tagging each generated line with the file it came from.
        assert re.search(rf"# {re.escape(insertion.include)}:\d+ \(via {name}:", compiled.code)
        source = (Path(loader.root) / name).read_text(encoding="utf-8")
        assert source.count(insertion.anchor) == 1, name


def test_insert_include_places_it_after_the_anchor_and_fails_loudly_without() -> None:
    insertion = Insertion("<b>", "rbsync/x.html")
    assert insert_include("t.html", "a<b>c", insertion) == 'a<b>\n{% include "rbsync/x.html" %}\nc'
    with pytest.raises(TemplateAnchorMissingError) as missing:
        insert_include("t.html", "a<i>c", insertion)
    assert "Flower's t.html has no '<b>'" in str(missing.value)


def test_rbsync_flower_control_turns_flowers_remote_control_on(tmp_path: Path) -> None:
    settings = _settings(tmp_path, flower_basic_auth="ops:pw", flower_control=True)
    assert flower_config(settings).control is True


def test_the_gate_covers_every_write_endpoint_of_the_installed_flower() -> None:
    # Read from Flower's route table: an upgrade that changes this list fails here, to be looked
    # at (a new write endpoint is refused anyway; a read-only one that moved is no longer gated).
    assert flower_control_routes() == [
        "/api/worker/shutdown/(.+)",
        "/api/worker/pool/restart/(.+)",
        "/api/worker/pool/grow/(.+)",
        "/api/worker/pool/shrink/(.+)",
        "/api/worker/pool/autoscale/(.+)",
        "/api/worker/queue/add-consumer/(.+)",
        "/api/worker/queue/cancel-consumer/(.+)",
        "/api/task/apply/(.+)",
        "/api/task/async-apply/(.+)",
        "/api/task/send-task/(.+)",
        "/api/task/abort/(.+)",
        "/api/task/timeout/(.+)",
        "/api/task/rate-limit/(.+)",
        "/api/task/revoke/(.+)",
    ]


@pytest.mark.parametrize("prefix", ["", "flower"])
def test_the_gate_and_metrics_follow_the_url_prefix_and_vanish_with_control_on(
    prefix: str,
) -> None:
    def patterns(*, control: bool) -> list[str]:
        return [rule.regex.pattern for rule in rbsync_handlers(prefix, control=control)]

    root = f"/{prefix}" if prefix else ""
    gated = patterns(control=False)
    assert f"{root}/metrics$" in gated
    assert f"{root}/api/worker/shutdown/(.+)$" in gated
    assert f"{root}/api/task/revoke/(.+)$" in gated
    assert patterns(control=True) == [
        f"{root}/rbsync/retry/([0-9a-fA-F-]+)$",
        f"{root}/rbsync/retry-failed$",
        f"{root}/rbsync/entities$",
        f"{root}/rbsync/entities/([^/]+)/([^/]+)$",
        f"{root}/rbsync/resync/([^/]+)/([^/]+)$",
        f"{root}/metrics$",
    ]
