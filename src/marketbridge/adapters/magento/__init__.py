"""Adobe Commerce (Magento 2.4) REST adapter: client, searchCriteria builder, models, webhooks."""

from .client import MagentoClient, error_from_response, render_message
from .criteria import Filter, SearchCriteria
from .oauth import OAuth1Credentials

__all__ = [
    "Filter",
    "MagentoClient",
    "OAuth1Credentials",
    "SearchCriteria",
    "error_from_response",
    "render_message",
]
