import sys

from ops.cli import run

sys.exit(run())
