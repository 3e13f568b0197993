// Drives Palisade's hosted pages in Debian's chromium through playwright-core (both installed by
// scripts/ensure-browser), for crates/gateway/tests/it/browser_pages.rs. Environment:
//   PALISADE_URL     http://localhost:PORT (WebAuthn refuses IP addresses)
//   CHROMIUM         the browser binary
//   PLAYWRIGHT_CORE  the playwright-core package directory
//   ARTIFACTS        where the screenshots go
//   EMAIL, PASSWORD  an account that exists
// Prints one JSON line ({ok, steps, csp_violations, ...}); exits non-zero on any failure,
// including any Content-Security-Policy violation the pages cause.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const path = require("path");

const base = process.env.PALISADE_URL;
const shots = process.env.ARTIFACTS;
const email = process.env.EMAIL;
const password = process.env.PASSWORD;
const result = { ok: false, steps: [], csp_violations: [], screenshots: [] };

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

async function main() {
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
      const file = path.join(shots, name + ".png");
      await page.screenshot({ path: file, fullPage: true });
      result.screenshots.push(name);
    };

    // The sign-in page, light and dark; the stylesheet and script loaded (CSP allows 'self').
    let res = await page.goto(base + "/auth/pages/sign-in");
    check(res.status() === 200, "sign-in page 200");
    check(/script-src 'self'/.test(res.headers()["content-security-policy"] || ""), "page CSP");
    const styled = await page.evaluate(() =>
      getComputedStyle(document.querySelector(".card")).borderRadius);
    check(styled !== "0px", "stylesheet applied");
    await shot("sign-in");
    await page.emulateMedia({ colorScheme: "dark" });
    await shot("sign-in-dark");
    await page.emulateMedia({ colorScheme: "light" });
    // Keyboard: the e-mail field is reachable by Tab and has a label.
    check(await page.getByLabel("E-mail address").count() === 1, "labelled e-mail field");
    check(await page.getByLabel("Password").count() === 1, "labelled password field");
    result.steps.push("sign-in page");

    // A wrong password: the page again, the reason announced.
    await page.getByLabel("E-mail address").fill(email);
    await page.getByLabel("Password").fill("not-the-password-at-all");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForSelector("#form-error");
    check((await page.textContent("#form-error")).includes("wrong"), "error shown");
    await shot("sign-in-error");
    result.steps.push("wrong password refused");

    // Password sign-in through the form, by keyboard.
    await page.getByLabel("Password").fill(password);
    await page.getByLabel("Password").press("Enter");
    await page.waitForURL("**/auth/pages/signed-in");
    check((await page.textContent("#subject")).length > 0, "signed in subject");
    const cookies = await context.cookies();
    check(cookies.some((c) => c.name === "__Host-palisade" && c.httpOnly && c.secure),
      "__Host-palisade session cookie");
    result.subject_after_password = await page.textContent("#subject");
    await shot("signed-in");
    result.steps.push("password sign-in");

    // A virtual authenticator with user verification (CDP WebAuthn domain).
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2", transport: "internal", hasResidentKey: true,
        hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
      },
    });

    // Register a passkey on the passkeys page.
    await page.getByRole("link", { name: "Your passkeys" }).click();
    await page.waitForURL("**/auth/pages/passkeys");
    await page.waitForSelector("#no-passkeys");
    await shot("passkeys-empty");
    await page.getByLabel("Name for a new passkey").fill("Test laptop");
    await page.getByRole("button", { name: "Add a passkey" }).click();
    await page.waitForSelector("#passkey-list li", { timeout: 15000 }).catch(async (e) => {
      const err = await page.textContent("#passkey-error").catch(() => "");
      throw new Error("passkey registration: " + err + " " + e.message);
    });
    check((await page.textContent("#passkey-list")).includes("Test laptop"), "passkey listed");
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    check(credentials.length === 1 && credentials[0].isResidentCredential, "resident credential");
    await shot("passkeys");
    result.steps.push("passkey registered");

    // Sign out, then sign in with the passkey alone (no e-mail, no password).
    await page.goto(base + "/auth/pages/signed-in");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL("**/auth/pages/sign-in");
    check(!(await context.cookies()).some((c) => c.name === "__Host-palisade" && c.value),
      "session cookie cleared");
    result.steps.push("signed out");
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.waitForURL("**/auth/pages/signed-in", { timeout: 15000 }).catch(async (e) => {
      const err = await page.textContent("#passkey-error").catch(() => "");
      throw new Error("passkey sign-in: " + err + " " + e.message);
    });
    result.subject_after_passkey = await page.textContent("#subject");
    check(result.subject_after_passkey === result.subject_after_password, "same account");
    const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    result.sign_count = after.credentials[0].signCount;
    await shot("signed-in-passkey");
    result.steps.push("passkey sign-in");

    // The password-reset pages render strict and labelled (the mail flows are tested over
    // HTTP against a real SMTP sink in tests/it/email.rs).
    res = await page.goto(base + "/auth/pages/forgot");
    check(res.status() === 200, "forgot page 200");
    check(await page.getByLabel("E-mail address").count() === 1, "labelled forgot field");
    await shot("forgot");
    res = await page.goto(base + "/auth/pages/reset?token=not-a-real-token");
    check(res.status() === 200, "reset page 200");
    check(await page.getByLabel("New password").count() === 1, "labelled new password");
    await shot("reset");
    res = await page.goto(base + "/auth/pages/verify?token=not-a-real-token");
    check(res.status() === 200, "verify page 200");
    check(await page.getByRole("button", { name: "Confirm the address" }).count() === 1, "confirm button");
    await shot("verify");

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
