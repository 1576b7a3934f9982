"""``python -m harness.mutation``: the runner (:mod:`harness.mutation.runner`)."""

from __future__ import annotations

import sys

from harness.mutation.runner import main

sys.exit(main())
