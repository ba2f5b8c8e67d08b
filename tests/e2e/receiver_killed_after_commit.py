"""``rbsync webhooks serve --port PORT`` that SIGKILLs itself after storing a delivery and
before answering it (run as a script by the webhook end-to-end test)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from worker.cli import main
from worker.webhooks import receiver


def _die(*_args: Any, **_kwargs: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    receiver._Receiver.accepted = _die  # type: ignore[method-assign]
    sys.argv = ["rbsync", "webhooks", "serve", "--port", sys.argv[1]]
    main()
