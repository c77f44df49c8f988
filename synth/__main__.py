"""``python -m synth --stack prod-use1``: write the stack's resource graph to build/."""

import sys

from synth.program import main

sys.exit(main())
