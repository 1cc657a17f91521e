"""`python -m sgt_probe.cli ...` (and `torchrun ... -m sgt_probe.cli train ...`)."""

import sys

from sgt_probe.cli import main

sys.exit(main())
