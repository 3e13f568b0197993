// Drives Palisade's admin console in Debian's chromium through playwright-core (both installed by
// scripts/ensure-browser), for crates/gateway/tests/it/browser_console.rs. Environment:
//   PALISADE_URL     http://localhost:PORT
//   CHROMIUM         the browser binary
//   PLAYWRIGHT_CORE  the playwright-core package directory
//   AXE_CORE         axe-core's axe.min.js
//   ARTIFACTS        where the screenshots go (console/ below it)
//   ADMIN, AUDITOR, PASSWORD   accounts that exist (admin and auditor roles)
//   TARGET           an account with an open session to revoke; EVIL_ID an account whose name
//                    carries markup
//   EVENTS           event types the audit browser must show after the actions (comma-separated)
// Prints one JSON line ({ok, steps, csp_violations, axe, ...}); exits non-zero on any failure,
// including any Content-Security-Policy violation, any serious or critical axe-core violation,
// and any script the user data managed to run.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const fs = require("fs");
const path = require("path");

const base = process.env.PALISADE_URL;
const consoleUrl = base + "/admin/console";
const shots = path.join(process.env.ARTIFACTS, "console");
const axeSource = fs.readFileSync(process.env.AXE_CORE, "utf8");
const password = process.env.PASSWORD;
const result = { ok: false, steps: [], csp_violations: [], axe: {}, screenshots: [], dialogs: [] };
const PAGES = ["/", "/audit", "/audit/verify", "/users", "/tenants", "/roles", "/service-accounts",
  "/ip-blocks", "/incidents", "/lockdown", "/secrets", "/config"];

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

async function watched(context) {
  const page = await context.newPage();
  await page.exposeFunction("__palisadeCsp", (v) => result.csp_violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__palisadeCsp(e.violatedDirective + " " + e.blockedURI));
  });
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) result.csp_violations.push(m.text());
  });
  page.on("pageerror", (e) => result.steps.push("page error: " + e.message));
  // A JavaScript dialog (alert, confirm) means a script ran that should not have: the console
  // confirms in its own <dialog>, and user data must stay inert.
  page.on("dialog", async (d) => {
    result.dialogs.push(d.message());
    await d.dismiss();
  });
  return page;
}

async function signIn(page, email, where) {
  const res = await page.goto(consoleUrl + where);
  check(res.status() === 200, "sign-in page after redirect");
  check(page.url().includes("/auth/pages/sign-in?return_to="), "redirected to sign in: " + page.url());
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(consoleUrl + where);
}

// axe-core in the page (through the DevTools protocol, which the page CSP does not govern):
// serious and critical violations fail the run.
async function axe(page, name) {
  await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  result.axe[name] = found;
  const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, "axe on " + name + ": " + JSON.stringify(bad));
}

