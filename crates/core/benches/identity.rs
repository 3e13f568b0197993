//! Identity checks on the hot path, one element per iteration (elem/s = checks per second):
//! own-token verification per algorithm, a repeated token through the verified-token cache, and
//! API-key verification (shape check + peppered HMAC + lookup among 100,000 keys).
//! Targets on one core, release: EdDSA ≥ 20,000/s, cached ≥ 500,000/s, API key ≥ 1,000,000/s.

use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_core::api_key::{self, Pepper};
use palisade_core::jwt::{AccessClaims, Algorithm, OwnTokens, SigningKey, VerifiedCache};
use secrecy::ExposeSecret;

const NOW: u64 = 1_800_000_000;

fn claims(n: usize) -> AccessClaims {
    AccessClaims {
        sub: "0193a5c2-7d1e-7c3a-9f00-1234567890ab".into(),
        uid: None,
        iss: "https://auth.example.com".into(),
        aud: "palisade".into(),
        exp: NOW + 900,
        iat: NOW,
        nbf: NOW,
        jti: format!("0193a5c2-7d1e-7c3a-9f00-{n:012}"),
        sid: "0193a5c2-7d1e-7c3a-9f00-abcdefabcdef".into(),
        roles: vec!["admin".into(), "billing".into()],
        tenants: vec!["acme".into()],
        tier: Some("standard".into()),
        dfp: None,
        amr: Vec::new(),
        acr: None,
        auth_time: None,
    }
}

fn own(alg: Algorithm) -> OwnTokens {
    let key = Arc::new(SigningKey::generate(alg, format!("{alg}-2026-01")).unwrap());
    OwnTokens::new(
        "https://auth.example.com".into(),
        "palisade".into(),
        30,
        key.clone(),
        vec![key],
    )
}

fn jwt(c: &mut Criterion) {
    let mut g = c.benchmark_group("jwt");
    g.throughput(Throughput::Elements(1));
    for (name, alg) in [
        ("verify_eddsa", Algorithm::EdDSA),
        ("verify_es256", Algorithm::ES256),
        ("verify_rs256", Algorithm::RS256),
    ] {
        let tokens = own(alg);
        let token = tokens.sign(&claims(0)).unwrap();
        assert!(tokens.verify(&token, NOW).is_ok());
        g.bench_function(name, |b| {
            b.iter(|| tokens.verify(black_box(&token), NOW).unwrap())
        });
    }

    // Baseline: the bare Ed25519 check of a token's signing input, no JWT handling around it.
    let pair = Ed25519KeyPair::generate().unwrap();
    let token = own(Algorithm::EdDSA).sign(&claims(0)).unwrap();
    let message = token.rsplit_once('.').unwrap().0.as_bytes();
    let signature = pair.sign(message);
    let public = UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref().to_vec());
    g.bench_function("baseline_ed25519_signature", |b| {
        b.iter(|| {
            public
                .verify(black_box(message), signature.as_ref())
                .unwrap()
        })
    });

    let tokens = own(Algorithm::EdDSA);
    let cache: VerifiedCache<AccessClaims> = VerifiedCache::new(20_000);
    let mut token = String::new();
    for n in 0..10_000 {
        let c = claims(n);
        token = tokens.sign(&c).unwrap();
        let exp = c.exp;
        cache.insert(
            VerifiedCache::<AccessClaims>::key(&token),
            Arc::new(c),
            exp,
            NOW,
        );
    }
    g.bench_function("verify_cached", |b| {
        b.iter(|| {
            cache
                .get(&VerifiedCache::<AccessClaims>::key(black_box(&token)), NOW)
                .unwrap()
        })
    });
    g.finish();
}

#[allow(dead_code)]
struct Record {
    id: uuid::Uuid,
    owner: String,
    scopes: Vec<String>,
}

fn api_key(c: &mut Criterion) {
    let pepper = Pepper::new(b"bench pepper: 32 bytes or more, really");
    let keys: moka::sync::Cache<[u8; 32], Arc<Record>> =
        moka::sync::Cache::builder().max_capacity(200_000).build();
    let mut presented = String::new();
    for n in 0..100_000 {
        let key = api_key::generate(&pepper);
        let record = Record {
            id: uuid::Uuid::now_v7(),
            owner: format!("user-{n}"),
            scopes: vec!["read".into()],
        };
        keys.insert(key.hash, Arc::new(record));
        if n == 50_000 {
            presented = key.plaintext.expose_secret().to_owned();
        }
    }
    keys.run_pending_tasks();

    let mut g = c.benchmark_group("api_key");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify", |b| {
        b.iter(|| {
            let presented = black_box(presented.as_str());
            assert!(api_key::looks_like_key(presented));
            keys.get(&api_key::hash(&pepper, presented)).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, jwt, api_key);
criterion_main!(benches);
