"""The composition root: settings, locks, the API clients and the ledger of one process.

Below ``tasks/`` and above ``clients/`` and ``ledger/``: it builds what the tasks use from one
typed :class:`~wiring.settings.Settings` object, so that ``tasks/`` never reaches back into
``worker/`` (the Celery app and the CLI, which build the settings at the edge).
"""
