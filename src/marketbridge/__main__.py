"""python -m marketbridge"""

from marketbridge.cli.main import main

main()
