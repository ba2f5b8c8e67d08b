"""rbsync clients: the only code that speaks HTTP (Rackbeat and PowerOffice Go)."""
