"""Known-answer tests for fedseal's secure-aggregation primitives and transcript labels.

Every vector below, and where it comes from, is listed in ``tests/vectors/secagg/README.md``.
External vectors (RFC 5869, RFC 7748, the GCM specification of McGrew & Viega, NIST AESAVS) are
fed through fedseal's own wrappers wherever a wrapper accepts them. Where a wrapper fixes the
HKDF ``info`` (so an RFC vector cannot pass through it), the RFC vector checks the primitive
call the wrapper makes, and the wrapper's output is checked against an independent HKDF over a
hand-written ``info`` and pinned.

Pinned values (marked ``PINNED``) were computed once by fedseal at commit 86719d8 and copied
here as hex. They pin domain labels and field encodings: a label changed on both sides of the
protocol still fails here. Changing one changes the wire format or the transcript and needs a
protocol version bump; never update a pinned value to make a test pass.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import numpy.typing as npt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedseal.errors import AuthenticationError
from fedseal.protocol import transcript
from fedseal.protocol.messages import AdvertiseKeys, EncryptedShare, RoundParams
from fedseal.protocol.sharing import seal_pair
from fedseal.secagg.graph import GraphKind
from fedseal.secagg.hazmat import aead, shamir
from fedseal.secagg.hazmat.kdf import hkdf
from fedseal.secagg.hazmat.prg import MaskExpander, keystream_uint32
from fedseal.secagg.identity import encode_field, signing_payload
from fedseal.secagg.keys import AgreementKey, MaskSeed, RoundContext
from fedseal.secagg.masking import mask_input, pair_key, share_key

# --- RFC 7748 §6.1 (Alice and Bob; all values little-endian, as printed in the RFC) ---------
ALICE_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
ALICE_PUBLIC = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
BOB_PRIVATE = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
BOB_PUBLIC = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
SHARED_K = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"

# The fixed round every pinned value is computed in.
DEPLOYMENT = "fedseal-kat"
ROUND = 7
CONTEXT = RoundContext(DEPLOYMENT, ROUND)
# The context as encode_field bytes, written out by hand (not with encode_field).
CONTEXT_FIELDS = b"s\x00\x00\x00\x0b" + b"fedseal-kat" + b"i\x00\x00\x00\x08" + bytes(7) + b"\x07"


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def _agreement_key(scalar_le: str) -> AgreementKey:
    """An RFC 7748 scalar as fedseal's AgreementKey (clamped as in decodeScalar25519, big-endian).

    X25519 clamps its scalar anyway (RFC 7748 §5), so clamping first does not change the result;
    it keeps the key inside AgreementKey's documented domain (clamped, below 2^255 - 19).
    """
    raw = bytearray(_hex(scalar_le))
    raw[0] &= 248
    raw[31] &= 127
    raw[31] |= 64
    return AgreementKey(int.from_bytes(raw, "little").to_bytes(32, "big"))


class _Chunks:
    """A RandomSource stub that hands out fixed byte strings, in order, one per call."""

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = list(chunks)

    def token_bytes(self, n: int) -> bytes:
        chunk = self._chunks.pop(0)
        assert len(chunk) == n, f"stub asked for {n} bytes, holds {len(chunk)}"
        return chunk

    def uint32(self, n: int) -> npt.NDArray[np.uint32]:
        raise AssertionError("not used by these tests")


def _reference_hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 §2.2-2.3 written out with hmac, independent of fedseal and of `cryptography`."""
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


# --- HKDF-SHA256 (RFC 5869 Appendix A.1-A.3) ------------------------------------------------

RFC5869 = [
    pytest.param(
        _hex("0b" * 22),
        _hex("000102030405060708090a0b0c"),
        _hex("f0f1f2f3f4f5f6f7f8f9"),
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        id="A.1-test-case-1",
    ),
    pytest.param(
        bytes(range(0x00, 0x50)),
        bytes(range(0x60, 0xB0)),
        bytes(range(0xB0, 0x100)),
        "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
        id="A.2-test-case-2",
    ),
    pytest.param(
        _hex("0b" * 22),
        b"",
        b"",
        "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        id="A.3-test-case-3",
    ),
]


