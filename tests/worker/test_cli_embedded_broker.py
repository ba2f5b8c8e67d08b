"""Atomic message files for the embedded broker (``worker/embedded_broker.py``), which the demo
installs: a consumer never reads a half-written message (kombu issue #1551)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from kombu.transport import filesystem
from kombu.transport.virtual import Empty

from worker import embedded_broker

MESSAGES = 400
WAIT_SECONDS = 60.0


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[Any]:
    queue, processed = tmp_path / "queue", tmp_path / "processed"
    queue.mkdir()
    processed.mkdir()
    options = {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "store_processed": False,
    }
    with Connection("filesystem://", transport_options=options) as connection:
        yield connection.default_channel


def test_the_message_file_appears_only_when_complete(
    channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    before_rename: list[list[str]] = []
    real_replace = os.replace

    def spy(source: str, target: str) -> None:
        before_rename.append(sorted(os.listdir(channel.data_folder_out)))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    embedded_broker.atomic_put(channel, "rbsync", {"body": "x" * 10_000})
    # While the body was written, only the hidden temporary file existed, and the consumer's
    # filter (name after the first dot == "<queue>.msg") does not take it.
    [names] = before_rename
    assert len(names) == 1
    assert names[0].startswith(".rbsync-")
    assert names[0].partition(".")[2] != "rbsync.msg"
    [final] = os.listdir(channel.data_folder_out)
    assert final.endswith(".rbsync.msg")
    assert channel._get("rbsync") == {"body": "x" * 10_000}


def test_install_replaces_the_channel_put(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filesystem.Channel, "_put", filesystem.Channel._put)
    embedded_broker.install_atomic_writes()
    assert filesystem.Channel._put is embedded_broker.atomic_put


def test_a_consumer_racing_a_producer_reads_every_message_whole(
    channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filesystem.Channel, "_put", embedded_broker.atomic_put)
    received: list[Any] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def consume() -> None:
        while len(received) < MESSAGES and not done.is_set():
            try:
                received.append(channel._get("rbsync"))
            except Empty:
                continue
            except BaseException as exc:
                errors.append(exc)
                return

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    for number in range(MESSAGES):
        channel._put("rbsync", {"n": number, "pad": "y" * 2_000})
    consumer.join(WAIT_SECONDS)
    done.set()
    assert errors == []
    assert sorted(m["n"] for m in received) == list(range(MESSAGES))


def test_cli_commands_in_embedded_mode_publish_atomically(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from worker.commands._common import load_cli_settings

    original = filesystem.Channel._put
    monkeypatch.setattr(filesystem.Channel, "_put", original)
    load_cli_settings(_env_file=None, broker_url="redis://127.0.0.1:6379/0", data_dir=tmp_path)
    assert filesystem.Channel._put is original
    load_cli_settings(_env_file=None, broker_url=None, data_dir=tmp_path)
    assert filesystem.Channel._put is embedded_broker.atomic_put
