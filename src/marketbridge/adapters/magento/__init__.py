"""adapters/magento."""
