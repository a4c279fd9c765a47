"""Names that ``make lint``'s dead-code check (vulture) cannot see used: libraries use them.

Each line only names the attribute (``_`` stands for any object); this file is parsed by
vulture, never run.
"""

_.short_help  # click reads a command's short_help (cli/options.py)
_.__spec__  # the import system reads a module's __spec__ (cli/workerentry.py)
__getattr__  # Python calls a module's __getattr__ for names it lacks (cli/main.py)
