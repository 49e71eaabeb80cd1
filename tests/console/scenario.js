// The console, used as an operator would during an incident, in headless Chromium.
// Run by server/tests/api/console_browser.rs, which starts the server and arranges `shop`
// (production, staging inheriting from it, the secret STRIPE_KEY, one config value) and passes:
//   SWITCHBOARD_URL, SWITCHBOARD_ADMIN_TOKEN, SWITCHBOARD_STAGING_TOKEN (flags, staging only),
//   SWITCHBOARD_TEST_CHROMIUM (the browser), and optionally SWITCHBOARD_CONSOLE_SCREENSHOTS
//   (a directory to save screenshots of the main pages in).
// Every page is checked with axe-core (0 serious or critical violations); a CSP violation or
// a script error anywhere fails the run. Prints "scenario passed" and the figures it measured.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const base = process.env.SWITCHBOARD_URL;
const adminToken = process.env.SWITCHBOARD_ADMIN_TOKEN;
const stagingToken = process.env.SWITCHBOARD_STAGING_TOKEN;
const shots = process.env.SWITCHBOARD_CONSOLE_SCREENSHOTS;
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const FLAGS = "/ui/projects/shop/environments/production/flags";
const problems = [];
const figures = {};

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// axe-core, evaluated through the DevTools protocol (the page's CSP rightly forbids injecting
// a script tag); serious and critical violations are collected.
async function accessible(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"] })
  );
  for (const v of result.violations) {
    if (v.impact === "serious" || v.impact === "critical") {
      problems.push(`axe ${v.impact} on ${name}: ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    }
  }
}

async function shot(page, name) {
  if (!shots) return;
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

function watch(page, who) {
  page.on("console", (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) problems.push(`${who}: ${msg.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`${who}: script error ${error.message}`));
}

async function signIn(context, token, who) {
  const page = await context.newPage();
  watch(page, who);
  await page.goto(`${base}/ui`);
  check(page.url().endsWith("/ui/sign-in"), `${who}: not sent to sign in (${page.url()})`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${base}/ui`), page.click("button:has-text('Sign in')")]);
  return page;
}

async function text(page, selector) {
  return (await page.locator(selector).first().textContent()).trim();
}

async function waitText(page, selector, expected, timeout) {
  await page.waitForFunction(
    ([selector, expected]) => {
      const node = document.querySelector(selector);
      return node && node.textContent.includes(expected);
    },
    [selector, expected],
    { timeout }
  );
}

async function liveReady(page) {
  await page.waitForSelector("html[data-live-ready=yes]", { timeout: 5000 });
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.SWITCHBOARD_TEST_CHROMIUM,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  try {
    const desk = { viewport: { width: 1280, height: 900 } };
    const ana = await browser.newContext(desk);
    const ben = await browser.newContext(desk);

    // Sign in, the projects page.
    const signInPage = await ana.newPage();
    watch(signInPage, "sign-in");
    await signInPage.goto(`${base}/ui/sign-in`);
    await accessible(signInPage, "sign-in");
    await shot(signInPage, "sign-in");
    await signInPage.close();
    const a = await signIn(ana, adminToken, "ana");
    check((await text(a, "h1")) === "Projects", "no projects page after sign-in");
    check((await text(a, "#env-staging td")) === "production", "staging's parent chain is not shown");
    await accessible(a, "projects");
    await shot(a, "projects");

    // Create a flag from the flags page.
    await Promise.all([a.waitForURL(`${base}${FLAGS}`), a.click("#env-production a:has-text('Flags')")]);
    await a.fill("#new-key", "new-checkout");
    await a.fill("#new-description", "The new checkout flow");
    await Promise.all([a.waitForURL(`${base}${FLAGS}`), a.click("button:has-text('Create flag')")]);
    await a.waitForSelector("#flag-new-checkout");
    check((await text(a, "#flag-new-checkout .badge")) === "off", "a new flag is not off");

    // A second operator watches the same page.
    const b = await signIn(ben, adminToken, "ben");
    await b.goto(`${base}${FLAGS}`);
    await liveReady(b);
    await liveReady(a);

    // Roll out to 25 %: both see it, the second without reloading.
    await a.fill("#pct-new-checkout", "25");
    let started = Date.now();
    await a.click("#flag-new-checkout button:has-text('Set')");
    await waitText(a, "#flag-new-checkout .share", "on 25 %", 5000);
    figures.rollout_round_trip_ms = Date.now() - started;
    await waitText(b, "#flag-new-checkout .share", "on 25 %", 2000);
    figures.rollout_seen_by_other_ms = Date.now() - started;
    check((await b.evaluate(() => performance.getEntriesByType("navigation").length)) === 1, "the other page reloaded");

    // Toggle on: the round trip, and the other browser within a second.
    started = Date.now();
    await a.click("#flag-new-checkout button:has-text('Turn on')");
    await waitText(a, "#flag-new-checkout .badge", "on", 5000);
    figures.toggle_round_trip_ms = Date.now() - started;
    await waitText(b, "#flag-new-checkout .badge", "on", 1000);
    figures.toggle_seen_by_other_ms = Date.now() - started;
    await accessible(a, "flags");
    await shot(a, "flags");

    // Pull the environment's kill switch with a reason, then restore.
    await a.fill("#kill-reason", "payment provider down");
    await a.check("input[name=confirm]");
    await a.click("button:has-text('Kill production')");
    await waitText(a, "#kill-switch h2", "Kill switch pulled", 5000);
    check((await text(a, "#kill-switch")).includes("payment provider down"), "the reason is not shown");
    await waitText(b, "#flag-new-checkout .badge", "killed", 2000);
    await accessible(a, "flags (killed)");
    await shot(a, "kill-switch");
    await a.click("#kill-switch button:has-text('Restore')");
    await a.waitForSelector("#kill-reason", { timeout: 5000 });
    await waitText(b, "#flag-new-checkout .badge", "on", 2000);

    // History: roll back to the rollout (version 1, still off).
    await Promise.all([a.waitForURL(/new-checkout$/), a.click("#flag-new-checkout th a")]);
    await a.waitForSelector("#v2");
    await accessible(a, "flag");
    await shot(a, "flag-history");
    await Promise.all([a.waitForURL(/new-checkout$/), a.click("#v1 button:has-text('Roll back to v1')")]);
    await a.waitForSelector("#v3");
    check((await text(a, "#v3 h3")).includes("rollback to version 1"), "the rollback is not in the history");
    check((await text(a, "#summary dd")) === "off", "the rollback did not bring back version 1's state");
    // A stale JSON edit (version 2 was current when the editor was rendered elsewhere) is refused.
    const stale = await ana.newPage();
    watch(stale, "stale");
    await stale.goto(a.url());
    await a.click("#v2 button:has-text('Roll back to v2')");
    await a.waitForSelector("#v4");
    await stale.fill("#state-json", (await stale.inputValue("#state-json")).replace('"enabled": false', '"enabled": true'));
    await stale.click("button:has-text('Save')");
    await stale.waitForSelector(".problem");
    check((await text(stale, ".problem")).includes("version"), "a stale edit does not show the conflict");
    await stale.close();

    // Config: resolved values, and a promotion previewed before it is applied.
    await a.goto(`${base}/ui/projects/shop/environments/staging/config`);
    check((await text(a, "#config tbody")).includes("inherited from production"), "the source is not shown");
    await accessible(a, "config");
    await shot(a, "config");

    // Reveal a secret: shown, hidden again after 30 s, and audited.
    const s = await ana.newPage();
    watch(s, "secrets");
    await s.clock.install();
    await s.goto(`${base}/ui/projects/shop/environments/production/secrets`);
    check(!(await s.content()).includes("sk_live_console_demo"), "a secret is shown unasked");
    await accessible(s, "secrets");
    await shot(s, "secrets");
    await s.click("button[aria-label='Reveal STRIPE_KEY']");
    await waitText(s, "#secret-STRIPE_KEY output", "sk_live_console_demo", 5000);
    await s.clock.fastForward(31000);
    await waitText(s, "#secret-STRIPE_KEY output", "hidden", 2000);
    check(!(await s.content()).includes("sk_live_console_demo"), "the secret is still on the page");
    await s.goto(`${base}/ui/audit`);
    await s.fill("#f-action", "secret.read");
    await Promise.all([s.waitForURL(/action=secret.read/), s.click("button:has-text('Filter')")]);
    check((await text(s, "#audit tbody")).includes("STRIPE_KEY"), "the reveal is not in the audit log");
    await accessible(s, "audit");
    await shot(s, "audit");
    await s.goto(`${base}/ui/tokens`);
    await accessible(s, "tokens");

    // Outside the token's reach: refused, with the reason.
    const carl = await browser.newContext(desk);
    const c = await signIn(carl, stagingToken, "carl");
    const refused = await c.goto(`${base}${FLAGS}`);
    check(refused.status() === 403, `outside the reach answered ${refused.status()}`);
    check((await c.content()).includes("may not access environment &#39;production&#39;") || (await c.content()).includes("may not access environment 'production'"), "the refusal does not say why");
    await accessible(c, "refusal");
    const own = await c.goto(`${base}/ui/projects/shop/environments/staging/flags`);
    check(own.status() === 200, "the token's own environment is refused");

    // A phone: no sideways scrolling of the page, no layout shift while it loads.
    const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
    const p = await signIn(phone, adminToken, "phone");
    await p.goto(`${base}${FLAGS}`);
    const width = await p.evaluate(() => document.documentElement.scrollWidth);
    if (width > 375) {
      // Name the widest culprits, outermost first, so that the failure says what to fix.
      const wide = await p.evaluate(() =>
        Array.from(document.querySelectorAll("body *"))
          .filter((el) => el.getBoundingClientRect().right > 376 && !(el.parentElement && el.parentElement.getBoundingClientRect().right > 376))
          .slice(0, 5)
          .map((el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className} right=${Math.round(el.getBoundingClientRect().right)}`)
      );
      check(false, `the flags page is ${width} px wide on a 375 px screen: ${wide.join("; ")}`);
    }
    figures.layout_shift = await p.evaluate(
      () =>
        new Promise((resolve) => {
          let total = 0;
          new PerformanceObserver((list) => {
            for (const entry of list.getEntries()) if (!entry.hadRecentInput) total += entry.value;
          }).observe({ type: "layout-shift", buffered: true });
          setTimeout(() => resolve(total), 300);
        })
    );
    check(figures.layout_shift < 0.01, `layout shift ${figures.layout_shift}`);
    await accessible(p, "flags (phone)");
    await shot(p, "flags-phone");

    if (problems.length) throw new Error(problems.join("\n"));
    console.log(JSON.stringify(figures));
    console.log("scenario passed");
  } finally {
    await browser.close();
  }
})().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  if (problems.length) console.error(problems.join("\n"));
  process.exit(1);
});
