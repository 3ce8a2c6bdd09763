import sys

from vnaw.cli import main

sys.exit(main())
