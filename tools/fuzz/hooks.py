"""Schemathesis hooks for tools/fuzz-api.

The fuzzer authenticates as an ADMIN whose token must outlive the run, so
it may not delete that user, change its password or role (which revokes
its tokens) or revoke them outright. Every other user, including those the
fuzzer creates, is fair game. VIGIL_FUZZ_ADMIN_ID names the protected id.

`before_call` runs in every phase (the stateful one finds the id through
`GET /users`), so a call aimed at the protected user is sent to an id that
names nobody instead; it is then an ordinary unknown id (404).

An event's `occurredAt` must be within the last 24 hours by the server's
clock (and not ahead of it): a bound no schema can state, so a well-formed
date-time the fuzzer made up is moved to a few seconds ago. Malformed
values and other types are left as they are, for the server to refuse.
"""
import datetime
import os
import re
import uuid

import schemathesis

PROTECTED = os.environ["VIGIL_FUZZ_ADMIN_ID"]
# The start of an RFC 3339 date-time (any case of T, as the RFC allows).
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}")


@schemathesis.hook
def before_call(context, case, kwargs):
    params = case.path_parameters or {}
    if params.get("id") == PROTECTED and case.method.upper() != "GET":
        params["id"] = str(uuid.uuid4())
    body = case.body
    if case.method.upper() == "POST" and isinstance(body, dict) and isinstance(body.get("occurredAt"), str):
        if not DATE_TIME.match(body["occurredAt"]):
            return
        recent = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
        body["occurredAt"] = recent.isoformat()
