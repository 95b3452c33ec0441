"""python -m marketbridge.cli"""

from marketbridge.cli.main import main

main()
