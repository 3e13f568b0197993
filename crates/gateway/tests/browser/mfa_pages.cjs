// Drives the second-factor and device pages in Debian's chromium through playwright-core, for
// crates/gateway/tests/it/browser_pages.rs. Environment as pages.cjs, plus:
//   CLOCK_URL   the test's clock control: GET /now answers the gateway's Unix seconds, POST
//               /advance moves the clock 30 s on (a fresh TOTP step) and answers the new time
//   CLIENT_ID   a device client_id listed in auth.device.clients
// The TOTP codes are computed here (RFC 6238, HMAC-SHA1, 6 digits, 30 s) from the secret the
// enrollment page shows, at the gateway's clock. Prints one JSON line; exits non-zero on any
// failure, including any Content-Security-Policy violation.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const crypto = require("crypto");
const path = require("path");

const base = process.env.PALISADE_URL;
const shots = process.env.ARTIFACTS;
const email = process.env.EMAIL;
const password = process.env.PASSWORD;
const clockUrl = process.env.CLOCK_URL;
const clientId = process.env.CLIENT_ID;
const result = { ok: false, steps: [], csp_violations: [], screenshots: [] };

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of s.replace(/[\s=]/g, "").toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error("not base32: " + c);
    bits += v.toString(2).padStart(5, "0");
  }
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}

function totp(secret, unixSecs) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSecs / 30)));
  const mac = crypto.createHmac("sha1", base32(secret)).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1000000;
  return String(n).padStart(6, "0");
}

async function clock(what) {
  const res = await fetch(clockUrl + "/" + what, { method: what === "now" ? "GET" : "POST" });
  return Number(await res.text());
}

