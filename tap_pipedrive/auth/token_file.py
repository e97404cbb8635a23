"""The token file (setting oauth_settings_location, CData's OAuthSettingsLocation): where
OAuth tokens persist between runs, encrypted.

Encryption. The file holds a Fernet token (AES-128-CBC + HMAC-SHA256, authenticated) of the
tokens as JSON. The key is derived with HKDF-SHA256 from the OAuth app's client secret and a
random salt stored next to the ciphertext (a new salt on every write). Why the client secret:
every OAuth connection supplies it anyway, so there is no extra key to manage or lose; the
file alone reveals nothing; and the same file opens on another machine that has the same
client credentials (the headless flow's "copy the settings file over" option). It is a
high-entropy random string issued by Pipedrive, so a fast KDF is enough. Keyrings were ruled
out because containers and CI hosts, where this tap mostly runs, have none. Consequence: a
new client secret makes an old file unreadable, which is reported with what to do.

Hygiene. Mode 0600 in a 0700 folder; written atomically (temporary file in the same folder,
fsync, os.replace); a refresh holds `<file>.lock` (filelock) and re-reads the file before
deciding to refresh, so two runs at once refresh once and never corrupt the file.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from filelock import FileLock, Timeout
from typing_extensions import override

from tap_pipedrive.auth.oauth import REAUTHORIZE
from tap_pipedrive.auth.tokens import Tokens
from tap_pipedrive.errors import AuthError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

FILE_NAME = "OAuthSettings.txt"
FORMAT = "tap-pipedrive-oauth-settings"
VERSION = 1
LOCK_TIMEOUT = 120  # seconds; a refresh takes one HTTP call


def default_location() -> Path:
    return platformdirs.user_config_path("tap-pipedrive") / FILE_NAME


def _fernet(client_secret: str, salt: bytes) -> Fernet:
    # Imported here: OpenSSL's bindings are ~9 MB of memory, and a sync with an API token
    # (most runs) never reads or writes a token file.
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                info=f"{FORMAT} v{VERSION}".encode())
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(client_secret.encode())))


def _decrypt(client_secret: str, salt: bytes, token: bytes) -> bytes | None:
    """The plain text, or None when the key does not open it (another secret, or altered)."""
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(client_secret, salt).decrypt(token)
    except InvalidToken:
        return None


class TokenFile:
    """Tokens at rest, encrypted with a key derived from the client secret."""

    def __init__(self, path: str | os.PathLike[str], client_secret: str) -> None:
        self.path = Path(path).expanduser()
        self._secret = client_secret
        # One lock object per file object: reentrant, so a refresh can hold it around save().
        self._lock = FileLock(f"{self.path}.lock", timeout=LOCK_TIMEOUT, mode=0o600)

    @override
    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> Tokens | None:
        """The stored tokens, None when there is no file; an `AuthError` saying what to do
        when it cannot be read."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuthError(f"cannot read the OAuth settings file {self.path} "
                            f"({exc.strerror}); check its permissions") from None
        try:
            envelope = json.loads(raw)
            if envelope.get("format") != FORMAT:
                raise ValueError
            salt = base64.urlsafe_b64decode(envelope["salt"])
            token = envelope["data"].encode()
        except (ValueError, KeyError, TypeError, AttributeError):
            raise AuthError(f"the OAuth settings file {self.path} is damaged or not a "
                            f"tap-pipedrive settings file; delete it and " + REAUTHORIZE) from None
        plain = _decrypt(self._secret, salt, token)
        if plain is None:
            raise AuthError(
                f"cannot decrypt the OAuth settings file {self.path}: it was written with "
                f"another oauth_client_secret (or altered); use the client secret it was "
                f"made with, or delete it and " + REAUTHORIZE) from None
        try:
            return Tokens.from_dict(json.loads(plain))
        except (ValueError, TypeError):
            raise AuthError(f"the OAuth settings file {self.path} holds no usable tokens; "
                            "delete it and " + REAUTHORIZE) from None

    def save(self, tokens: Tokens) -> None:
        """Replace the file's content with these tokens, atomically and under the lock."""
        salt = os.urandom(16)
        envelope = {
            "format": FORMAT,
            "version": VERSION,
            "kdf": "HKDF-SHA256(oauth_client_secret, salt)",
            "cipher": "Fernet",
            "salt": base64.urlsafe_b64encode(salt).decode(),
            "data": _fernet(self._secret, salt).encrypt(json.dumps(tokens.to_dict()).encode())
            .decode(),
        }
        with self.locked():
            self._write_atomically(json.dumps(envelope, indent=1).encode() + b"\n")

    def _write_atomically(self, content: bytes) -> None:
        folder = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.")  # mode 0600
        except OSError as exc:
            raise AuthError(f"cannot write the OAuth settings file {self.path} "
                            f"({exc.strerror}); choose a writable oauth_settings_location"
                            ) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename durable; not every OS allows it
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold `<file>.lock`: one process at a time refreshes and writes."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._lock.acquire()
        except Timeout:
            raise AuthError(f"another run has held {self._lock.lock_file} for {LOCK_TIMEOUT} s; "
                            "if no tap-pipedrive is running, delete that file") from None
        except OSError as exc:
            raise AuthError(f"cannot lock the OAuth settings file {self.path} "
                            f"({exc.strerror}); choose a writable oauth_settings_location"
                            ) from None
        try:
            yield
        finally:
            self._lock.release()