@pytest.mark.parametrize(("ikm", "salt", "info", "prk", "okm"), RFC5869)
def test_hkdf_primitive_and_reference_match_rfc5869(
    ikm: bytes, salt: bytes, info: bytes, prk: str, okm: str
) -> None:
    """The HKDF call fedseal's ``hkdf`` makes (SHA-256, ``salt=None``) and the test's reference.

    ``hkdf`` passes ``salt=None``; RFC 5869 §2.2 defines a missing salt as HashLen zero bytes,
    which is what test case 3 (zero-length salt) exercises.
    """
    expected = _hex(okm)
    assert hmac.new(salt or bytes(32), ikm, hashlib.sha256).hexdigest() == prk
    assert _reference_hkdf_sha256(ikm, salt, info, len(expected)) == expected
    call = HKDF(algorithm=hashes.SHA256(), length=len(expected), salt=salt or None, info=info)
    assert call.derive(ikm) == expected


def test_hkdf_wrapper_is_rfc5869_over_the_fedseal_info() -> None:
    """``hkdf`` = RFC 5869 HKDF-SHA256, no salt, info = "fedseal/v1/kdf/<purpose>\\0" + fields."""
    ikm = _hex(SHARED_K)
    info = b"fedseal/v1/kdf/pair-mask\x00" + CONTEXT_FIELDS
    info += (
        b"i\x00\x00\x00\x08"
        + (3).to_bytes(8, "big")
        + b"i\x00\x00\x00\x08"
        + (9).to_bytes(8, "big")
    )
    wrapped = hkdf(ikm, 16, "pair-mask", DEPLOYMENT, ROUND, 3, 9)
    assert wrapped == _reference_hkdf_sha256(ikm, b"", info, 16)
    # PINNED (fedseal 86719d8).
    assert wrapped.hex() == "ae52a5baded20d6772886f2ab19ed06c"


def test_self_mask_key_of_the_zero_seed_is_pinned() -> None:
    info = b"fedseal/v1/kdf/self-mask\x00" + CONTEXT_FIELDS
    key = MaskSeed(bytes(32)).prg_key(CONTEXT)
    assert key == _reference_hkdf_sha256(bytes(32), b"", info, 16)
    # PINNED (fedseal 86719d8).
    assert key.hex() == "15a62756d161487df8894ffcbb3c737b"


def test_pair_and_share_keys_from_the_rfc7748_agreement_are_pinned() -> None:
    alice, bob = _agreement_key(ALICE_PRIVATE), _agreement_key(BOB_PRIVATE)
    # PINNED (fedseal 86719d8): s_ij for silos 3 and 9, the same from either end.
    assert pair_key(alice, _hex(BOB_PUBLIC), CONTEXT, 3, 9).hex() == (
        "ae52a5baded20d6772886f2ab19ed06c"
    )
    assert pair_key(bob, _hex(ALICE_PUBLIC), CONTEXT, 9, 3).hex() == (
        "ae52a5baded20d6772886f2ab19ed06c"
    )
    # PINNED (fedseal 86719d8): share keys are directional (sender, receiver).
    assert share_key(alice, _hex(BOB_PUBLIC), CONTEXT, 3, 9).hex() == (
        "94e676eb58d777d35758af78fd20b2d0c4860d00115e3795a3cdc92edcd51e01"
    )
    assert share_key(bob, _hex(ALICE_PUBLIC), CONTEXT, 9, 3).hex() == (
        "d9dfbf3cd35ba90660712d0fc8ac95bd44fcdd05f86a2aa88db524a5a15898b3"
    )


# --- X25519 (RFC 7748 §5.2 and §6.1) ---------------------------------------------------------


def test_rfc7748_diffie_hellman_through_agreement_key() -> None:
    alice, bob = _agreement_key(ALICE_PRIVATE), _agreement_key(BOB_PRIVATE)
    assert alice.public_bytes().hex() == ALICE_PUBLIC
    assert bob.public_bytes().hex() == BOB_PUBLIC
    assert alice.agree(_hex(BOB_PUBLIC)).hex() == SHARED_K
    assert bob.agree(_hex(ALICE_PUBLIC)).hex() == SHARED_K


@pytest.mark.parametrize(
    ("scalar", "u", "output"),
    [
        pytest.param(
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
            id="5.2-vector-1",
        ),
        pytest.param(
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            # The top bit of the last byte is set; X25519 masks it (RFC 7748 §5).
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
            id="5.2-vector-2",
        ),
        pytest.param(
            "0900000000000000000000000000000000000000000000000000000000000000",
            "0900000000000000000000000000000000000000000000000000000000000000",
            "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
            id="5.2-one-iteration",
        ),
    ],
)
def test_rfc7748_scalar_multiplication_through_agreement_key(
    scalar: str, u: str, output: str
) -> None:
    assert _agreement_key(scalar).agree(_hex(u)).hex() == output


# --- AES-128-CTR mask PRG (counter blocks 0, 1, 2, ...) --------------------------------------

