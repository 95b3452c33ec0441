"""marketbridge: Adobe Commerce (Magento 2.4) <-> John Lewis Marketplace (Mirakl)."""

__version__ = "0.1.0"
