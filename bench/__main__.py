"""``python -m bench [--quick] [--only NAME ...]``: run the benchmarks, write results and docs."""

import sys

from bench.run import main

sys.exit(main())
