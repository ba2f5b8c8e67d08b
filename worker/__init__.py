"""rbsync worker: the Celery app, the beat schedule, the settings and the CLI entry."""
