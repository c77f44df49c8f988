"""Lambda handlers of the order saga: one module per function or step/compensator pair.

Deployed as the only code in each function's archive; Powertools comes from its public layer.
"""
