import sys

from stalkrisk.cli import main

sys.exit(main())
