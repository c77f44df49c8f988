"""order-saga components: the pure saga model and ASL compiler, and (later) Pulumi components."""
