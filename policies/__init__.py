"""The order-saga policy pack: rules in ``policies.rules``, the offline check in ``policies.check``."""
