//! A small axum service protected in-process by Palisade's gates: a public handler, a member's
//! own notes, and an admin-only report. Who may call what is Palisade's configuration
//! (`palisade.toml` beside this crate); the handlers only read who is calling ([`Caller`]).
//!
//! [`app`] is the service as `main` serves it and the tests call it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use palisade_gateway::{Caller, Palisade, PalisadeService};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tower::Layer as _;

/// The configuration this example ships with.
pub const CONFIG: &str = include_str!("../palisade.toml");

/// Each member's notes, by subject (a real service keeps them in its database).
#[derive(Debug, Clone, Default)]
pub struct Notes(Arc<Mutex<HashMap<String, Vec<String>>>>);

/// The application's own routes, without any security of their own.
pub fn router(notes: Notes) -> Router {
    Router::new()
        .route("/public/hello", get(hello))
        .route("/me", get(me))
        .route("/me/notes", get(my_notes).post(add_note))
        .route("/admin/report", get(report))
        .with_state(notes)
}

/// The router behind Palisade's gates: what `main` serves.
pub fn app(palisade: &Palisade, notes: Notes) -> PalisadeService {
    palisade.layer().layer(router(notes))
}

/// Open to anyone (the `public` route says `auth = "none", public = true`).
async fn hello(who: Option<Caller>) -> Json<Value> {
    Json(json!({ "hello": who.map_or("stranger".to_owned(), |c| c.subject().to_owned()) }))
}

/// The caller as Palisade proved it.
async fn me(who: Caller) -> Json<Value> {
    Json(json!({
        "user_id": who.user_id(),
        "roles": who.roles(),
        "method": who.method().as_str(),
    }))
}

/// The caller's own notes, never another member's.
async fn my_notes(State(notes): State<Notes>, who: Caller) -> Json<Value> {
    let mine = notes
        .0
        .lock()
        .expect("notes lock")
        .get(who.subject())
        .cloned()
        .unwrap_or_default();
    Json(json!({ "notes": mine }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewNote {
    text: String,
}

async fn add_note(
    State(notes): State<Notes>,
    who: Caller,
    Json(note): Json<NewNote>,
) -> axum::http::StatusCode {
    notes
        .0
        .lock()
        .expect("notes lock")
        .entry(who.subject().to_owned())
        .or_default()
        .push(note.text);
    axum::http::StatusCode::CREATED
}

/// Only for administrators: the `admin` route requires the `admin` role, so a member never
/// reaches this handler (Palisade answers 403 and records `authz.denied`).
async fn report(who: Caller) -> Json<Value> {
    Json(json!({ "report": "all systems nominal", "for": who.subject() }))
}
