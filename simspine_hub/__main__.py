import sys

from simspine_hub.apps.cli import main

sys.exit(main())
