// scripts/bench-console's browser part: signs in to the console through the hosted sign-in page,
// then loads each console page LOADS times and prints the median Navigation Timing
// loadEventEnd (ms from navigation start) per page, and whether it is within 200 ms.
// Arguments: BASE_URL CHROMIUM PLAYWRIGHT_CORE EMAIL PASSWORD LOADS
"use strict";
const [base, chromiumPath, playwright, email, password, loadsArg] = process.argv.slice(2);
const { chromium } = require(playwright);
const loads = Number(loadsArg || 5);
const PAGES = ["/", "/audit", "/audit?type=app.bench.event", "/users", "/users?q=Bench%20User%209999",
  "/tenants", "/roles", "/service-accounts", "/ip-blocks", "/incidents", "/lockdown", "/secrets",
  "/config"];

(async () => {
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true,
    args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage();
    await page.goto(base + "/admin/console/");
    await page.getByLabel("E-mail address").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(base + "/admin/console/");
    const userHref = await page.goto(base + "/admin/console/users")
      .then(() => page.getAttribute("#users tbody a", "href"));
    const rows = [];
    for (const p of PAGES.concat(userHref ? [userHref.replace("/admin/console", "")] : [])) {
      const times = [];
      for (let i = 0; i < loads; i++) {
        const res = await page.goto(base + "/admin/console" + p, { waitUntil: "load" });
        if (res.status() !== 200) throw new Error(p + " answered " + res.status());
        times.push(await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd));
      }
      times.sort((a, b) => a - b);
      rows.push([p, times[Math.floor(times.length / 2)]]);
    }
    console.log("page".padEnd(40) + "median loadEventEnd (ms)   <= 200 ms");
    for (const [p, ms] of rows) {
      console.log(p.padEnd(40) + ms.toFixed(1).padStart(10) + "                 " + (ms <= 200 ? "yes" : "NO"));
    }
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
