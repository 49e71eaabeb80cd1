// Switchboard console: the little the server-rendered pages cannot do alone.
// No dependencies, no build step; loaded with `defer` from a hashed URL (CSP: script-src 'self').
//  - forms marked data-inline are sent with fetch and the page's <main> is swapped in place
//    (no full reload, no scroll jump); every form still works without this script;
//  - a table marked data-live follows the environment's change stream and refreshes its rows
//    within a second of anyone's change;
//  - a revealed secret (output[data-hide-after]) is hidden again after its delay;
//  - button[data-copy] copies the text of the element it names.
"use strict";
(function () {
  var live = null;
  var refreshing = false;
  var again = false;

  function parse(text) {
    return new DOMParser().parseFromString(text, "text/html");
  }

  function focusedInside(node) {
    return node && document.activeElement && node.contains(document.activeElement);
  }

  // Replaces <main> with the one of a page fetched after an action.
  function swapMain(doc) {
    var next = doc.querySelector("main");
    var main = document.querySelector("main");
    if (!next || !main) return false;
    main.replaceWith(next);
    if (doc.title) document.title = doc.title;
    start();
    return true;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-inline")) return;
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      headers: { "X-Requested-With": "switchboard-console" },
    })
      .then(function (response) {
        if (response.url && new URL(response.url).pathname === "/ui/sign-in") {
          window.location.assign(response.url);
          return null;
        }
        return response.text();
      })
      .then(function (text) {
        if (text !== null && !swapMain(parse(text))) form.submit();
      })
      .catch(function () {
        form.submit();
      });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = "Copied";
    });
  });

  // Fetches the current page and replaces the live table's rows and the kill switch panel,
  // leaving alone whatever holds the focus (a rollout being typed).
  function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || !response.ok) {
          window.location.reload();
          return null;
        }
        return response.text();
      })
      .then(function (text) {
        if (text === null) return;
        var doc = parse(text);
        var table = document.querySelector("table[data-live]");
        var fresh = doc.querySelector("table[data-live]");
        if (table && fresh) {
          var body = table.tBodies[0];
          var freshBody = fresh.tBodies[0];
          if (!focusedInside(body)) {
            body.replaceWith(freshBody);
          } else {
            Array.prototype.forEach.call(freshBody.rows, function (row) {
              var old = row.id && document.getElementById(row.id);
              if (old && !focusedInside(old)) old.replaceWith(row.cloneNode(true));
            });
          }
        }
        var panel = document.getElementById("kill-switch");
        var freshPanel = doc.getElementById("kill-switch");
        if (panel && freshPanel && !focusedInside(panel)) panel.replaceWith(freshPanel);
        document.dispatchEvent(new CustomEvent("switchboard:refreshed"));
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  function follow() {
    var table = document.querySelector("table[data-live]");
    var url = table && table.getAttribute("data-live");
    if (live && live.url.indexOf(url) === -1) {
      live.close();
      live = null;
    }
    if (!url || live || typeof EventSource === "undefined") return;
    live = new EventSource(url);
    var first = true;
    live.addEventListener("change", function () {
      // The first event is the revision the page was rendered at (or just after): refresh
      // anyway, it costs one request and closes the gap between render and subscribe.
      first = false;
      refresh();
    });
    live.addEventListener("unauthorized", function () {
      live.close();
      window.location.reload();
    });
    live.addEventListener("gone", function () {
      live.close();
    });
    document.documentElement.setAttribute("data-live-ready", first ? "connecting" : "yes");
    live.addEventListener("open", function () {
      document.documentElement.setAttribute("data-live-ready", "yes");
    });
  }

  function hideRevealed() {
    document.querySelectorAll("output[data-hide-after]").forEach(function (output) {
      var seconds = parseInt(output.getAttribute("data-hide-after"), 10) || 30;
      output.removeAttribute("data-hide-after");
      window.setTimeout(function () {
        output.textContent = "hidden: reveal again to see it";
        output.classList.add("muted");
      }, seconds * 1000);
    });
  }

  function start() {
    follow();
    hideRevealed();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
