//! The throttle gate end to end: who is counted (key > user > IP), tiers, categories, headers,
//! the sampled audit event, allow-listed networks, and reset by the clock.

use crate::authorization::signed_in;
use crate::common::*;
use crate::identity::Env;
use palisade_gateway::config::Config;
use palisade_gateway::config::traffic::{LimitAlgorithm, RuleConfig};
use palisade_gateway::config::units::HumanDuration;
use serde_json::json;
use std::time::Duration;

fn global(limit: u32, algorithm: LimitAlgorithm) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.rate_limit.enabled = true;
        c.rate_limit.rules.insert(
            "global".into(),
            RuleConfig {
                limit,
                period: HumanDuration(Duration::from_secs(60)),
                burst: None,
                algorithm: Some(algorithm),
            },
        );
    }
}

async fn get(env: &Env, auth: Option<&str>) -> reqwest::Response {
    let mut req = env.http.get(env.url("/api/items"));
    match auth {
        Some(k) if k.starts_with("pal_") => req = req.header("x-api-key", k),
        Some(t) => req = req.bearer_auth(t),
        None => {}
    }
    req.send().await.unwrap()
}

/// How many requests pass before the first 429.
async fn admitted(env: &Env, auth: Option<&str>) -> u32 {
    for n in 0..100 {
        if get(env, auth).await.status() == 429 {
            return n;
        }
    }
    panic!("never limited");
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()[name].to_str().unwrap().to_string()
}

#[tokio::test]
async fn the_key_the_user_and_the_ip_are_counted_apart_and_tiers_scale_the_limit() {
    let env = Env::start(global(4, LimitAlgorithm::Gcra)).await;
    let (user_id, token) = signed_in(&env, "ann@example.com", &["member"]).await;
    let key: serde_json::Value = env
        .http
        .post(env.url("/auth/api-keys"))
        .bearer_auth(&token)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();

    // Registration, login and key creation spent some of this IP's budget; what is left of it
    // is independent of the user's and the key's.
    assert!(admitted(&env, None).await < 4);
    assert_eq!(
        admitted(&env, Some(&token)).await,
        4 - 1,
        "key creation counted for the user"
    );
    assert_eq!(
        admitted(&env, Some(&key)).await,
        4,
        "the key has its own budget"
    );

    // Pro is 2.5 × 4 = 10, for a new token carrying the tier.
    env.identity()
        .store
        .user_set_tier(user_id.parse().unwrap(), "pro", 0)
        .await
        .unwrap();
    env.advance(Duration::from_secs(60));
    let pro = env.login("ann@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(admitted(&env, Some(&pro)).await, 10);
}

#[tokio::test]
async fn answers_carry_limit_headers_and_a_refusal_says_when_to_retry() {
    let env = Env::start(|c| {
        global(2, LimitAlgorithm::Gcra)(c);
        c.rate_limit.ietf_headers = true;
    })
    .await;
    let first = get(&env, None).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-ratelimit-limit"), "2");
    assert_eq!(header(&first, "x-ratelimit-remaining"), "1");
    assert_eq!(header(&first, "x-ratelimit-reset"), "30");
    assert_eq!(header(&first, "ratelimit-policy"), "\"global\";q=2;w=60");
    assert_eq!(header(&first, "ratelimit"), "\"global\";r=1;t=30");
    assert_eq!(get(&env, None).await.status(), 200);
    let refused = get(&env, None).await;
    assert_eq!(header(&refused, "retry-after"), "30");
    assert_eq!(header(&refused, "x-ratelimit-remaining"), "0");
    assert_problem(refused, 429, "rate-limited").await;
    for _ in 0..5 {
        assert_eq!(get(&env, None).await.status(), 429);
    }
    let sampled = env
        .gw
        .gateway
        .state
        .audit
        .recent()
        .into_iter()
        .filter(|e| e.event_type == "ratelimit.exceeded")
        .count();
    assert_eq!(
        sampled, 1,
        "one audit event per key and period, not per refusal"
    );
    assert_eq!(
        env.up.count(),
        2,
        "refused requests never reach the upstream"
    );

    // Retry-After is honest: at 30 s exactly one more passes.
    env.advance(Duration::from_secs(29));
    assert_eq!(get(&env, None).await.status(), 429);
    env.advance(Duration::from_secs(1));
    assert_eq!(get(&env, None).await.status(), 200);
    assert_eq!(get(&env, None).await.status(), 429);
    // A new period audits again; the samples' counts add up to every refusal (1 + 5 + 1 + 1 + 1).
    env.advance(Duration::from_secs(60));
    while get(&env, None).await.status() == 200 {}
    let audit = &env.gw.gateway.state.audit;
    audit.flush_refusals(true);
    let sampled: Vec<_> = audit
        .recent()
        .into_iter()
        .filter(|e| e.event_type == "ratelimit.exceeded")
        .collect();
    assert!(sampled.len() >= 2 && sampled.len() < 9, "{}", sampled.len());
    let counted: u64 = sampled
        .iter()
        .map(|e| e.details["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 9);
    assert!(
        sampled
            .iter()
            .all(|e| e.resource.as_deref() == Some("rate_limit:global")
                && e.action.as_deref() == Some("GET /api/items"))
    );
}

#[tokio::test]
async fn the_sliding_window_resets_with_the_clock() {
    let env = Env::start(global(3, LimitAlgorithm::SlidingWindow)).await;
    assert_eq!(admitted(&env, None).await, 3);
    env.advance(Duration::from_secs(120));
    assert_eq!(admitted(&env, None).await, 3);
}

#[tokio::test]
async fn login_has_its_own_stricter_category_and_ops_and_allow_listed_networks_are_not_limited() {
    let env = Env::start(|c| c.rate_limit.enabled = true).await;
    env.register("bo@example.com").await;
    for _ in 0..5 {
        env.login("bo@example.com").await;
    }
    let res = env
        .post(
            "/auth/login",
            json!({"email": "bo@example.com", "password": crate::identity::PASSWORD}),
        )
        .await;
    assert_problem(res, 429, "rate-limited").await;
    for _ in 0..150 {
        let res = env.http.get(env.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }

    let open = Env::start(|c| {
        global(1, LimitAlgorithm::Gcra)(c);
        c.rate_limit.allow_cidrs = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for _ in 0..5 {
        let res = get(&open, None).await;
        assert_eq!(res.status(), 200);
        assert!(!res.headers().contains_key("x-ratelimit-limit"));
    }
}
