"""The webhook receiver (:mod:`worker.webhooks.receiver`) and registration with Rackbeat
(:mod:`worker.webhooks.registration`)."""
