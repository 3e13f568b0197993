//! Verifying the trail: walk the hash chain (in pages of 10,000) against the signed
//! checkpoints. The one check behind `palisade audit verify`, `palisade backup verify` and the
//! console's chain status.

/// Walks a store's audit trail against its signed checkpoints. `from` starts at a sequence
/// number whose link backwards is taken as given; `pinned` is an audit public key kept outside
/// the store (without it, the key stored beside the trail is used). The outer error is a store
/// failure; the inner one names the first broken sequence number.
pub async fn verify_trail(
    store: &dyn palisade_store::Store,
    from: Option<u64>,
    pinned: Option<Vec<u8>>,
) -> Result<
    Result<palisade_core::audit::Verified, palisade_core::audit::Broken>,
    palisade_store::StoreError,
> {
    let checkpoints = store.audit_checkpoints().await?;
    let mut keys = std::collections::BTreeMap::new();
    for cp in &checkpoints {
        if keys.contains_key(&cp.kid) {
            continue;
        }
        let key = match &pinned {
            Some(k) => Some(k.clone()),
            None => store
                .meta_get(&super::public_key_meta(&cp.kid))
                .await?
                .and_then(|h| super::hex_decode(&h)),
        };
        if let Some(k) = key {
            keys.insert(cp.kid.clone(), k);
        }
    }
    let mut verifier =
        match palisade_core::audit::Verifier::new(&checkpoints, &keys, from.is_some()) {
            Ok(v) => v,
            Err(b) => return Ok(Err(b)),
        };
    let mut next = from.unwrap_or(0);
    loop {
        let page = store.audit_range(next, 10_000).await?;
        let Some(last) = page.last() else {
            return Ok(verifier.finish());
        };
        next = last.seq + 1;
        if let Some(broken) = page.iter().find_map(|r| verifier.push(r).err()) {
            return Ok(Err(broken));
        }
    }
}
