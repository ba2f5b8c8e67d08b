"""rbsync tasks: Celery tasks (poll, sync per kind, initial sync, retry); each thin."""
