"""Loaded into schemathesis by the contract test (SCHEMATHESIS_HOOKS=st_hooks).

It works around a CPython bug seen with 3.11.7: `ast.parse` called deep in a call stack can raise
`SystemError: AST constructor recursion depth mismatch`. Hypothesis parses a lambda's source only
to describe the lambda in a strategy's repr, which it builds while validating the recursive
strategies of some request bodies; the failure then aborts that operation's tests. A lambda that
cannot be described is harmless, so it gets Hypothesis' own placeholder description instead.
"""

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description


def _lambda_description(f):
    try:
        return _describe(f)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description
