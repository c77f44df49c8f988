"""The Lambda runtime: worker processes per function, and the event source pollers."""
