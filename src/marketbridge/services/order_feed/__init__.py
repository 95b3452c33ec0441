"""The order feed (issue 20): one OR11 read per interval keeps a local mirror of every marketplace
order, and what changed is published on the bus.

Modules: :mod:`.reading` (the read, the lease, a person's refresh of one order), :mod:`.dispatching`
(the outbox onto the bus), :mod:`.wire` (an OR11 order as a mirror order, without personal data),
:mod:`.pace` (the interval and its schedule), :mod:`.results`. The model and the change rules are
pure, in :mod:`marketbridge.domain.order_feed`; storage is the port
:class:`marketbridge.ports.order_feed.OrderFeedStore` (``runtime.order_feed_store``), whose
:meth:`~marketbridge.ports.order_feed.OrderFeedStore.mirror` is the read port other flows use.

On by default (``order_feed_enabled``): the orders flow stores what the feed reads
(``bus.StoreMarketplaceOrders``) and reads no OR11 of its own, and shipments, refunds and finance
read the mirror. Off, each of those flows reads OR11 itself, as before issue 20. The CLI's
``marketbridge orders feed --once`` runs one read and dispatch by hand.
"""

from marketbridge.services.order_feed.dispatching import dispatch
from marketbridge.services.order_feed.reading import LeaseLost, read, refresh_order, release_stale_lease
from marketbridge.services.order_feed.results import DispatchResult, ReadResult, RefreshResult

__all__ = ["DispatchResult", "LeaseLost", "ReadResult", "RefreshResult", "dispatch", "read", "refresh_order",
           "release_stale_lease"]