# AES-128 under the all-zero key of the counter blocks 0, 1 and 2, from the GCM specification
# (McGrew & Viega), test cases 1 and 2: H = E(K, 0^128), E(K, Y0) with Y0 = 0^96 || 1, and
# E(K, Y1) with Y1 = 0^96 || 2.
ZERO_KEY_BLOCKS = (
    "66e94bd4ef8a2c3b884cfa59ca342b2e"
    "58e2fccefa7e3061367f1d57a4e7455a"
    "0388dace60b6a392f328c2b971b2fe78"
)


def test_prg_keystream_of_the_zero_key_is_aes_of_counters_0_1_2() -> None:
    words = keystream_uint32(bytes(16), 12)
    assert words.astype("<u4").tobytes().hex() == ZERO_KEY_BLOCKS
    wide = np.zeros(6, dtype=np.uint64)
    MaskExpander(np.uint64).apply(wide, add=[bytes(16)])
    assert wide.astype("<u8").tobytes().hex() == ZERO_KEY_BLOCKS


def test_prg_first_block_matches_aesavs_keysbox128() -> None:
    """NIST AESAVS ECBKeySbox128.rsp COUNT = 0: plaintext 0^128, so it is keystream block 0."""
    words = keystream_uint32(_hex("10a58869d74be5a374cf867cfb473859"), 4)
    assert words.astype("<u4").tobytes().hex() == "6d251e6944b051e04eaa6fb4dbf78465"


def test_self_mask_stream_and_masked_input_are_pinned() -> None:
    key = MaskSeed(bytes(32)).prg_key(CONTEXT)
    # PINNED (fedseal 86719d8): the first 64 bytes of PRG(b) for the all-zero seed b.
    assert keystream_uint32(key, 16).astype("<u4").tobytes().hex() == (
        "55300d65d68cde81a46d0814ad5372205a7d7568f210c1e604425663ee85c46a"
        "40d33ad0dc42019df91b7ab1bfb2d630f7c8620e10ff4fd0bfdeef88344d305a"
    )
    masked = mask_input(
        np.zeros(4, dtype=np.uint32),
        index=1,
        seed=MaskSeed(bytes(32)),
        s_key=_agreement_key(ALICE_PRIVATE),
        peers={2: _hex(BOB_PUBLIC)},
        context=CONTEXT,
    )
    # PINNED (fedseal 86719d8): y = 0 + PRG(b) + PRG(s_12) mod 2^32 for silo 1 of 2.
    assert masked.tolist() == [1261277693, 3061656778, 3861039920, 2844856976]


# --- AES-256-GCM share encryption (McGrew & Viega, test cases 13-16) -------------------------

