//! The attack suite: the known ways of getting a forged, altered or stale JWT accepted, each tried
//! against our own tokens and against a trusted issuer's, each expected to be refused with the
//! right reason. Every refusal is checked against a token that is otherwise valid, so a test
//! cannot pass for the wrong reason.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::{Algorithm, ClaimNames, JwtError, OwnTokens, SigningKey, TrustedIssuer};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://login.example.com";
const AUD: &str = "gateway";
const LEEWAY: u64 = 30;

enum Verifier {
    Own(OwnTokens),
    Trusted(TrustedIssuer),
}

/// A verifier and the real key its tokens are signed with.
struct Target {
    name: String,
    verifier: Verifier,
    key: Arc<SigningKey>,
}

impl Target {
    fn verify(&self, token: &str) -> Result<(), JwtError> {
        match &self.verifier {
            Verifier::Own(v) => v.verify(token, NOW).map(drop),
            Verifier::Trusted(v) => v.verify(token, NOW).map(drop),
        }
    }

    fn header(&self) -> Value {
        json!({"typ": "JWT", "alg": self.key.alg().as_str(), "kid": self.key.kid()})
    }

    /// A token signed by the real key over exactly this header and these claims.
    fn signed(&self, header: &Value, claims: &Value) -> String {
        sign_with(&self.key, header, claims)
    }

    fn valid(&self) -> String {
        self.signed(&self.header(), &claims())
    }
}

fn targets() -> Vec<Target> {
    let mut out = Vec::new();
    for alg in [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::RS256,
        Algorithm::HS256,
    ] {
        let key = Arc::new(SigningKey::generate(alg, format!("own-{alg}")).unwrap());
        let own = OwnTokens::new(
            ISS.into(),
            AUD.into(),
            LEEWAY,
            key.clone(),
            vec![key.clone()],
        );
        out.push(Target {
            name: format!("own {alg}"),
            verifier: Verifier::Own(own),
            key,
        });
    }
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let key = Arc::new(SigningKey::generate(alg, format!("idp-{alg}")).unwrap());
        // HS256 is allowed on purpose: the key pinning, not the allow-list, must stop confusion.
        let algs = vec![alg, Algorithm::HS256];
        let issuer = TrustedIssuer::new(
            ISS.into(),
            vec![AUD.into()],
            algs,
            LEEWAY,
            ClaimNames::default(),
        );
        let jwks = json!({"keys": [key.public_jwk().unwrap()]}).to_string();
        assert_eq!(issuer.set_jwks(&jwks), Ok(1));
        out.push(Target {
            name: format!("trusted {alg}"),
            verifier: Verifier::Trusted(issuer),
            key,
        });
    }
    out
}

fn claims() -> Value {
    json!({
        "sub": "user-1", "iss": ISS, "aud": AUD, "exp": NOW + 600, "iat": NOW, "nbf": NOW,
        "jti": "jti-1", "sid": "sid-1", "roles": ["user", "billing"], "tenants": ["acme"]
    })
}

fn claims_with(patch: Value) -> Value {
    let mut c = claims();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign_with(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), key.encoding(), key.alg().to_jwt()).unwrap();
    format!("{message}.{signature}")
}

fn hs256_with_secret(secret: &[u8], header: &Value, claims: &Value) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    format!(
        "{message}.{}",
        b64(aws_lc_rs::hmac::sign(&key, message.as_bytes()))
    )
}

/// Every form in which a verifier's public key is commonly found: raw, SPKI DER, PEM (as a file
/// and without the final newline), the JWK and the JWKS document.
fn public_key_forms(key: &SigningKey) -> Vec<Vec<u8>> {
    let pkcs8 = key.private_bytes();
    let (raw, spki): (Vec<u8>, Vec<u8>) = match key.alg() {
        Algorithm::EdDSA => {
            let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
            (
                pair.public_key().as_ref().to_vec(),
                pair.public_key().as_der().unwrap().as_ref().to_vec(),
            )
        }
        Algorithm::ES256 => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
            (
                pair.public_key().as_ref().to_vec(),
                pair.public_key().as_der().unwrap().as_ref().to_vec(),
            )
        }
        Algorithm::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
            (
                pair.public_key().as_ref().to_vec(),
                pair.public_key().as_der().unwrap().as_ref().to_vec(),
            )
        }
        Algorithm::HS256 => unreachable!("no public key"),
    };
    let body = STANDARD.encode(&spki);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    );
    let jwk = key.public_jwk().unwrap();
    vec![
        raw,
        spki,
        pem.clone().into_bytes(),
        pem.trim_end().as_bytes().to_vec(),
        jwk.to_string().into_bytes(),
        json!({"keys": [jwk]}).to_string().into_bytes(),
    ]
}

