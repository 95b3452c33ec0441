"""The console flow: what the operations console reads and does.

:mod:`.dashboard` (the read models of the console pages: issues, activity, flow health, and
the issues shown beside each flow's objects), :mod:`.actions` (the actions a person takes on an
issue, and the :class:`~.actions.FlowActions` table the flows fill) and :mod:`.flow_hooks` (the
one place that knows the other flows' functions, called by :mod:`marketbridge.bootstrap`).
The web layer and the CLI import these modules by name (``from marketbridge.services.console
import dashboard``).
"""