GCM_KEY = "feffe9928665731c6d6a8f9467308308" * 2
GCM_IV = "cafebabefacedbaddecaf888"
GCM_PLAINTEXT = (
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
GCM_CIPHERTEXT = (
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
)
GCM_AAD = "feedfacedeadbeeffeedfacedeadbeefabaddad2"


@pytest.mark.parametrize(
    ("key", "iv", "plaintext", "aad", "ciphertext", "tag"),
    [
        pytest.param(
            "00" * 32, "00" * 12, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b", id="TC13"
        ),
        pytest.param(
            "00" * 32,
            "00" * 12,
            "00" * 16,
            "",
            "cea7403d4d606b6e074ec5d3baf39d18",
            "d0d1c8a799996bf0265b98b5d48ab919",
            id="TC14",
        ),
        pytest.param(
            GCM_KEY,
            GCM_IV,
            GCM_PLAINTEXT,
            "",
            GCM_CIPHERTEXT,
            "b094dac5d93471bdec1a502270e3cc6c",
            id="TC15",
        ),
        pytest.param(
            GCM_KEY,
            GCM_IV,
            GCM_PLAINTEXT[:120],
            GCM_AAD,
            GCM_CIPHERTEXT[:120],
            "76fc6ece0f4e1768cddf8853bb2d551b",
            id="TC16",
        ),
    ],
)
def test_aead_seal_and_open_match_the_gcm_spec(
    key: str, iv: str, plaintext: str, aad: str, ciphertext: str, tag: str
) -> None:
    """``seal`` with its nonce fixed by a stub RandomSource gives ``IV || C || T``."""
    sealed = aead.seal(_hex(key), _hex(plaintext), _hex(aad), _Chunks(_hex(iv)))
    assert sealed.hex() == iv + ciphertext + tag
    assert aead.open_sealed(_hex(key), _hex(iv + ciphertext + tag), _hex(aad)) == _hex(plaintext)
    forged = _hex(iv + ciphertext + tag)
    forged = forged[:-1] + bytes([forged[-1] ^ 1])
    with pytest.raises(AuthenticationError):
        aead.open_sealed(_hex(key), forged, _hex(aad))


def test_sealed_share_pair_is_pinned() -> None:
    """The whole ShareKeys entry of silo "alice" (1) for "bob" (2), nonce fixed by a stub."""
    sealed = seal_pair(
        CONTEXT,
        c_key=_agreement_key(ALICE_PRIVATE),
        holder_c_public=_hex(BOB_PUBLIC),
        dealer=("alice", 1),
        holder=("bob", 2),
        pair=(shamir.Share(2, 5), shamir.Share(2, 7)),
        rng=_Chunks(_hex(GCM_IV)),
    )
    # PINNED (fedseal 86719d8): nonce || AES-256-GCM(share_key(1 -> 2), y_b || y_s, share_ad).
    assert sealed.ciphertext.hex() == (
        "cafebabefacedbaddecaf888"
        "813693edd4d4a662be88d0503eab3cc3c5b4982ce8739147a7c40a4bfca3617a"
        "9704455c77153f048ed3aa0367c355776eb9f5cbc3338cd163d9e10c5a5b1c6d"
        "4a9fe2946b84da172bab9684ec7ccc8f"
    )
    assert sealed.seed_commitment.hex() == (
        "0f57d28e7ada3f30e9e87ad230b40fe38c1b655e131bec36fe172e58782c0dfe"
    )
    assert sealed.key_commitment.hex() == (
        "989206d06d82c067236b3cb65baa666152d5e4aa7b02a0b913a118aa6e5c3147"
    )


# --- Shamir over GF(2^255 - 19): closed-form known answers ----------------------------------


def test_shamir_split_evaluates_the_known_polynomial() -> None:
    """f(x) = 1 + 2x at x = 1, 2, 3 is 3, 5, 7; the coefficient comes from the stub (48 bytes)."""
    secret = (1).to_bytes(32, "big")
    shares = shamir.split(secret, [1, 2, 3], 2, _Chunks((2).to_bytes(48, "big")))
    assert [(s.x, s.to_bytes().hex()) for s in shares] == [
        (1, "00" * 31 + "03"),
        (2, "00" * 31 + "05"),
        (3, "00" * 31 + "07"),
    ]
    assert shamir.reconstruct([shares[2], shares[1]], 2) == secret


def test_shamir_wraps_around_the_prime() -> None:
    """f(x) = (p - 1) + x mod p = x - 1: shares 0, 1, 2 at x = 1, 2, 3."""
    p = 2**255 - 19
    secret = (p - 1).to_bytes(32, "big")
    shares = shamir.split(secret, [1, 2, 3], 2, _Chunks((1).to_bytes(48, "big")))
    assert [s.y for s in shares] == [0, 1, 2]
    assert shamir.reconstruct(shares[1:], 2).hex() == (
        "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffec"
    )


def test_lagrange_coefficients_at_zero_for_1_2_3() -> None:
    """l_1 = 2*3/((2-1)(3-1)) = 3, l_2 = 1*3/((1-2)(3-2)) = -3, l_3 = 1*2/((1-3)(2-3)) = 1."""
    p = 2**255 - 19
    assert shamir.lagrange_at_zero((1, 2, 3)) == (3, p - 3, 1)


# --- Field encoding and signing payloads (fedseal's own format) -----------------------------


@pytest.mark.parametrize(
    ("field", "encoded"),
    [
        pytest.param(0, b"i\x00\x00\x00\x08" + bytes(8), id="int-0"),
        pytest.param(7, b"i\x00\x00\x00\x08" + bytes(7) + b"\x07", id="int-7"),
        pytest.param(2**64 - 1, b"i\x00\x00\x00\x08" + b"\xff" * 8, id="int-max"),
        pytest.param("", b"s\x00\x00\x00\x00", id="str-empty"),
        pytest.param("é", b"s\x00\x00\x00\x02\xc3\xa9", id="str-utf8"),
        pytest.param(b"", b"b\x00\x00\x00\x00", id="bytes-empty"),
        pytest.param(b"\x01\x02", b"b\x00\x00\x00\x02\x01\x02", id="bytes"),
    ],
)
def test_encode_field_exact_bytes(field: bytes | str | int, encoded: bytes) -> None:
    assert encode_field(field) == encoded


def test_signing_payload_and_share_ad_exact_bytes() -> None:
    expected = (
        b"fedseal/v1/share\x00"
        + CONTEXT_FIELDS
        + b"s\x00\x00\x00\x05alice"
        + b"s\x00\x00\x00\x03bob"
    )
    assert signing_payload("share", DEPLOYMENT, ROUND, "alice", "bob") == expected
    assert transcript.share_ad(CONTEXT, "alice", "bob") == expected


def test_share_commitment_is_sha256_of_the_written_out_payload() -> None:
    share = bytes(range(32))
    payload = (
        b"fedseal/v1/share-commitment\x00"
        + CONTEXT_FIELDS
        + b"s\x00\x00\x00\x01b"
        + b"s\x00\x00\x00\x05alice"
        + b"s\x00\x00\x00\x03bob"
        + b"b\x00\x00\x00\x20"
        + share
    )
    commitment = transcript.share_commitment(CONTEXT, "b", "alice", "bob", share)
    assert commitment == hashlib.sha256(payload).digest()
    # PINNED (fedseal 86719d8).
    assert commitment.hex() == "a5ecce76806265bd9b5361e608a6845c3bb374b61a2d95efb677eb7d05337ce3"


# --- Transcript digests (PINNED, fedseal 86719d8) --------------------------------------------

PARAMS = RoundParams(
    deployment_id=DEPLOYMENT,
    round_id=ROUND,
    participants=("alice", "bob", "carol"),
    graph=GraphKind.FULL,
    k=2,
    threshold=2,
    vector_length=1000,
    modulus_bits=32,
)
TRAIN_DIGEST = bytes(range(32))
ROUND_DIGEST = "81232f49e00a32673d7f9abd13ab1d19cc1c437386fcb7b1d4755ab3da8e797f"
KEY_DIRECTORY = "1bb21b567aae9dd897af2bc7c170d88604a80c35e1e5c8c3861eff7d8bd28d97"


def test_round_digest_is_pinned() -> None:
    assert transcript.round_digest(PARAMS, TRAIN_DIGEST).hex() == ROUND_DIGEST


def test_advertise_payload_is_pinned() -> None:
    payload = transcript.advertise_payload(
        CONTEXT, _hex(ROUND_DIGEST), "alice", _hex(ALICE_PUBLIC), _hex(BOB_PUBLIC)
    )
    assert hashlib.sha256(payload).hexdigest() == (
        "e6da9f561ed45643903ade83648304296424f356d73eb89194278a67b670a4d1"
    )


def test_key_directory_and_consistency_payload_are_pinned() -> None:
    advertisements = [
        AdvertiseKeys(DEPLOYMENT, ROUND, "bob", _hex(BOB_PUBLIC), _hex(ALICE_PUBLIC), b""),
        AdvertiseKeys(DEPLOYMENT, ROUND, "alice", _hex(ALICE_PUBLIC), _hex(BOB_PUBLIC), b""),
    ]
    directory = transcript.key_directory_digest(CONTEXT, advertisements)
    assert directory.hex() == KEY_DIRECTORY
    payload = transcript.consistency_payload(
        CONTEXT, _hex(ROUND_DIGEST), ["carol", "alice"], _hex(KEY_DIRECTORY)
    )
    assert hashlib.sha256(payload).hexdigest() == (
        "8667cf1bf128debc4723bc485e61f319410acbe2e911959839ee80dfd9264e35"
    )


def test_share_keys_payload_is_pinned() -> None:
    to_bob = EncryptedShare(
        "alice",
        "bob",
        _hex(
            "cafebabefacedbaddecaf888"
            "813693edd4d4a662be88d0503eab3cc3c5b4982ce8739147a7c40a4bfca3617a"
            "9704455c77153f048ed3aa0367c355776eb9f5cbc3338cd163d9e10c5a5b1c6d"
            "4a9fe2946b84da172bab9684ec7ccc8f"
        ),
        _hex("0f57d28e7ada3f30e9e87ad230b40fe38c1b655e131bec36fe172e58782c0dfe"),
        _hex("989206d06d82c067236b3cb65baa666152d5e4aa7b02a0b913a118aa6e5c3147"),
    )
    to_carol = EncryptedShare("alice", "carol", b"x", bytes(32), b"\x01" * 32)
    payload = transcript.share_keys_payload(
        CONTEXT, _hex(ROUND_DIGEST), "alice", [to_carol, to_bob]
    )
    assert hashlib.sha256(payload).hexdigest() == (
        "3b8dab642ab2608a4f72cf31f205fa5be268ae64f1ef67df03af06f3f246e17b"
    )
