"""rbsync sandbox: faithful, stateful, fault-injectable emulators of both APIs."""
