"""Checks schemathesis runs on every answer besides its own: an error is a problem with a code."""

import json

import schemathesis


@schemathesis.check
def problem_has_a_code(ctx, response, case):
    """Every 4xx and 5xx answer is `application/problem+json` with a non-empty `code`."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(
            f"{response.status_code} answered as {content_type!r}, not application/problem+json"
        )
    body = json.loads(response.content or b"null")
    if not isinstance(body, dict) or not body.get("code"):
        raise AssertionError(f"{response.status_code} problem without a code: {body!r}")
