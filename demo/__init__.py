"""make demo: the launch-day scenario in the sandbox, and its audit."""
