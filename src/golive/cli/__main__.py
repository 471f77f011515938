"""``python -m golive.cli``: the golive command."""

from golive.cli import main

if __name__ == "__main__":
    main()
