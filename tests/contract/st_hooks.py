"""Loaded into schemathesis by the contract test (SCHEMATHESIS_HOOKS=st_hooks).

It reads a YAML answer as the stream it may be. `GET /v1/export` answers one YAML document per
object (`---` between them), as `kubectl apply -f` and Git take it; schemathesis' own YAML reader
takes a single document, and a stream of two made its recording of answers fail in its worker
thread (`expected a single document in the stream`) once a run had stored two objects. A stream
of one document reads as that document, as before; of several, as their list.

It also works around a CPython bug seen with 3.11.7: `ast.parse` called deep in a call stack can raise
`SystemError: AST constructor recursion depth mismatch`. Hypothesis parses a lambda's source only
to describe the lambda in a strategy's repr, which it builds while validating the recursive
strategies of some request bodies; the failure then aborts that operation's tests. A lambda that
cannot be described is harmless, so it gets Hypothesis' own placeholder description instead.
"""

import schemathesis
import yaml
from hypothesis.internal import lambda_sources
from schemathesis.core import media_types
from schemathesis.core.deserialization import get_yaml_loader


@schemathesis.deserializer(*media_types.YAML_MEDIA_TYPES)
def _yaml_stream(_ctx, response):
    documents = list(yaml.load_all(response.content.decode(response.encoding or "utf-8"), get_yaml_loader()))
    return documents[0] if len(documents) == 1 else documents


_describe = lambda_sources._lambda_description


def _lambda_description(f):
    try:
        return _describe(f)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description
