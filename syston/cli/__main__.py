"""`python -m syston.cli` is the `syston` command (what `syston dev` runs its children as)."""

import sys

from syston.cli.main import main

sys.exit(main())
