"""Prints, as JSON, what python-dotenv's `dotenv_values` reads from the file named by argv[1]."""
import json
import sys

from dotenv import dotenv_values

json.dump(dotenv_values(sys.argv[1]), sys.stdout)
