"""rbsync ledger: the SQL source of truth (entity links, attempts, cursors, poll cycles)."""
