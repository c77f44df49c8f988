"""Entry point of the policy pack.

``pulumi preview --policy-pack policies`` runs this file: it builds the ``PolicyPack``, which
serves the engine over gRPC and never returns. ``python -m policies check ...`` runs the same
rules offline instead (``policies/check.py``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the engine runs this as a script

if sys.argv[1:2] == ["check"]:
    from policies.check import main

    sys.exit(main(sys.argv[2:]))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.rules import POLICIES

PolicyPack(name="order-saga", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
