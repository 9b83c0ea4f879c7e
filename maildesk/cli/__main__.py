"""``python -m maildesk.cli``: the same command as the ``maildesk`` script."""

from maildesk.cli import main

main()
