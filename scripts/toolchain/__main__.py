"""``python3 -m scripts.toolchain``: see scripts/toolchain/command.py."""

import sys

from scripts.toolchain.command import main

sys.exit(main())
