//! Signing keys for Palisade's own tokens: the four algorithms we support, key generation from the
//! OS CSPRNG (aws-lc-rs), loading from stored bytes, and the public JWK each asymmetric key
//! publishes. Private material is zeroized on drop and never printed by `Debug`.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::JwtError;

/// A JWS algorithm Palisade signs or accepts. `none`, and every algorithm not listed, is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// Ed25519 signatures: Palisade's default for its own tokens.
    EdDSA,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// HMAC-SHA256: a shared secret, accepted only from Palisade itself.
    HS256,
}

impl Algorithm {
    /// The name as it appears in a JWT header or a JWK `alg` (case-sensitive).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
            Algorithm::HS256 => "HS256",
        }
    }

    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
        }
    }
}

impl FromStr for Algorithm {
    type Err = JwtError;

    /// Exact, case-sensitive names only: `"none"`, `"eddsa"` and friends are refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "EdDSA" => Ok(Algorithm::EdDSA),
            "ES256" => Ok(Algorithm::ES256),
            "RS256" => Ok(Algorithm::RS256),
            "HS256" => Ok(Algorithm::HS256),
            _ => Err(JwtError::AlgorithmNotAllowed),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The public half of an asymmetric key, as JWK members need it.
enum PublicParts {
    Ed25519 { x: Vec<u8> },
    P256 { x: Vec<u8>, y: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// A key Palisade signs its tokens with (and verifies them with), pinned to one algorithm.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    private: Zeroizing<Vec<u8>>,
    encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    public: Option<PublicParts>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("private", &"[redacted]")
            .finish()
    }
}

/// Shortest HS256 secret accepted: RFC 7518 §3.2 asks for at least the hash output size.
pub(crate) const MIN_HMAC_SECRET: usize = 32;

fn key_error(what: &str) -> JwtError {
    JwtError::Key(what.to_string())
}

impl SigningKey {
    /// A fresh key from the OS CSPRNG: Ed25519, P-256, RSA-2048, or a 32-byte HMAC secret.
    pub fn generate(alg: Algorithm, kid: String) -> Result<Self, JwtError> {
        let rng = SystemRandom::new();
        let failed = |_| key_error("key generation failed");
        let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(match alg {
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Algorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(failed)?
                    .as_ref()
                    .to_vec()
            }
            Algorithm::RS256 => {
                use aws_lc_rs::encoding::AsDer;
                let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
                pair.as_der().map_err(failed)?.as_ref().to_vec()
            }
            Algorithm::HS256 => {
                let mut secret = vec![0u8; MIN_HMAC_SECRET];
                aws_lc_rs::rand::fill(&mut secret).map_err(failed)?;
                secret
            }
        });
        Self::from_private_bytes(alg, kid, &bytes)
    }

    /// Loads a key from what [`SigningKey::private_bytes`] returned: PKCS#8 DER for EdDSA and
    /// ES256, PKCS#8 (what we emit) or PKCS#1 DER for RS256, the raw secret for HS256.
    pub fn from_private_bytes(alg: Algorithm, kid: String, bytes: &[u8]) -> Result<Self, JwtError> {
        if kid.is_empty() {
            return Err(key_error("a key id must not be empty"));
        }
        let (encoding, decoding, public) = match alg {
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(bytes)
                    .map_err(|_| key_error("not an Ed25519 PKCS#8 key"))?;
                let x = pair.public_key().as_ref().to_vec();
                // jsonwebtoken's "der" Ed25519 decoding key is the raw 32-byte public key.
                let decoding = DecodingKey::from_ed_der(&x);
                (
                    EncodingKey::from_ed_der(bytes),
                    decoding,
                    Some(PublicParts::Ed25519 { x }),
                )
            }
            Algorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, bytes)
                    .map_err(|_| key_error("not a P-256 PKCS#8 key"))?;
                // Uncompressed SEC1 point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(key_error("unexpected P-256 public key encoding"));
                }
                let decoding = DecodingKey::from_ec_der(point);
                let public = PublicParts::P256 {
                    x: point[1..33].to_vec(),
                    y: point[33..].to_vec(),
                };
                (EncodingKey::from_ec_der(bytes), decoding, Some(public))
            }
            Algorithm::RS256 => {
                // jsonwebtoken signs RSA from PKCS#1, so a PKCS#8 key is unwrapped first.
                let pkcs1 = match RsaKeyPair::from_pkcs8(bytes) {
                    Ok(_) => pkcs8_private_key(bytes).ok_or_else(|| key_error("not an RSA key"))?,
                    Err(_) => bytes,
                };
                let pair = RsaKeyPair::from_der(pkcs1).map_err(|_| key_error("not an RSA key"))?;
                if pair.public_modulus_len() < 256 {
                    return Err(key_error("RSA keys must have at least 2048 bits"));
                }
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let decoding = DecodingKey::from_rsa_raw_components(&c.n, &c.e);
                (
                    EncodingKey::from_rsa_der(pkcs1),
                    decoding,
                    Some(PublicParts::Rsa { n: c.n, e: c.e }),
                )
            }
            Algorithm::HS256 => {
                if bytes.len() < MIN_HMAC_SECRET {
                    return Err(key_error("an HS256 secret must be at least 32 bytes"));
                }
                (
                    EncodingKey::from_secret(bytes),
                    DecodingKey::from_secret(bytes),
                    None,
                )
            }
        };
        Ok(SigningKey {
            alg,
            kid,
            private: Zeroizing::new(bytes.to_vec()),
            encoding,
            decoding,
            public,
        })
    }

    /// The private key as it can be stored and given back to [`SigningKey::from_private_bytes`].
    pub fn private_bytes(&self) -> Zeroizing<Vec<u8>> {
        self.private.clone()
    }

    /// The key id published in the JWKS and named by tokens' `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key signs and verifies with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public key as a JWK with `kid`, `alg` and `"use": "sig"`; `None` for HS256.
    pub fn public_jwk(&self) -> Option<Value> {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = match self.public.as_ref()? {
            PublicParts::Ed25519 { x } => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x)}),
            PublicParts::P256 { x, y } => {
                json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)})
            }
            PublicParts::Rsa { n, e } => json!({"kty": "RSA", "n": b64(n), "e": b64(e)}),
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(self.alg.as_str());
        jwk["use"] = json!("sig");
        Some(jwk)
    }
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (RFC 5208):
/// `SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey, .. }`.
/// Only called on input aws-lc already accepted as PKCS#8, and its output is parsed by aws-lc again.
fn pkcs8_private_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let (info, _) = der_element(pkcs8, 0x30)?;
    let (_, rest) = der_element(info, 0x02)?;
    let (_, rest) = der_element(rest, 0x30)?;
    let (key, _) = der_element(rest, 0x04)?;
    Some(key)
}

