"""``python -m gitstream``: the same command line as the ``gitstream`` script."""

from gitstream.cli import main

if __name__ == "__main__":
    main()
