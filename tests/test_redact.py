"""Secret settings are stripped, refused with a control character inside, and masked in every
log record (plain and structured formats, tracebacks) and in error lines."""

from __future__ import annotations

import io
import logging

import pytest

from tap_pipedrive import redact
from tap_pipedrive.errors import ConfigError
from tap_pipedrive.tap import TapPipedrive

SECRET = "sec-REDACT-5e6f7a8b9c"


def test_the_secret_settings_are_those_the_schema_flags():
    names = redact.secret_names(TapPipedrive.config_jsonschema)
    assert {"api_token", "oauth_client_secret", "oauth_access_token", "oauth_refresh_token",
            "oauth_verifier"} <= set(names)
    assert "company_domain" not in names


def test_clean_strips_and_refuses_without_showing():
    config = {"api_token": f" {SECRET}\n", "company_domain": " acme "}
    redact.clean(config, ["api_token"])
    assert config == {"api_token": SECRET, "company_domain": " acme "}
    with pytest.raises(ConfigError) as caught:
        redact.clean({"oauth_client_secret": f"{SECRET}\r\nX: 1"}, ["oauth_client_secret"])
    assert "oauth_client_secret" in str(caught.value) and SECRET not in str(caught.value)


@pytest.mark.parametrize("structured", [False, True])
def test_every_record_is_masked_whatever_its_handler(structured):
    from singer_sdk.logging import StructuredFormatter

    redact.install()
    redact.add(SECRET)
    out = io.StringIO()
    handler = logging.StreamHandler(out)  # made after install: the record factory masks
    handler.setFormatter(StructuredFormatter() if structured else logging.Formatter())
    logger = logging.getLogger(f"test-redact-{structured}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s refused", SECRET)
        try:
            raise ValueError(f"Invalid header value b'{SECRET}\\n'")
        except ValueError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert SECRET not in text
    assert text.count(redact.MASK) >= 2 and "Invalid header value" in text


def test_error_lines_are_masked():
    redact.add(SECRET)
    assert redact.mask(f"Pipedrive answered 401: token {SECRET} unknown") == \
        "Pipedrive answered 401: token [redacted] unknown"
