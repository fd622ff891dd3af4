import sys

from longeval.cli import main

sys.exit(main())
