"""Validates slacap's OpenAPI document and sample answers against it.

Usage: validate_openapi.py DOCUMENT.json SAMPLES.json

DOCUMENT is checked against the OpenAPI 3.1 specification (openapi-spec-validator, which
also resolves every $ref); SAMPLES is a list of [schema name, answer] pairs, each answer
validated against components/schemas/<name> (JSON Schema 2020-12 with OpenAPI's dialect).
"""

import json
import sys

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

with open(sys.argv[1]) as f:
    document = json.load(f)
with open(sys.argv[2]) as f:
    samples = json.load(f)
validate(document)
for name, answer in samples:
    schema = {"$ref": "#/components/schemas/" + name, "components": document["components"]}
    OAS31Validator(schema).validate(answer)
print(f"valid: the document and {len(samples)} answers")
