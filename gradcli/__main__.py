"""Allow ``python -m gradcli``."""

from gradcli.launcher import main

main()
