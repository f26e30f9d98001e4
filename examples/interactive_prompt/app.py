"""An interactive prompt that only works in a terminal, and a bug behind it.

It refuses to run without a terminal (as many CLIs and REPLs do), so it shows
that otorepair's PTY passes the terminal through: arrow keys and line editing
work at the prompt. Answering a size that is not in the table crashes it.
    otorepair "python3 examples/interactive_prompt/app.py"
"""

import readline  # noqa: F401  (line editing and history at the prompt)
import sys

PRICES = {"small": 3, "medium": 4}

if not sys.stdin.isatty():
    sys.exit("this example needs a terminal")

while True:
    size = input("Coffee size (small/medium/large, empty to quit)? ").strip()
    if not size:
        break
    print(f"That is {PRICES[size]} euros.")
