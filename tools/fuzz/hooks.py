"""Schemathesis hooks for tools/fuzz-api.

The fuzzer authenticates as an ADMIN whose token must outlive the run, so
it may not delete that user, change its password or role (which revokes
its tokens) or revoke them outright. Every other user, including those the
fuzzer creates, is fair game. VIGIL_FUZZ_ADMIN_ID names the protected id.

`before_call` runs in every phase (the stateful one finds the id through
`GET /users`), so a call aimed at the protected user is sent to an id that
names nobody instead; it is then an ordinary unknown id (404).
"""
import os
import uuid

import schemathesis

PROTECTED = os.environ["VIGIL_FUZZ_ADMIN_ID"]


@schemathesis.hook
def before_call(context, case, kwargs):
    params = case.path_parameters or {}
    if params.get("id") == PROTECTED and case.method.upper() != "GET":
        params["id"] = str(uuid.uuid4())
