#!/usr/bin/env python3
"""ferry's benchmark: the entry point of bench/run. The command line is ferrybench/options.py, the run
ferrybench/runner.py, the scenarios ferrybench/scenarios_*.py; bench/README.md says what is measured."""
import sys

from ferrybench.runner import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
