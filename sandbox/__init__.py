"""The sandbox: the order saga end to end on one machine, on moto and local services."""
