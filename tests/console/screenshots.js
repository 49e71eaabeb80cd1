// Refreshes the screenshots of the console's main pages in docs/console/: runs the browser
// scenario (server/tests/api/console_browser.rs, SQLite) with SWITCHBOARD_CONSOLE_SCREENSHOTS
// pointing there. Needs what the scenario needs: `npm ci` here and SWITCHBOARD_TEST_CHROMIUM
// (defaults to Debian's /usr/bin/chromium).
//   node tests/console/screenshots.js
"use strict";
const path = require("path");
const { spawnSync } = require("child_process");

const root = path.resolve(__dirname, "../..");
const out = path.join(root, "docs/console");
const result = spawnSync(
  "cargo",
  [
    "test", "-p", "switchboard-server", "--test", "api", "--",
    "console_browser::sqlite::an_operator_runs_the_incident_scenario_in_a_real_browser",
    "--exact", "--nocapture",
  ],
  {
    cwd: root,
    stdio: "inherit",
    env: {
      ...process.env,
      SWITCHBOARD_CONSOLE_SCREENSHOTS: out,
      SWITCHBOARD_TEST_CHROMIUM: process.env.SWITCHBOARD_TEST_CHROMIUM || "/usr/bin/chromium",
      SWITCHBOARD_TEST_REQUIRE: "browser",
    },
  }
);
process.exit(result.status === null ? 1 : result.status);
