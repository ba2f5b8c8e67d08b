"""docker-compose.yml, Dockerfile, .dockerignore: the production layout, checked without an engine.

``docker compose config`` validates the file against the Compose specification when the compose
plugin is installed; the other tests read the file as Compose would (YAML, merge keys, ``${}``
interpolation) and check what rbsync relies on.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
RBSYNC = str(Path(sys.executable).with_name("rbsync"))
SECRET_VARIABLES = (
    "RACKBEAT_API_TOKEN",
    "POWEROFFICE_APPLICATION_KEY",
    "POWEROFFICE_CLIENT_KEY",
    "POWEROFFICE_SUBSCRIPTION_KEY",
)
REQUIRED = {"POSTGRES_PASSWORD": "pg-pw", "RBSYNC_FLOWER_BASIC_AUTH": "ops:flower-pw"}
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


class MissingVariableError(ValueError):
    """A ``${VAR:?message}`` whose variable is unset: Compose refuses the file with message."""


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``, recursively."""
    if isinstance(value, dict):
        return {key: _interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-") and unset:
            return str(arg)
        if op in (":?", "?") and unset:
            raise MissingVariableError(f"{name}: {arg}")
        return current or ""

    return _VARIABLE.sub(substitute, value)


def _compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return dict(_interpolate(loaded, REQUIRED if env is None else env))


def _commands(compose: dict[str, Any]) -> dict[str, list[str]]:
    return {name: service.get("command", []) for name, service in compose["services"].items()}


def _compose_validator() -> list[str] | None:
    """``docker compose`` (the plugin), else Debian's ``docker-compose``; None when neither."""
    docker = shutil.which("docker")
    if (
        docker is not None
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy is not None else None


def test_docker_compose_config_accepts_the_file() -> None:
    validator = _compose_validator()
    if validator is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (CI installs one)")
    done = subprocess.run(
        [*validator, "-f", str(COMPOSE), "config", "--quiet"],
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", **REQUIRED},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_docker_compose_config_refuses_the_file_without_a_required_secret() -> None:
    validator = _compose_validator()
    if validator is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (CI installs one)")
    done = subprocess.run(
        [*validator, "-f", str(COMPOSE), "config", "--quiet"],
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "POSTGRES_PASSWORD": "pg-pw"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "RBSYNC_FLOWER_BASIC_AUTH" in done.stderr


def test_services_and_the_sandbox_profile() -> None:
    services = _compose()["services"]
    assert set(services) == {
        "redis",
        "postgres",
        "migrate",
        "worker",
        "poller",
        "beat",
        "webhooks",
        "flower",
        "sandbox",
    }
    assert {name: s.get("profiles") for name, s in services.items() if s.get("profiles")} == {
        "sandbox": ["sandbox"]
    }


def test_long_running_services_have_healthchecks_and_restart() -> None:
    services = _compose()["services"]
    checked = {name for name, service in services.items() if "healthcheck" in service}
    assert checked == {"redis", "postgres", "worker", "poller", "beat", "webhooks", "flower"}
    # rbsync's own processes are checked by `rbsync health` (tests/e2e/test_health_e2e.py).
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "rbsync", "health", "worker"]
    assert services["beat"]["healthcheck"]["test"] == ["CMD", "rbsync", "health", "beat"]
    # The poller is asked by its own name for its own two queues.
    assert services["poller"]["healthcheck"]["test"] == [
        "CMD",
        "rbsync",
        "health",
        "worker",
        "--node=poller@%h",
        "--queues=rbsync,rbsync.poll,rbsync.webhook",
    ]
    assert services["webhooks"]["healthcheck"]["test"][:4] == [
        "CMD",
        "rbsync",
        "health",
        "receiver",
    ]
    restarting = {name for name, s in services.items() if s.get("restart") == "unless-stopped"}
    assert restarting == {
        "redis",
        "postgres",
        "worker",
        "poller",
        "beat",
        "webhooks",
        "flower",
        "sandbox",
    }
    assert services["migrate"]["restart"] == "no"


def test_worker_and_beat_start_after_a_successful_migration() -> None:
    services = _compose()["services"]
    expected = {
        "redis": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert services["worker"]["depends_on"] == expected
    assert services["poller"]["depends_on"] == expected
    assert services["beat"]["depends_on"] == expected
    assert services["webhooks"]["depends_on"] == expected
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_the_processes_run_the_rbsync_app() -> None:
    commands = _commands(_compose())
    assert commands["migrate"] == ["rbsync", "db", "upgrade"]
    assert commands["worker"][:4] == ["celery", "-A", "worker.app", "worker"]
    assert "--task-events" in commands["worker"]
    # The poller: the Procfile's line, as compose runs it.
    assert commands["poller"][:4] == ["celery", "-A", "worker.app", "worker"]
    assert "--queues=rbsync,rbsync.poll,rbsync.webhook" in commands["poller"]
    assert "--hostname=poller@%h" in commands["poller"]
    assert "--task-events" in commands["poller"]
    assert commands["beat"][:4] == ["celery", "-A", "worker.app", "beat"]
    assert commands["flower"] == ["rbsync", "flower", "--address", "0.0.0.0"]
    assert commands["webhooks"][:3] == ["rbsync", "webhooks", "serve"]
    assert commands["sandbox"][:2] == ["rbsync", "sandbox"]


def test_exactly_one_beat() -> None:
    assert _compose()["services"]["beat"]["deploy"] == {"replicas": 1}


def test_flower_cannot_start_without_auth_or_with_an_insecure_flag() -> None:
    env_without_auth = {"POSTGRES_PASSWORD": "pg-pw"}
    with pytest.raises(MissingVariableError) as missing:
        _compose(env_without_auth)
    assert str(missing.value) == (
        "RBSYNC_FLOWER_BASIC_AUTH: set RBSYNC_FLOWER_BASIC_AUTH=user:password"
    )
    flower = _compose()["services"]["flower"]
    assert flower["environment"]["RBSYNC_FLOWER_BASIC_AUTH"] == "ops:flower-pw"
    assert "--insecure-no-auth" not in flower["command"]
    assert flower["environment"]["RBSYNC_FLOWER_DB"] == "/data/flower-state"
    assert flower["volumes"] == ["flower-data:/data"]
    assert flower["ports"] == ["127.0.0.1:5555:5555"]


def test_settings_come_from_the_environment_and_secrets_are_never_written_in() -> None:
    services = _compose()["services"]
    rbsync_services = ["migrate", "worker", "poller", "beat", "webhooks", "flower"]
    for name in rbsync_services:
        environment = services[name]["environment"]
        assert environment["RBSYNC_BROKER_URL"] == "redis://redis:6379/0"
        # The password travels on its own; rbsync quotes it into the URL.
        assert environment["RBSYNC_DATABASE_URL"] == (
            "postgresql+psycopg://rbsync@postgres:5432/rbsync"
        )
        assert environment["RBSYNC_DATABASE_PASSWORD"] == "pg-pw"
        # A variable without a value is passed through from the shell, or left unset.
        assert [environment[secret] for secret in SECRET_VARIABLES] == [None] * 4, name


def _ledger_url_of(environment: dict[str, Any]) -> Any:
    """The ledger URL rbsync builds from a service's environment, parsed as SQLAlchemy does."""
    from sqlalchemy.engine import make_url

    from wiring.settings import Settings

    values = {name: value for name, value in environment.items() if value is not None}
    settings = Settings(_env_file=None, **values)
    return make_url(settings.ledger_url)


@pytest.mark.parametrize("password", ["p@ss/w:rd%", "plain", "a#b?c d&e=f"])
def test_any_postgres_password_reaches_the_ledger_url_intact(password: str) -> None:
    env = {**REQUIRED, "POSTGRES_PASSWORD": password}
    services = _compose(env)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == password
    for name in ("migrate", "worker", "beat", "flower"):
        url = _ledger_url_of(services[name]["environment"])
        assert (url.username, url.password, url.host, url.port, url.database) == (
            "rbsync",
            password,
            "postgres",
            5432,
            "rbsync",
        ), name


def test_docker_compose_config_passes_an_awkward_password_through_intact() -> None:
    validator = _compose_validator()
    if validator is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (CI installs one)")
    password = "p@ss/w:rd%"
    done = subprocess.run(
        [*validator, "-f", str(COMPOSE), "config"],
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", **REQUIRED, "POSTGRES_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert _ledger_url_of(services["worker"]["environment"]).password == password


def test_worker_concurrency_is_one_process_per_core_everywhere() -> None:
    # docs/operations.md: on the two-core machine one process per core measured best.
    worker = _commands(_compose({**REQUIRED}))["worker"]
    assert "--concurrency=2" in worker
    procfile = (ROOT / "Procfile").read_text(encoding="utf-8")
    assert "--concurrency=${RBSYNC_WORKER_CONCURRENCY:-2}" in procfile
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| `RBSYNC_WORKER_CONCURRENCY` | `2` |" in readme


def test_the_sandbox_shares_the_workers_loopback() -> None:
    sandbox = _compose()["services"]["sandbox"]
    assert sandbox["network_mode"] == "service:worker"
    assert "ports" not in sandbox


@pytest.mark.parametrize("service", ["migrate", "webhooks", "flower", "sandbox"])
def test_each_rbsync_command_and_flag_in_the_file_exists(service: str) -> None:
    command = _commands(_compose())[service]
    words = [word for word in command[1:] if not word.startswith("-")]
    flags = [word.split("=")[0] for word in command if word.startswith("--")]
    done = subprocess.run(
        [RBSYNC, *words, "--help"],
        env={"PATH": str(Path(sys.executable).parent), "COLUMNS": "200", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [flag for flag in flags if flag not in done.stdout] == []


def test_the_image_holds_every_package_and_never_the_env_file() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {
        pattern.rstrip("*")
        for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, flags=re.MULTILINE))
    assert copied == packages
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".env.*", ".venv", ".git", "var"} <= set(ignored)
    assert re.search(r"^USER rbsync$", dockerfile, flags=re.MULTILINE)
