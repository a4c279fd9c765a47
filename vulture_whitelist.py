"""Names that ``make lint``'s dead-code check (vulture) cannot see used: libraries use them.

Each line only names the attribute (``_`` stands for any object); this file is parsed by
vulture, never run.
"""

_.short_help  # click reads a command's short_help (cli/options.py)
