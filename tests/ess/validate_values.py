"""Validates chart values (JSON on stdin) against a Helm chart's values.schema.json, as Helm does.

Usage: validate_values.py SCHEMA < values.json
Exit 0: valid. Exit 1: invalid, one line per error (path: message) on stdout.
"""

import json
import sys

from jsonschema import Draft202012Validator


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    values = json.load(sys.stdin)
    errors = sorted(
        Draft202012Validator(schema).iter_errors(values),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    for error in errors:
        path = ".".join(str(p) for p in error.absolute_path) or "(top)"
        print(f"{path}: {error.message}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