#[test]
fn baseline_valid_tokens_are_accepted() {
    for t in targets() {
        assert_eq!(t.verify(&t.valid()), Ok(()), "{}", t.name);
    }
}

#[test]
fn alg_none_in_any_spelling_is_refused() {
    for t in targets() {
        let real_signature = t.valid().rsplit('.').next().unwrap().to_owned();
        for none in ["none", "None", "NONE", "nOnE", "none ", ""] {
            let header = json!({"typ": "JWT", "alg": none, "kid": t.key.kid()});
            let unsigned = format!("{}.{}.", b64(header.to_string()), b64(claims().to_string()));
            assert_eq!(
                t.verify(&unsigned),
                Err(JwtError::AlgorithmNotAllowed),
                "{} {none:?}",
                t.name
            );
            let with_sig = format!("{unsigned}{real_signature}");
            assert_eq!(
                t.verify(&with_sig),
                Err(JwtError::AlgorithmNotAllowed),
                "{} {none:?}",
                t.name
            );
        }
    }
}

#[test]
fn other_algorithms_of_the_same_families_are_refused() {
    for t in targets() {
        for alg in [
            "HS384", "HS512", "RS384", "RS512", "PS256", "ES384", "ES512", "Ed25519", "eddsa",
        ] {
            let header = json!({"alg": alg, "kid": t.key.kid()});
            let token = t.signed(&header, &claims());
            assert_eq!(
                t.verify(&token),
                Err(JwtError::AlgorithmNotAllowed),
                "{} {alg}",
                t.name
            );
        }
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    for t in targets()
        .into_iter()
        .filter(|t| t.key.alg() != Algorithm::HS256)
    {
        let header = json!({"typ": "JWT", "alg": "HS256", "kid": t.key.kid()});
        for secret in public_key_forms(&t.key) {
            let forged = hs256_with_secret(&secret, &header, &claims());
            assert_eq!(
                t.verify(&forged),
                Err(JwtError::AlgorithmNotAllowed),
                "{}",
                t.name
            );
        }
    }
}

#[test]
fn header_alg_must_match_the_keys_pinned_alg() {
    for t in targets() {
        for other in [
            Algorithm::EdDSA,
            Algorithm::ES256,
            Algorithm::RS256,
            Algorithm::HS256,
        ] {
            if other == t.key.alg() {
                continue;
            }
            // Signed for real, by a key of the other algorithm, under the target key's kid.
            let attacker = SigningKey::generate(other, t.key.kid().into()).unwrap();
            let header = json!({"alg": other.as_str(), "kid": t.key.kid()});
            let token = sign_with(&attacker, &header, &claims());
            assert_eq!(
                t.verify(&token),
                Err(JwtError::AlgorithmNotAllowed),
                "{} as {other}",
                t.name
            );
        }
    }
}

#[test]
fn tampered_payload_is_refused() {
    for t in targets() {
        let valid = t.valid();
        let [h, _, s]: [&str; 3] = valid.split('.').collect::<Vec<_>>().try_into().unwrap();
        let escalated = claims_with(json!({"roles": ["user", "billing", "admin"]}));
        let tampered = format!("{h}.{}.{s}", b64(escalated.to_string()));
        assert_eq!(
            t.verify(&tampered),
            Err(JwtError::BadSignature),
            "{}",
            t.name
        );
        let other_user = format!(
            "{h}.{}.{s}",
            b64(claims_with(json!({"sub": "user-2"})).to_string())
        );
        assert_eq!(
            t.verify(&other_user),
            Err(JwtError::BadSignature),
            "{}",
            t.name
        );
    }
}

#[test]
fn stripped_or_mangled_signature_is_refused() {
    for t in targets() {
        let valid = t.valid();
        let message = valid.rsplit_once('.').unwrap().0;
        assert_eq!(
            t.verify(&format!("{message}.")),
            Err(JwtError::BadSignature),
            "{}",
            t.name
        );
        assert_eq!(t.verify(message), Err(JwtError::Malformed), "{}", t.name);
        let sig = valid.rsplit('.').next().unwrap();
        let flipped = if sig.starts_with('A') {
            sig.replacen('A', "B", 1)
        } else {
            format!("A{}", &sig[1..])
        };
        assert_eq!(
            t.verify(&format!("{message}.{flipped}")),
            Err(JwtError::BadSignature),
            "{}",
            t.name
        );
        assert_eq!(
            t.verify(&format!("{message}.!!!")),
            Err(JwtError::Malformed),
            "{}",
            t.name
        );
    }
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    for t in targets() {
        let expired = t.signed(&t.header(), &claims_with(json!({"exp": NOW - LEEWAY})));
        assert_eq!(t.verify(&expired), Err(JwtError::Expired), "{}", t.name);
        let early = t.signed(&t.header(), &claims_with(json!({"nbf": NOW + LEEWAY + 1})));
        assert_eq!(t.verify(&early), Err(JwtError::NotYetValid), "{}", t.name);
        let within_leeway = t.signed(&t.header(), &claims_with(json!({"exp": NOW - LEEWAY + 1})));
        assert_eq!(t.verify(&within_leeway), Ok(()), "{}", t.name);
    }
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    for t in targets() {
        let iss = t.signed(
            &t.header(),
            &claims_with(json!({"iss": "https://login.example.com.evil"})),
        );
        assert_eq!(t.verify(&iss), Err(JwtError::WrongIssuer), "{}", t.name);
        let aud = t.signed(&t.header(), &claims_with(json!({"aud": "another-api"})));
        assert_eq!(t.verify(&aud), Err(JwtError::WrongAudience), "{}", t.name);
    }
}

#[test]
fn missing_exp_or_sub_is_refused() {
    for t in targets() {
        let no_exp = t.signed(&t.header(), &claims_with(json!({"exp": null})));
        assert_eq!(
            t.verify(&no_exp),
            Err(JwtError::MissingClaim("exp")),
            "{}",
            t.name
        );
        let no_sub = t.signed(&t.header(), &claims_with(json!({"sub": null})));
        assert_eq!(
            t.verify(&no_sub),
            Err(JwtError::MissingClaim("sub")),
            "{}",
            t.name
        );
    }
}

#[test]
fn unknown_and_injected_kids_are_refused_without_echo() {
    let injected = [
        "rotated-away",
        "../../etc/passwd",
        "x' OR '1'='1",
        "/dev/null",
        "",
        "%00",
    ];
    for t in targets() {
        for kid in injected {
            let header = json!({"alg": t.key.alg().as_str(), "kid": kid});
            let err = t.verify(&t.signed(&header, &claims())).unwrap_err();
            assert_eq!(err, JwtError::UnknownKid, "{} {kid:?}", t.name);
            assert!(kid.is_empty() || !err.to_string().contains(kid));
        }
    }
}

#[test]
fn headers_naming_or_embedding_keys_are_refused() {
    let attacker = SigningKey::generate(Algorithm::EdDSA, "attacker".into()).unwrap();
    for t in targets() {
        let cases = [
            ("jku", json!("https://evil.example/jwks.json")),
            ("x5u", json!("https://evil.example/cert.pem")),
            ("jwk", attacker.public_jwk().unwrap()),
            ("x5c", json!(["MIIBszCCAVmgAwIBAgIUe"])),
            ("crit", json!(["exp"])),
        ];
        for (name, value) in cases {
            let mut header = t.header();
            header[name] = value;
            // Validly signed by the real key: the header alone must cause the refusal.
            assert_eq!(
                t.verify(&t.signed(&header, &claims())),
                Err(JwtError::ForbiddenHeader(name)),
                "{}",
                t.name
            );
        }
        // The classic embedded-key forgery: attacker's key in `jwk`, token signed with it.
        let mut header = json!({"alg": "EdDSA", "kid": t.key.kid()});
        header["jwk"] = attacker.public_jwk().unwrap();
        let forged = sign_with(&attacker, &header, &claims());
        assert_eq!(
            t.verify(&forged),
            Err(JwtError::ForbiddenHeader("jwk")),
            "{}",
            t.name
        );
    }
}

#[test]
fn oversized_tokens_are_refused_before_parsing() {
    for t in targets() {
        let padding = "x".repeat(8192);
        let big = t.signed(&t.header(), &claims_with(json!({"pad": padding})));
        assert_eq!(t.verify(&big), Err(JwtError::TooLarge), "{}", t.name);
        // Not even a JWT: size is checked first.
        assert_eq!(
            t.verify(&"!".repeat(8193)),
            Err(JwtError::TooLarge),
            "{}",
            t.name
        );
        assert_eq!(
            t.verify(&"!".repeat(8192)),
            Err(JwtError::Malformed),
            "{}",
            t.name
        );
    }
}

#[test]
fn garbage_is_malformed() {
    for t in targets() {
        for junk in [
            "",
            ".",
            "..",
            "a.b.c",
            "Bearer x",
            "e30.e30.",
            "e30.e30.e30",
        ] {
            let err = t.verify(junk).unwrap_err();
            assert!(
                matches!(err, JwtError::Malformed),
                "{} {junk:?}: {err:?}",
                t.name
            );
        }
        let not_json = format!("{}.{}.", b64("{\"alg\":"), b64("{}"));
        assert_eq!(t.verify(&not_json), Err(JwtError::Malformed), "{}", t.name);
    }
}
