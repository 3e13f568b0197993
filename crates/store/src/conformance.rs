//! The backend conformance suite: the behaviour every `Store` and `HotState` backend must show.
//!
//! Each backend's tests call these functions with a fresh, isolated instance (its own file,
//! schema or key prefix). The suite panics with a message naming the broken rule.

use crate::{HotState, Store};
use std::time::Duration;

/// Checks a durable store.
pub async fn store_suite(store: &dyn Store) {
    store.ping().await.expect("ping succeeds on a fresh store");
    assert_eq!(
        store.meta_get("absent").await.unwrap(),
        None,
        "absent key reads as None"
    );
    store.meta_put("k", "v1").await.unwrap();
    assert_eq!(store.meta_get("k").await.unwrap().as_deref(), Some("v1"));
    store.meta_put("k", "v2").await.unwrap();
    assert_eq!(
        store.meta_get("k").await.unwrap().as_deref(),
        Some("v2"),
        "put replaces"
    );
    let odd = "quote ' and \" and ; DROP TABLE palisade_meta; --";
    store.meta_put(odd, odd).await.unwrap();
    assert_eq!(
        store.meta_get(odd).await.unwrap().as_deref(),
        Some(odd),
        "values are bound, not spliced"
    );
}

/// Checks a hot state. `advance` moves the backend's clock forward by the given duration.
pub async fn hot_state_suite(hot: &dyn HotState, advance: &(dyn Fn(Duration) + Sync)) {
    hot.ping().await.expect("ping succeeds");
    let ttl = Duration::from_secs(60);

    assert_eq!(hot.counter("c").await.unwrap(), 0, "absent counter is 0");
    assert_eq!(hot.incr("c", ttl).await.unwrap(), 1);
    assert_eq!(hot.incr("c", ttl).await.unwrap(), 2);
    assert_eq!(hot.counter("c").await.unwrap(), 2);
    advance(Duration::from_secs(30));
    assert_eq!(
        hot.incr("c", ttl).await.unwrap(),
        3,
        "increments keep the first expiry"
    );
    advance(Duration::from_secs(31));
    assert_eq!(
        hot.counter("c").await.unwrap(),
        0,
        "counter expired 60 s after it started"
    );
    assert_eq!(
        hot.incr("c", ttl).await.unwrap(),
        1,
        "an expired counter restarts at 1"
    );

    assert!(!hot.has_flag("f").await.unwrap());
    hot.set_flag("f", Duration::from_secs(10)).await.unwrap();
    assert!(hot.has_flag("f").await.unwrap());
    advance(Duration::from_secs(11));
    assert!(!hot.has_flag("f").await.unwrap(), "flag expires");

    hot.set_flag("g", ttl).await.unwrap();
    hot.remove("g").await.unwrap();
    assert!(!hot.has_flag("g").await.unwrap(), "remove clears a flag");
    hot.remove("never-set")
        .await
        .expect("removing an absent key is fine");
}
