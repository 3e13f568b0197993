// Palisade hosted pages: passkey ceremonies (WebAuthn) and sign-out. Password sign-in is a plain
// form and needs none of this. Every URL is relative to the page, so the pages work under any
// api.mount. Signed-in requests carry the session's CSRF token (meta palisade-csrf).
"use strict";
(function () {
  const b64uToBuf = (s) => {
    const b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
  };
  const bufToB64u = (buf) => {
    let s = "";
    new Uint8Array(buf).forEach((x) => { s += String.fromCharCode(x); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const csrf = () => {
    const m = document.querySelector('meta[name="palisade-csrf"]');
    return m ? m.content : "";
  };
  const post = async (url, body) => {
    const headers = { "content-type": "application/json" };
    if (csrf()) headers["x-csrf-token"] = csrf();
    const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body || {}),
      credentials: "same-origin" });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(json.detail || ("The server answered " + res.status + "."));
    return json;
  };
  const showError = (id, err) => {
    const el = document.getElementById(id);
    if (el) { el.textContent = err.message || String(err); el.hidden = false; el.focus(); }
  };

  // Registration: the server's options, binary fields decoded; the credential re-encoded.
  async function addPasskey() {
    const status = document.getElementById("passkey-status");
    const name = document.getElementById("passkey-name").value || "Passkey";
    status.textContent = "Waiting for your authenticator…";
    const start = await post("../passkeys/register/start", { name });
    const pk = start.options.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    pk.user.id = b64uToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = b64uToBuf(c.id); });
    const cred = await navigator.credentials.create({ publicKey: pk });
    const credential = {
      id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type,
      response: {
        attestationObject: bufToB64u(cred.response.attestationObject),
        clientDataJSON: bufToB64u(cred.response.clientDataJSON),
        transports: cred.response.getTransports ? cred.response.getTransports() : undefined,
      },
      extensions: cred.getClientExtensionResults(),
    };
    await post("../passkeys/register/finish", { ceremony: start.ceremony, credential });
    status.textContent = "Passkey added.";
    window.location.reload();
  }

  // Passwordless sign-in with a discoverable credential.
  async function signInWithPasskey(returnTo) {
    const start = await post("../passkeys/sign-in/start", {});
    const pk = start.options.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = b64uToBuf(c.id); });
    const cred = await navigator.credentials.get({ publicKey: pk });
    const r = cred.response;
    const credential = {
      id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type,
      response: {
        authenticatorData: bufToB64u(r.authenticatorData),
        clientDataJSON: bufToB64u(r.clientDataJSON),
        signature: bufToB64u(r.signature),
        userHandle: r.userHandle ? bufToB64u(r.userHandle) : null,
      },
      extensions: cred.getClientExtensionResults(),
    };
    const done = await post("../passkeys/sign-in/finish",
      { ceremony: start.ceremony, credential, return_to: returnTo || "" });
    window.location.assign(done.location || "signed-in");
  }

  async function signOut() {
    const res = await fetch("../browser-session", { method: "DELETE",
      headers: { "x-csrf-token": csrf() }, credentials: "same-origin" });
    if (!res.ok && res.status !== 204) throw new Error("Sign-out failed (" + res.status + ").");
    window.location.assign("sign-in");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const on = (id, fn, errId) => {
      const el = document.getElementById(id);
      if (el) el.addEventListener("click", () => fn(el).catch((e) => showError(errId, e)));
    };
    on("add-passkey", () => addPasskey(), "passkey-error");
    on("passkey-sign-in", (el) => signInWithPasskey(el.dataset.returnTo), "passkey-error");
    on("sign-out", () => signOut(), "sign-out-error");
  });
})();
