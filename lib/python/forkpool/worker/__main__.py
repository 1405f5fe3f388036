"""python3 -m forkpool.worker: the generic worker behind forkpool.Executor."""

import sys

from forkpool.worker import main

sys.exit(main())
