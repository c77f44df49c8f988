"""order-saga components: the pure saga model and ASL compiler (saga/), and the Pulumi components."""
