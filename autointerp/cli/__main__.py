"""`python -m autointerp.cli ...`: the same as the `autointerp` command."""

import sys

try:
    from autointerp.cli import main
except KeyboardInterrupt:  # Ctrl-C while the CLI itself is still importing
    sys.stderr.write("aborted\n")
    sys.exit(130)

main()