async function main() {
  check(totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59).length === 6, "totp");
  // RFC 6238 appendix B, SHA-1, 8 digits 94287082: the 6-digit code is its last six.
  check(totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59) === "287082", "RFC 6238 vector");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const context = await browser.newContext();
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
    const shot = async (name) => {
      await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
      result.screenshots.push(name);
    };
    const signIn = async () => {
      await page.getByLabel("E-mail address").fill(email);
      await page.getByLabel("Password").fill(password);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
    };
    const signOut = async () => {
      await page.goto(base + "/auth/pages/signed-in");
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL("**/auth/pages/sign-in");
    };

    // 1. Password sign-in (no second factor yet), then an authenticator app through the page.
    await page.goto(base + "/auth/pages/sign-in");
    await signIn();
    await page.waitForURL("**/auth/pages/signed-in");
    await page.getByRole("link", { name: "Authenticator apps" }).click();
    await page.waitForURL("**/auth/pages/totp");
    await page.waitForSelector("#no-totp");
    await shot("totp-empty");
    await page.getByLabel("Name for a new authenticator").fill("Test phone");
    await page.getByRole("button", { name: "Add an authenticator app" }).click();
    await page.waitForSelector(".qr svg");
    const qr = await page.locator(".qr svg").boundingBox();
    check(qr && qr.width >= 150 && qr.height >= 150, "QR code shown");
    const secret = (await page.textContent("#totp-secret")).trim();
    check(/^[A-Z2-7]{16,}$/.test(secret), "secret shown: " + secret);
    await shot("totp-enroll");
    await page.getByLabel("The code your app shows now").fill(totp(secret, await clock("now")));
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForSelector("#recovery-codes");
    const codes = (await page.locator("#recovery-codes code").allTextContents()).map((s) => s.trim());
    check(codes.length === 10, "ten recovery codes");
    check((await page.textContent("#codes-warning")).includes("only this once"), "warning");
    await shot("recovery-codes-new");
    await page.getByRole("link", { name: "Continue" }).click();
    await page.waitForURL("**/auth/pages/totp");
    check((await page.textContent("#totp-list")).includes("Test phone"), "authenticator listed");
    await shot("totp");
    result.steps.push("authenticator enrolled");

    // 2. Password + TOTP sign-in: a wrong code first, then the right one, by keyboard.
    await signOut();
    await signIn();
    await page.waitForURL("**/auth/pages/mfa");
    const mfaCookie = (await context.cookies()).find((c) => c.name === "__Host-palisade-mfa");
    check(mfaCookie && mfaCookie.httpOnly && mfaCookie.secure && mfaCookie.sameSite === "Lax",
      "pending sign-in cookie");
    check(!page.url().includes(mfaCookie.value), "mfa token not in the URL");
    await shot("mfa");
    await page.getByLabel("Code from your authenticator app").fill("000000");
    await page.getByLabel("Code from your authenticator app").press("Enter");
    await page.waitForSelector("#form-error");
    await shot("mfa-error");
    const now = await clock("advance");
    await page.getByLabel("Code from your authenticator app").fill(totp(secret, now));
    await page.getByLabel("Code from your authenticator app").press("Enter");
    await page.waitForURL("**/auth/pages/signed-in");
    check(!(await context.cookies()).some((c) => c.name === "__Host-palisade-mfa"),
      "pending sign-in cookie cleared");
    await shot("signed-in-mfa");
    result.steps.push("password + TOTP sign-in");

    // 3. A recovery code instead, then a new set from the (aal2) recovery-codes page.
    await signOut();
    await signIn();
    await page.waitForURL("**/auth/pages/mfa");
    await page.getByText("Use a recovery code").click();
    await page.getByLabel("Recovery code").fill(codes[0]);
    await shot("mfa-recovery");
    await page.getByRole("button", { name: "Use recovery code" }).click();
    await page.waitForURL("**/auth/pages/signed-in");
    result.steps.push("recovery-code sign-in");
    await page.getByRole("link", { name: "Recovery codes" }).click();
    await page.waitForURL("**/auth/pages/recovery-codes");
    check((await page.textContent("#remaining")).includes("9"), "nine left");
    await shot("recovery");
    await page.getByRole("button", { name: "Make new recovery codes" }).click();
    await page.waitForSelector("#recovery-codes");
    const fresh = (await page.locator("#recovery-codes code").allTextContents()).map((s) => s.trim());
    check(fresh.length === 10 && !fresh.includes(codes[1]), "a new set");
    await shot("recovery-codes-regenerated");
    result.recovery_regenerated = true;
    result.old_recovery_code = codes[1];
    result.steps.push("recovery codes regenerated");

    // 4. Device approval: a device asks over HTTP; the person, signed out, follows
    //    verification_uri_complete, signs in with both factors and approves; the device polls.
    await signOut();
    let res = await fetch(base + "/auth/device/authorize", {
      method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "client_id=" + encodeURIComponent(clientId),
    });
    check(res.status === 200, "device authorize " + res.status);
    const grant = await res.json();
    check(grant.verification_uri === base + "/auth/pages/device", "verification_uri is the page");
    await page.goto(grant.verification_uri_complete);
    await page.waitForURL("**/auth/pages/sign-in?return_to=*");
    await signIn();
    await page.waitForURL("**/auth/pages/mfa?return_to=*");
    const later = await clock("advance");
    await page.getByLabel("Code from your authenticator app").fill(totp(secret, later));
    await page.getByLabel("Code from your authenticator app").press("Enter");
    await page.waitForURL("**/auth/pages/device?user_code=*");
    check(await page.getByLabel("The code your device shows").inputValue() === grant.user_code,
      "user code filled in");
    await shot("device");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForSelector("#device-request");
    check((await page.textContent("#device-client")).trim() === clientId, "client shown");
    result.device_requested_from = (await page.textContent("#device-address")).trim();
    await shot("device-confirm");
    // Polled before the decision: pending.
    res = await fetch(base + "/auth/token", {
      method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:device_code",
        device_code: grant.device_code, client_id: clientId }).toString(),
    });
    result.poll_before = (await res.json()).error;
    await clock("advance");
    await page.getByRole("button", { name: "Approve" }).click();
    await page.waitForSelector("#device-done");
    await shot("device-approved");
    res = await fetch(base + "/auth/token", {
      method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:device_code",
        device_code: grant.device_code, client_id: clientId }).toString(),
    });
    const tokens = await res.json();
    check(res.status === 200 && typeof tokens.access_token === "string",
      "device tokens: " + JSON.stringify(tokens));
    result.device_tokens = true;
    result.steps.push("device approved");

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
