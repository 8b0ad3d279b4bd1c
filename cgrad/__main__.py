"""``python -m cgrad``: the same as the ``cgrad`` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
