"""AES-256-GCM for columns and stored files, and HMAC for the audit chain.

Keys are derived with HKDF from the one master key (``secret.key``), one per purpose, so a
column key never doubles as the audit key. Every ciphertext starts with a version byte and a
key id, so a rotated master key can still read what the old one wrote (the old key stays in
the ring for reading).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = 1
_NONCE = 12
_KEY_ID = 4


class DecryptionError(Exception):
    """The ciphertext was altered, truncated, or made with a key this ring does not hold."""


def key_id(master: bytes) -> bytes:
    """A short public fingerprint of a master key."""
    return hashlib.sha256(b"govbot-key-id" + master).digest()[:_KEY_ID]


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"govbot:" + purpose.encode()
    ).derive(master)


@dataclass
class KeyRing:
    """The current master key (for writing) and older ones (for reading)."""

    current: bytes
    previous: tuple[bytes, ...] = ()
    _cache: dict[tuple[bytes, str], bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if len(self.current) != 32 or any(len(k) != 32 for k in self.previous):
            raise ValueError("master keys are 32 bytes")

    def _key(self, kid: bytes, purpose: str) -> bytes:
        cached = self._cache.get((kid, purpose))
        if cached is not None:
            return cached
        for master in (self.current, *self.previous):
            if key_id(master) == kid:
                derived = _derive(master, purpose)
                self._cache[(kid, purpose)] = derived
                return derived
        raise DecryptionError("unknown key id")

    def encrypt(self, plaintext: bytes, *, purpose: str) -> bytes:
        """version | key id | nonce | ciphertext+tag; the header is authenticated too."""
        kid = key_id(self.current)
        header = bytes([_VERSION]) + kid
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self._key(kid, purpose)).encrypt(nonce, plaintext, header)
        return header + nonce + sealed

    def decrypt(self, blob: bytes, *, purpose: str) -> bytes:
        """The plaintext, or DecryptionError if anything about the blob is wrong."""
        if len(blob) < 1 + _KEY_ID + _NONCE + 16 or blob[0] != _VERSION:
            raise DecryptionError("not a ciphertext of ours")
        header, nonce = blob[: 1 + _KEY_ID], blob[1 + _KEY_ID : 1 + _KEY_ID + _NONCE]
        try:
            return AESGCM(self._key(header[1:], purpose)).decrypt(
                nonce, blob[1 + _KEY_ID + _NONCE :], header
            )
        except InvalidTag as exc:
            raise DecryptionError("authentication failed") from exc

    def mac(self, data: bytes, *, purpose: str = "audit") -> str:
        """HMAC-SHA256 under the current key, hex: who lacks the key cannot forge the chain."""
        return hmac.new(self._key(key_id(self.current), purpose), data, hashlib.sha256).hexdigest()


_ring: KeyRing | None = None


def install_key_ring(ring: KeyRing) -> None:
    """Make this ring the one the encrypted column type uses (once per process)."""
    global _ring
    _ring = ring


def current_key_ring() -> KeyRing:
    """The installed ring; encrypted columns cannot be used before one is installed."""
    if _ring is None:
        raise RuntimeError("no key ring installed: call storage.crypto.install_key_ring first")
    return _ring
