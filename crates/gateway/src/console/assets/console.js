// The admin console's one script. Without it every page is read-only and complete; with it the
// action controls (rendered `hidden` with data-api-method) appear and call the admin JSON API
// with the session's X-CSRF-Token: a confirm step first, then what happened (kept across the
// reload that shows the new state) or the API's problem+json detail. A 401 asking for a
// stronger or more recent sign-in sends the browser through sign-in and back to this page.
"use strict";
(function () {
  const meta = (n) => (document.querySelector('meta[name="' + n + '"]') || {}).content || "";
  const csrf = meta("palisade-csrf");
  const api = meta("palisade-api");
  const mount = api.replace(/\/admin$/, "");
  const KEY = "palisade-console-notice";

  function show(id, text) {
    const el = document.getElementById(id);
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
    if (id === "problem") el.focus();
  }

  function confirmStep(text) {
    const dialog = document.getElementById("confirm");
    if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(text));
    document.getElementById("confirm-text").textContent = text;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      document.getElementById("confirm-no").focus();
    });
  }

  function url(el) {
    const root = el.dataset.apiRoot === "mount" ? mount : api;
    return root + el.dataset.apiPath;
  }

  async function call(el, body) {
    document.getElementById("problem").hidden = true;
    if (el.dataset.confirm && !(await confirmStep(el.dataset.confirm))) return;
    const init = {
      method: el.dataset.apiMethod,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url(el), init);
    } catch (e) {
      show("problem", "The gateway did not answer: " + e.message);
      return;
    }
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (res.ok) {
      if (el.dataset.showIn) {
        const out = document.querySelector(el.dataset.showIn);
        out.textContent = json && json.value !== undefined ? String(json.value) : text;
        out.hidden = false;
        show("notice", el.dataset.done || "Done.");
        return;
      }
      sessionStorage.setItem(KEY, el.dataset.done || "Done.");
      const next = el.dataset.then && json && json.id ? el.dataset.then.replace("{id}", encodeURIComponent(json.id)) : null;
      if (next) window.location.assign(next); else window.location.reload();
      return;
    }
    const type = (json && json.type) || "";
    if (res.status === 401 && /insufficient-user-authentication$/.test(type)) {
      show("problem", "This action needs a recent sign-in (and your second factor); signing in again…");
      const back = window.location.pathname + window.location.search;
      window.location.assign(mount + "/auth/pages/sign-in?return_to=" + encodeURIComponent(back));
      return;
    }
    show("problem", (json && json.detail) || ("The gateway answered " + res.status + "."));
  }

  function formBody(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled) continue;
      let v = el.type === "checkbox" ? el.checked : el.value.trim();
      if (el.type !== "checkbox" && v === "" && el.dataset.kind !== "list") continue;
      if (el.dataset.kind === "number") v = Number(v);
      if (el.dataset.kind === "bool") v = v === "true";
      if (el.dataset.kind === "list") v = v.split(",").map((s) => s.trim()).filter((s) => s);
      if (el.type === "select-multiple") v = Array.from(el.selectedOptions).map((o) => o.value);
      body[el.name] = v;
    }
    return body;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const kept = sessionStorage.getItem(KEY);
    if (kept) {
      sessionStorage.removeItem(KEY);
      show("notice", kept);
    }
    for (const el of document.querySelectorAll("[data-api-method]")) {
      el.hidden = false;
      if (el.tagName === "FORM") {
        el.addEventListener("submit", (e) => {
          e.preventDefault();
          call(el, formBody(el));
        });
      } else {
        el.addEventListener("click", () => call(el, el.dataset.body ? JSON.parse(el.dataset.body) : undefined));
      }
    }
  });
})();
