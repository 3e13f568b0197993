//! The request the inspect measurements use, shared by the criterion bench (`benches/inspect.rs`)
//! and the instruction-count example (`examples/inspect_calls.rs`): the head of a JSON POST and
//! the ~1 KB body `scripts/bench` sends in its `inspect` scenario.

/// A JSON POST head with a query string and the inspected `user-agent` header.
pub fn parts() -> http::request::Parts {
    let (parts, ()) = http::Request::post("/api/items?page=2&q=blue+shoes")
        .header("content-type", "application/json")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .body(())
        .unwrap()
        .into_parts();
    parts
}

/// The `scripts/bench` body: a customer and 11 items (1,020 bytes).
pub fn small_body() -> Vec<u8> {
    let mut items = Vec::new();
    for i in 0..11 {
        items.push(format!(
            r#"{{"sku":"SKU-{i:04}","name":"Men's running shoe, size {i}","qty":{i},"note":"It's for O'Brien"}}"#
        ));
    }
    let body = format!(
        r#"{{"customer":"Siobhan O'Neil","items":[{}]}}"#,
        items.join(",")
    );
    body.into_bytes()
}
