"""The order saga program: one region, primary or warm standby, from the stack's config."""

import pulumi

from components.config import load
from components.region import build_region

for name, value in build_region(load()).items():
    pulumi.export(name, value)
