"""Checks that every example in an OpenAPI document is valid against the schema beside it.

Run by tests/tests/contract.rs: python check_examples.py openapi.json. Prints each example it
checked and exits non-zero naming the ones that do not validate. It uses jsonschema_rs, which
schemathesis brings along, as a JSON Schema 2020-12 validator (OpenAPI 3.1's dialect).
"""

import json
import sys

import jsonschema_rs

SCHEMA_KEYWORDS = {"type", "$ref", "properties", "oneOf", "anyOf", "allOf", "enum", "items"}


def examples(node, path):
    """(path, schema, example) of each schema in `node` that carries an example."""
    if isinstance(node, dict):
        if SCHEMA_KEYWORDS & node.keys():
            schema = {k: v for k, v in node.items() if k not in ("example", "examples")}
            if "example" in node:
                yield path, schema, node["example"]
            for i, example in enumerate(node.get("examples") or []) if isinstance(node.get("examples"), list) else []:
                yield f"{path}/examples/{i}", schema, example
        for key, value in node.items():
            yield from examples(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from examples(value, f"{path}/{i}")


def main(document_path):
    document = json.load(open(document_path))
    components = document.get("components", {})
    invalid, checked = [], 0
    for path, schema, example in examples(document, "#"):
        # The components ride along, so that `#/components/...` references resolve.
        validator = jsonschema_rs.Draft202012Validator({**schema, "components": components})
        errors = [error.message for error in validator.iter_errors(example)]
        checked += 1
        if errors:
            invalid.append(f"{path}: {json.dumps(example)}: {'; '.join(errors)}")
    print(f"{checked} examples checked")
    for line in invalid:
        print(f"invalid example {line}")
    sys.exit(1 if invalid or checked == 0 else 0)


if __name__ == "__main__":
    main(sys.argv[1])
