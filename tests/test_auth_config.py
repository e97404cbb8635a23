"""Choosing the auth method: the connection guide's names, `auth_method`, and what each method
contributes to the settings."""

from __future__ import annotations

import pytest

from tap_pipedrive.config import normalize
from tap_pipedrive.errors import ConfigError
from tap_pipedrive.tap import TapPipedrive

OAUTH = {"OAuthClientId": "id", "OAuthClientSecret": "secret"}


@pytest.mark.parametrize(
    ("given", "method"),
    [
        ({"AuthScheme": "Basic", "APIToken": "t", "CompanyDomain": "acme"}, "basic"),
        ({"AuthScheme": "OAuth", "InitiateOAuth": "GETANDREFRESH", **OAUTH}, "oauth-desktop"),
        ({"AuthScheme": "OAuth", "InitiateOAuth": "OFF", **OAUTH}, "oauth-web"),
        ({"AuthScheme": "OAuth", **OAUTH}, "oauth-web"),  # InitiateOAuth defaults to OFF
        ({"AuthScheme": "OAuth", "InitiateOAuth": "REFRESH", "OAuthAccessToken": "a", **OAUTH},
         "oauth-web"),
        ({"AuthScheme": "OAuth", "InitiateOAuth": "REFRESH", "OAuthVerifier": "c", **OAUTH},
         "oauth-headless"),
        ({"AuthScheme": "OAuth", "InitiateOAuth": "refresh",
          "OAuthSettingsLocation": "/x", **OAUTH}, "oauth-headless"),
        ({"AuthScheme": "OAuth", "InitiateOAuth": "GETANDREFRESH", "auth_method": "oauth-web"},
         "oauth-web"),  # an explicit auth_method wins
        ({"api_token": "t"}, None),  # nothing said: the tap's default (basic) applies
    ],
)
def test_guide_names_choose_the_method(given, method):
    config = normalize(given)
    assert config.get("auth_method") == method
    assert not {"AuthScheme", "InitiateOAuth", "auth_scheme"} & set(config)


def test_guide_names_become_settings():
    config = normalize({"CallbackURL": "http://127.0.0.1:9/cb", "InitiateOAuth": "refresh",
                        "OAuthSettingsLocation": "/tmp/s", "callback_url": "http://x/explicit"})
    assert config["callback_url"] == "http://x/explicit"  # the snake_case key wins
    assert config["initiate_oauth"] == "REFRESH"
    assert config["oauth_settings_location"] == "/tmp/s"


def test_unknown_auth_scheme():
    with pytest.raises(ConfigError, match="AuthScheme must be Basic or OAuth"):
        normalize({"AuthScheme": "Kerberos"})


def test_every_method_and_its_settings_are_in_the_schema():
    properties = TapPipedrive.config_jsonschema["properties"]
    assert set(properties["auth_method"]["enum"]) >= {
        "basic", "oauth-desktop", "oauth-web", "oauth-headless"}
    secret = {"api_token", "oauth_client_secret", "oauth_access_token", "oauth_refresh_token",
              "oauth_verifier"}
    for name in secret:
        assert properties[name].get("secret") is True, name
    assert properties["callback_url"]["default"] == "http://127.0.0.1:8765/callback"
    assert properties["oauth_url"]["default"] == "https://oauth.pipedrive.com"
    assert properties["initiate_oauth"]["enum"] == ["OFF", "GETANDREFRESH", "REFRESH"]
    assert "oauth_settings_location" in properties


def test_unknown_auth_method_lists_the_available_ones():
    tap = TapPipedrive(config={"auth_method": "kerberos"}, parse_env_config=False,
                       validate_config=False)
    with pytest.raises(ConfigError, match="unknown auth_method 'kerberos'; available: basic"):
        _ = tap.connection
