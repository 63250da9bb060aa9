import sys

from callctl.cli import main

sys.exit(main())
