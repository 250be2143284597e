"""`python -m protst_hf.cli ...` (what `accelerate launch -m protst_hf.cli ...` runs)."""

import sys

from . import main

sys.exit(main())
