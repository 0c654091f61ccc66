"""``python -m clvml.cli``: the ``clvml`` command without the console script."""

from clvml.cli import main

main()
