"""``python -m harness.robustness``: the robustness run (:mod:`harness.robustness.runner`).

Exit code 1 means one thing only, a history that broke the model or an
invariant (a mutation run counts it as the mutant found): anything that goes
wrong otherwise, an import included, exits 2."""

from __future__ import annotations

import sys
import traceback

try:
    from harness.robustness.runner import EXIT_ERROR, main
except Exception:
    traceback.print_exc()
    sys.exit(2)

try:
    sys.exit(main())
except Exception:
    traceback.print_exc()
    sys.exit(EXIT_ERROR)
