"""A URI's secrets, hidden wherever a URI is shown or stored (error lines, notes, the run state).

An input or output URI may carry credentials: the userinfo's password, which pyarrow
takes as the secret key (`s3://KEY:SECRET@bucket/prefix/`), and query options that are
secrets (`secret_key=`, `session_token=`, `access_key=`; a presigned URL's
`X-Amz-Signature=`). `redacted` shows each as `***` and keeps the rest, so a message
still names the object, the access key and the server options (`endpoint_override=`,
`region=`) it was read with.
"""

from __future__ import annotations

import re

HIDDEN = "***"
# A query option is a secret when its name holds one of these (any case).
SECRET_WORDS = ("secret", "token", "password", "passwd", "key", "credential", "signature", "auth")

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
# The password runs to the `@`: an AWS secret written unencoded holds `/` (pyarrow refuses
# such a URI, and its message quotes it), so it cannot stop at the first `/`.
_PASSWORD = re.compile(r"^([^:]+://[^:/?#@]*:)[^@]+@")
# An option's value stops before `&`, `#`, a quote, or punctuation that ends the URI in a
# message (`...?secret_key=S: cannot open`).
_OPTION = re.compile(r"(^|&)([^=&#]*)=([^&#'\"]*?)(?=[:,;)]*(?:[&#'\"]|$))")


def redacted(text: str) -> str:
    """`text` (a URI, or a message naming some) with every URI's secrets shown as `***`."""
    if "://" not in text:  # most messages name local files: nothing to look at
        return text
    return _URI.sub(lambda m: _redacted_uri(m.group()), text)


def _redacted_uri(uri: str) -> str:
    uri = _PASSWORD.sub(rf"\g<1>{HIDDEN}@", uri, count=1)
    base, mark, query = uri.partition("?")
    return base + mark + _OPTION.sub(_hidden_option, query) if mark else uri


def _hidden_option(match: re.Match) -> str:
    lead, name, value = match.groups()
    secret = value and any(word in name.lower() for word in SECRET_WORDS)
    return f"{lead}{name}={HIDDEN if secret else value}"
