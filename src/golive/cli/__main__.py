"""``python -m golive.cli``: the golive command."""

from golive.cli import main

main()
