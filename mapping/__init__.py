"""rbsync mapping: the rules R-* as pure functions from wire models to decisions."""
