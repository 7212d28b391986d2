"""`python -m deflicker_server [options]`: the resident server without the `deflicker` launcher."""
import sys

from .cli import main

sys.exit(main())