/// Splits one DER element with the expected tag into (contents, rest).
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        (
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
            rest,
        )
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Algorithm; 4] = [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::RS256,
        Algorithm::HS256,
    ];

    #[test]
    fn algorithm_names_round_trip() {
        for alg in ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
            assert_eq!(alg.to_string(), alg.as_str());
            assert_eq!(serde_json::to_value(alg).unwrap(), json!(alg.as_str()));
            assert_eq!(
                serde_json::from_value::<Algorithm>(json!(alg.as_str())).unwrap(),
                alg
            );
        }
        for bad in [
            "none", "None", "NONE", "eddsa", "hs256", "HS512", "PS256", "",
        ] {
            assert_eq!(bad.parse::<Algorithm>(), Err(JwtError::AlgorithmNotAllowed));
        }
    }

    #[test]
    fn generated_keys_round_trip_through_private_bytes() {
        for alg in ALL {
            let key = SigningKey::generate(alg, format!("k-{alg}")).unwrap();
            let again = SigningKey::from_private_bytes(alg, key.kid().into(), &key.private_bytes())
                .unwrap();
            assert_eq!(again.alg(), alg);
            assert_eq!(again.public_jwk(), key.public_jwk());
        }
    }

    #[test]
    fn rsa_accepts_pkcs1_too() {
        let key = SigningKey::generate(Algorithm::RS256, "r".into()).unwrap();
        let pkcs8 = key.private_bytes();
        let pkcs1 = pkcs8_private_key(&pkcs8).unwrap();
        let again = SigningKey::from_private_bytes(Algorithm::RS256, "r".into(), pkcs1).unwrap();
        assert_eq!(again.public_jwk(), key.public_jwk());
    }

    #[test]
    fn wrong_or_weak_material_is_refused() {
        let ed = SigningKey::generate(Algorithm::EdDSA, "e".into()).unwrap();
        assert!(
            SigningKey::from_private_bytes(Algorithm::ES256, "x".into(), &ed.private_bytes())
                .is_err()
        );
        assert!(
            SigningKey::from_private_bytes(Algorithm::RS256, "x".into(), &ed.private_bytes())
                .is_err()
        );
        assert!(SigningKey::from_private_bytes(Algorithm::EdDSA, "x".into(), b"garbage").is_err());
        assert!(SigningKey::from_private_bytes(Algorithm::HS256, "x".into(), &[7u8; 31]).is_err());
        assert!(
            SigningKey::from_private_bytes(Algorithm::EdDSA, String::new(), &ed.private_bytes())
                .is_err()
        );
    }

    #[test]
    fn public_jwks_have_the_expected_members() {
        let ed = SigningKey::generate(Algorithm::EdDSA, "ed".into())
            .unwrap()
            .public_jwk()
            .unwrap();
        assert_eq!(
            (ed["kty"].as_str(), ed["crv"].as_str()),
            (Some("OKP"), Some("Ed25519"))
        );
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(ed["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            (ed["kid"].as_str(), ed["alg"].as_str(), ed["use"].as_str()),
            (Some("ed"), Some("EdDSA"), Some("sig"))
        );

        let ec = SigningKey::generate(Algorithm::ES256, "ec".into())
            .unwrap()
            .public_jwk()
            .unwrap();
        assert_eq!(
            (ec["kty"].as_str(), ec["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        assert!(ec["x"].is_string() && ec["y"].is_string());

        let rsa = SigningKey::generate(Algorithm::RS256, "rs".into())
            .unwrap()
            .public_jwk()
            .unwrap();
        assert_eq!(rsa["kty"].as_str(), Some("RSA"));
        assert_eq!(rsa["e"].as_str(), Some("AQAB"));
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(rsa["n"].as_str().unwrap())
                .unwrap()
                .len(),
            256
        );

        assert!(
            SigningKey::generate(Algorithm::HS256, "hs".into())
                .unwrap()
                .public_jwk()
                .is_none()
        );
    }

    #[test]
    fn debug_does_not_print_private_material() {
        let key =
            SigningKey::from_private_bytes(Algorithm::HS256, "hs".into(), &[0xAB; 32]).unwrap();
        let printed = format!("{key:?}");
        assert!(printed.contains("[redacted]"));
        assert!(!printed.to_lowercase().contains("ab, ") && !printed.contains("171"));
    }
}
