"""Schemathesis hooks for tools/fuzz-api.

The fuzzer authenticates as an ADMIN whose token must outlive the run, so
it may not delete that user, change its password or role (which revokes
its tokens) or revoke them outright. Every other user, including those the
fuzzer creates, is fair game. VIGIL_FUZZ_ADMIN_ID names the protected id.
"""
import os

import schemathesis

PROTECTED = os.environ["VIGIL_FUZZ_ADMIN_ID"]


@schemathesis.hook
def filter_path_parameters(context, path_parameters):
    return (path_parameters or {}).get("id") != PROTECTED
