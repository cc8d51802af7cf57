"""Loaded into schemathesis by the contract test (SCHEMATHESIS_HOOKS=st_hooks).

It reads a YAML answer as what the document says it is: text. The one operation that answers
YAML, `GET /v1/export`, documents a string body (one YAML document per object, `---` between
them, as `kubectl apply -f` and Git take it). Schemathesis' own YAML reader parses the answer
into one document instead: with two objects stored it failed in its worker thread (`expected a
single document in the stream`), and a parsed document is no string to check against the schema.

It also works around a CPython bug seen with 3.11.7: `ast.parse` called deep in a call stack can raise
`SystemError: AST constructor recursion depth mismatch`. Hypothesis parses a lambda's source only
to describe the lambda in a strategy's repr, which it builds while validating the recursive
strategies of some request bodies; the failure then aborts that operation's tests. A lambda that
cannot be described is harmless, so it gets Hypothesis' own placeholder description instead.
"""

import schemathesis
from hypothesis.internal import lambda_sources
from schemathesis.core import media_types


@schemathesis.deserializer(*media_types.YAML_MEDIA_TYPES)
def _yaml_as_text(_ctx, response):
    return response.content.decode(response.encoding or "utf-8")


_describe = lambda_sources._lambda_description


def _lambda_description(f):
    try:
        return _describe(f)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description
