"""`python -m scaling ...` runs the command line, as the `scaling` script does."""

from scaling.cli import main

main()
