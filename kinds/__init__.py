"""Entity kinds and the write side they share.

Each kind rbsync syncs is one :class:`~kinds.spec.EntityKind` spec in a module of its own
(``kinds.product``, ``kinds.bom``, ``kinds.customer``, ``kinds.invoice``, ``kinds.supplier``),
registered in :mod:`kinds.registry`: every list of kinds (the poll schedule, the CLI's choices,
the pipeline's dependency pass, the bench) is derived from the registry. Below them:
:mod:`kinds.once`, the effectively-once create protocol every create follows, and
:mod:`kinds.links`, the shared dependencies (product groups, contact groups, payment terms) and
the bulk indexes of PowerOffice Go ids.
"""
