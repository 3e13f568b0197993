// Federated sign-in in Debian's chromium through playwright-core (scripts/ensure-browser), for
// crates/gateway/tests/it/browser_pages.rs: Palisade's sign-in page, its provider button, the
// real OpenID Provider's login and consent pages (npm oidc-provider, started by the test), the
// way back through Palisade's callback to the signed-in page. Environment:
//   PALISADE_URL     http://localhost:PORT
//   CHROMIUM         the browser binary
//   PLAYWRIGHT_CORE  the playwright-core package directory
//   ARTIFACTS        where the screenshots go
//   LABEL, LOGIN     the provider button's label; the login to sign in with at the provider
// Prints one JSON line ({ok, steps, csp_violations, screenshots, subject, ...}); exits non-zero
// on any failure, including a Content-Security-Policy violation on Palisade's pages.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const path = require("path");

const base = process.env.PALISADE_URL;
const shots = process.env.ARTIFACTS;
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
    const shot = async (name) => {
      await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
      result.screenshots.push(name);
    };

    // The sign-in page shows the provider's button; keyboard reaches it (a link).
    const res = await page.goto(base + "/auth/pages/sign-in");
    check(res.status() === 200, "sign-in page 200");
    const button = page.getByRole("link", { name: "Sign in with " + process.env.LABEL });
    check(await button.count() === 1, "provider button");
    await shot("sign-in-providers");
    result.steps.push("provider button");

    // To the provider: its login page, then its consent page.
    await button.click();
    await page.waitForSelector("input[name=login]");
    check(!page.url().startsWith(base), "at the provider");
    result.provider_url = page.url();
    const fedCookie = (await context.cookies(base)).find((c) => c.name === "__Host-palisade-fed");
    check(fedCookie && fedCookie.httpOnly && fedCookie.secure, "flow bound to this browser");
    await page.fill("input[name=login]", process.env.LOGIN);
    await page.fill("input[name=password]", "any");
    await page.click("button[type=submit]");
    await page.waitForSelector("button:has-text('Continue')");
    await page.click("button:has-text('Continue')");
    result.steps.push("signed in at the provider");

    // Back through Palisade's callback to the signed-in page.
    await page.waitForURL("**/auth/pages/signed-in");
    result.subject = (await page.textContent("#subject")).trim();
    check(result.subject.length > 0, "signed in subject");
    const cookies = await context.cookies(base);
    check(cookies.some((c) => c.name === "__Host-palisade" && c.httpOnly && c.secure),
      "__Host-palisade session cookie");
    check(!cookies.some((c) => c.name === "__Host-palisade-fed"), "binding cleared");
    await shot("signed-in-federated");
    result.steps.push("signed in at Palisade");

    check(result.csp_violations.length === 0, "no CSP violation");
    result.ok = true;
  } finally {
    await browser.close();
  }
}

main()
  .catch((e) => {
    result.error = String(e && e.stack || e);
    process.exitCode = 1;
  })
  .finally(() => process.stdout.write(JSON.stringify(result) + "\n"));