async function act(page, button) {
  await button.click();
  await page.getByRole("button", { name: "Confirm" }).click();
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1366, height: 800 } });
    const page = await watched(context);
    const shot = async (name) => {
      await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
      result.screenshots.push(name);
    };

    // Signs in through the hosted sign-in page and comes back to the console.
    await signIn(page, process.env.ADMIN, "/");
    check((await page.textContent("h1")) === "Dashboard", "dashboard");
    result.steps.push("signed in");

    // Every page: rendered, keyboard-reachable skip link, axe clean, screenshot.
    for (const p of PAGES) {
      const res = await page.goto(consoleUrl + p);
      check(res.status() === 200, p + " answers 200");
      check(res.headers()["cache-control"] === "no-store", p + " no-store");
      await axe(page, p);
      await shot(p === "/" ? "dashboard" : p.slice(1).replace("/", "-"));
    }
    await page.goto(consoleUrl + "/");
    await page.keyboard.press("Tab");
    check(await page.evaluate(() => document.activeElement.className) === "skip", "skip link first");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot("dashboard-dark");
    await page.emulateMedia({ colorScheme: "light" });
    result.steps.push("every page");

    // Creates a user.
    await page.goto(consoleUrl + "/users");
    await page.getByLabel("E-mail address").fill("created@example.com");
    await page.getByLabel("Name", { exact: true }).fill("Created In Console");
    await page.getByLabel(/^Password/).fill("amber-Lantern-ferry-2024-kiwi");
    await page.getByLabel(/^Roles/).fill("member");
    await act(page, page.getByRole("button", { name: "Create", exact: true }));
    await page.waitForSelector("#user-email");
    check((await page.textContent("#user-email")) === "created@example.com", "new user page");
    check((await page.textContent("#notice")).includes("created"), "said what happened");
    await axe(page, "/users/{id}");
    await shot("user");
    result.steps.push("user created");

    // Changes its role.
    await page.getByLabel(/^Roles \(comma/).fill("viewer");
    await act(page, page.getByRole("button", { name: "Save roles" }));
    await page.waitForFunction(() => document.querySelector("#user-roles").textContent === "viewer");
    check((await page.textContent("#notice")).includes("roles are changed"), "roles notice");
    result.steps.push("role changed");

    // An error is the API's problem detail: a role that does not exist.
    await page.getByLabel(/^Roles \(comma/).fill("no-such-role");
    await act(page, page.getByRole("button", { name: "Save roles" }));
    await page.waitForSelector("#problem:not([hidden])");
    result.problem_shown = await page.textContent("#problem");
    await shot("user-error");
    result.steps.push("problem shown");

    // Revokes a session of another account, found by search.
    await page.goto(consoleUrl + "/users");
    await page.getByLabel(/^E-mail \(exact\)/).fill(process.env.TARGET);
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name: process.env.TARGET }).click();
    await page.waitForSelector("#sessions");
    await act(page, page.locator("#sessions").getByRole("button", { name: "Revoke" }).first());
    await page.waitForFunction(() => document.querySelector("#sessions tbody").textContent.includes("revoked"));
    result.steps.push("session revoked");

    // User data with markup stays text.
    await page.goto(consoleUrl + "/users/" + process.env.EVIL_ID);
    result.evil_name = await page.textContent("#user-name");
    check(result.evil_name.includes("<script>"), "markup shown as text");
    check(await page.locator("#user-name script, #user-name img").count() === 0, "no element from user data");
    await page.goto(consoleUrl + "/users");
    check(await page.locator('a[href^="javascript:"]').count() === 0, "no javascript: link");
    result.steps.push("markup inert");

    // Blocks an address for a time, then unblocks it.
    await page.goto(consoleUrl + "/ip-blocks");
    await page.getByLabel("IP address").fill("203.0.113.7");
    await page.getByLabel("For (seconds)").fill("3600");
    await page.getByLabel("Reason").fill("console test");
    await act(page, page.getByRole("button", { name: "Block", exact: true }));
    await page.waitForSelector("text=Unblock 203.0.113.7");
    await shot("ip-blocks-blocked");
    await act(page, page.getByRole("button", { name: "Unblock 203.0.113.7" }));
    await page.waitForFunction(() => !document.querySelector("#blocks").textContent.includes("203.0.113.7"));
    check((await page.textContent("#notice")).includes("lifted"), "unblock notice");
    result.steps.push("blocked and unblocked");

    // Explains a policy decision.
    await page.goto(consoleUrl + "/roles");
    await page.getByLabel(/^As/).fill("created@example.com");
    await page.getByLabel("Method").fill("GET");
    await page.getByLabel("Path").fill("/admin/users");
    await page.getByRole("button", { name: "Explain" }).click();
    await page.waitForSelector("#decision");
    result.decision = await page.textContent("#decision");
    result.decision_reason = await page.textContent("#decision-reason");
    await shot("roles-explained");
    result.steps.push("policy explained");

    // Deletes the created account, then restores it within the grace period.
    await page.goto(consoleUrl + "/users");
    await page.getByLabel(/^E-mail \(exact\)/).fill("created@example.com");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name: "created@example.com" }).click();
    await page.waitForSelector("#user-email");
    await act(page, page.getByRole("button", { name: "Delete", exact: true }));
    await page.waitForFunction(() => document.querySelector("#user-state").textContent.startsWith("deleted"));
    check((await page.textContent("#notice")).includes("deleted"), "delete notice");
    await act(page, page.getByRole("button", { name: "Restore", exact: true }));
    await page.waitForFunction(() => document.querySelector("#user-state").textContent === "active");
    check((await page.textContent("#notice")).includes("restored"), "restore notice");
    result.steps.push("deleted and restored");

    // Sees each action in the audit browser.
    for (const type of process.env.EVENTS.split(",")) {
      await page.goto(consoleUrl + "/audit?type=" + encodeURIComponent(type));
      const shown = await page.locator("#events td.event-type", { hasText: type }).count();
      check(shown > 0, "audit browser shows " + type);
    }
    await page.locator("#events details summary").first().click();
    await shot("audit-detail");
    result.steps.push("actions in the audit browser");

    // A forged cross-site POST: with the cookie but without the CSRF token (and a foreign
    // Origin) the gateway refuses; from another site the SameSite=Strict cookie is not even sent.
    const forged = await context.request.post(base + "/admin/lockdown", {
      headers: { Origin: "https://evil.example", "Content-Type": "application/json" },
      data: { on: true, reason: "forged" },
    });
    result.forged_status = forged.status();
    check(forged.status() === 403, "forged POST with the cookie refused: " + forged.status());
    // A page of no site at all (a fresh about:blank, an opaque origin) posting like a form.
    const other = await watched(context);
    result.cross_site_status = await other.evaluate(async (target) => {
      const r = await fetch(target + "/admin/lockdown", {
        method: "POST", credentials: "include", mode: "no-cors",
        headers: { "Content-Type": "text/plain" }, body: '{"on":true,"reason":"forged"}',
      });
      return r.type;
    }, base);
    await other.close();
    result.steps.push("forged POSTs");

    // An auditor sees every page and cannot act: no action controls, and the API refuses.
    const auditorContext = await browser.newContext({ viewport: { width: 1366, height: 800 } });
    const auditor = await watched(auditorContext);
    await signIn(auditor, process.env.AUDITOR, "/users");
    for (const p of PAGES.concat(["/users/" + process.env.EVIL_ID])) {
      const res = await auditor.goto(consoleUrl + p);
      check(res.status() === 200, "auditor sees " + p + " (" + res.status() + ")");
      check(await auditor.locator("[data-api-method]").count() === 0, "no action controls on " + p);
    }
    const csrf = await auditor.getAttribute('meta[name="palisade-csrf"]', "content");
    const refused = await auditorContext.request.post(base + "/admin/ip-blocks", {
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
      data: { ip: "203.0.113.8", duration_secs: 60, reason: "auditor" },
    });
    result.auditor_block_status = refused.status();
    check(refused.status() === 403, "the API refuses the auditor: " + refused.status());
    await auditorContext.close();
    result.steps.push("auditor reads only");

    check(result.dialogs.length === 0, "no script dialog: " + JSON.stringify(result.dialogs));
    check(result.csp_violations.length === 0, "no CSP violation");
    result.ok = true;
  } finally {
    await browser.close();
  }
}

main()
  .catch((e) => { result.error = String(e && e.stack || e); })
  .finally(() => {
    console.log(JSON.stringify(result));
    process.exit(result.ok ? 0 : 1);
  });
