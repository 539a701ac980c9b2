"""schemathesis hooks for scripts/schemathesis: reads the API's NDJSON streams.

Every line must be a JSON object with a string `type`; the last line (the stream's `complete`
or `error`) is what schemathesis validates against the operation's response schema, which the
OpenAPI document gives per line, as the official Sprites document does.
"""

import json

import schemathesis


@schemathesis.deserializer("application/x-ndjson")
def ndjson(ctx, response):
    lines = [line for line in response.content.decode("utf-8").split("\n") if line.strip()]
    if not lines:
        raise ValueError("an NDJSON stream with no lines")
    objects = [json.loads(line) for line in lines]
    for number, value in enumerate(objects, 1):
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise ValueError(f"NDJSON line {number} is not an object with a string `type`: {lines[number - 1][:200]}")
    return objects[-1]
