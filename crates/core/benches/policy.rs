//! One route decision plus one authorization decision against 1,000 routes and 50 roles (target
//! ≤ 2 µs on one core), with a linear scan over the same prefixes as the baseline the route
//! index replaces.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_core::policy::{
    AuthRequirement, PolicySet, RoleDef, RouteIndex, RouteKey, RouteMatch, RoutePolicy, Subject,
    TenantDirectory, default_roles,
};
use std::collections::HashMap;
use std::hint::black_box;

struct Members(HashMap<String, String>);

impl TenantDirectory for Members {
    fn roles_in(&self, tenant: &str) -> Option<Vec<String>> {
        self.0.get(tenant).map(|r| vec![r.clone()])
    }
    fn resource_grants(&self, _: &str) -> Option<Vec<String>> {
        None
    }
}

fn setup() -> (PolicySet, RouteIndex, Vec<String>) {
    let routes: Vec<RoutePolicy> = (0..1000)
        .map(|i| RoutePolicy {
            name: format!("svc{i}"),
            prefix: format!("/svc{i}/items/"),
            pattern: (i % 2 == 0).then(|| format!("/svc{i}/items/{{tenant}}/")),
            tenant_param: (i % 2 == 0).then(|| "tenant".to_string()),
            auth: AuthRequirement::Any,
            resource: Some(format!("svc{i}")),
            permissions: vec![format!("svc{i}.list")],
            ..Default::default()
        })
        .collect();
    let mut roles = default_roles();
    for i in 0..45 {
        roles.push(RoleDef {
            name: format!("team{i}"),
            grants: vec![
                format!("svc{}.*", i * 20),
                format!("svc{}.read", i * 20 + 1),
            ],
            inherits: vec![if i == 0 {
                "viewer".into()
            } else {
                format!("team{}", i - 1)
            }],
        });
    }
    let prefixes: Vec<String> = routes.iter().map(|r| r.prefix.clone()).collect();
    let index = RouteIndex::new(
        prefixes
            .iter()
            .map(|p| RouteKey {
                prefix: p.clone(),
                ..Default::default()
            })
            .collect(),
    );
    (PolicySet::compile(routes, &roles).unwrap(), index, prefixes)
}

fn bench(c: &mut Criterion) {
    let (set, index, prefixes) = setup();
    let members = Members([("t42".to_string(), "team44".to_string())].into());
    let roles = vec!["member".to_string(), "team44".to_string()];
    let subject = Subject {
        authenticated_by: Some(AuthRequirement::Jwt),
        roles: &roles,
        scopes: &[],
        tenants: &members,
    };
    let decide = |path: &str| {
        let route = match index.find(None, "GET", path) {
            RouteMatch::Found(id) => Some(id),
            _ => None,
        };
        set.decide(route, "GET", path, &subject)
    };
    let path = "/svc880/items/t42/objects/1";
    assert!(matches!(
        decide(path),
        palisade_core::policy::Decision::Allow { .. }
    ));
    let mut g = c.benchmark_group("policy");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decide_1000_routes_50_roles", |b| {
        b.iter(|| decide(black_box(path)))
    });
    g.bench_function("linear_scan_baseline", |b| {
        b.iter(|| {
            prefixes
                .iter()
                .filter(|p| black_box(path).starts_with(p.as_str()))
                .max_by_key(|p| p.len())
                .cloned()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
