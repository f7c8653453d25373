// The App's page inside the Saleor Dashboard. The Dashboard frames this page and, once told
// "notifyReady", hands it the staff user's token ("handshake"; later "tokenRefresh"): Saleor's
// App Bridge messages (@saleor/app-sdk, src/app-bridge/events.ts and actions.ts). Every part of
// the page is then asked of the App with that token and shown as the App renders it. Nothing is
// shown without a token the App accepted; the token lives in this frame's memory only.
"use strict";

(function () {
  var main = document.getElementById("main");
  var params = new URL(window.location.href).searchParams;
  var saleorApiUrl = params.get("saleorApiUrl") || "";
  // The Dashboard's origin, as App Bridge finds it: messages from anywhere else are ignored.
  var dashboardOrigin = document.referrer ? new URL(document.referrer).origin : "";
  var token = "";
  var HANDSHAKE_WAIT_MS = 6000;

  function refuse(text) {
    main.innerHTML = "";
    var box = document.createElement("div");
    box.className = "refused";
    box.setAttribute("role", "alert");
    box.setAttribute("data-refused", "");
    var p = document.createElement("p");
    p.textContent = text;
    box.appendChild(p);
    main.appendChild(box);
  }

  if (window.parent === window) {
    refuse("Open this page from the Saleor Dashboard (Apps > MultiSafepay): it shows nothing on its own.");
    return;
  }
  if (!saleorApiUrl) {
    refuse("The Saleor Dashboard did not say which Saleor this is. Reopen the App from Apps > MultiSafepay.");
    return;
  }

  function ask(method, path, body) {
    var options = {
      method: method,
      headers: { "Authorization": "Bearer " + token, "Saleor-Api-Url": saleorApiUrl },
      credentials: "omit",
      cache: "no-store"
    };
    if (body) {
      options.body = body;
    }
    return fetch(path, options).then(function (response) {
      return response.text().then(function (html) {
        return { status: response.status, html: html };
      });
    });
  }

  function fragment(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    return holder;
  }

  function signedOut(answer) {
    // A refused token (expired, forged, not this App's) or user: the page shows only why.
    if (answer.status === 401 || answer.status === 403) {
      main.innerHTML = answer.html;
      main.focus();
      return true;
    }
    return false;
  }

  function load() {
    ask("GET", "api/dashboard/page").then(function (answer) {
      main.innerHTML = answer.html;
      if (answer.status !== 200) {
        main.focus();
      }
    }, function () {
      refuse("The App could not be reached. Try again in a minute.");
    });
  }

  function busy(form, on) {
    form.setAttribute("aria-busy", on ? "true" : "false");
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (button) {
      button.disabled = on;
    });
  }

  function submitChannel(form, action) {
    var body = new URLSearchParams(new FormData(form));
    var path = form.getAttribute("data-api") + (action === "check" ? "/check" : "");
    busy(form, true);
    ask("POST", path, body).then(function (answer) {
      busy(form, false);
      if (signedOut(answer)) {
        return;
      }
      if (action === "check") {
        var result = form.querySelector(".check-result");
        result.innerHTML = answer.html;
        return;
      }
      var replacement = fragment(answer.html).firstElementChild;
      if (!replacement) {
        return;
      }
      form.replaceWith(replacement);
      var invalid = replacement.querySelector("[aria-invalid=true]");
      var saved = replacement.querySelector("[data-saved]");
      if (invalid) {
        invalid.focus();
      } else if (saved) {
        saved.setAttribute("tabindex", "-1");
        saved.focus();
      }
    }, function () {
      busy(form, false);
      form.querySelector(".check-result").textContent = "The App could not be reached: nothing was saved. Try again.";
    });
  }

  function submitFilter(form, action) {
    var input = form.querySelector("input[name=order]");
    var order = action === "all" ? "" : input.value;
    busy(form, true);
    ask("GET", form.getAttribute("data-api") + "?order=" + encodeURIComponent(order)).then(function (answer) {
      if (signedOut(answer)) {
        return;
      }
      var section = document.getElementById("refunds");
      section.innerHTML = answer.html;
      var again = document.getElementById("refunds-order");
      if (again) {
        again.focus();
      }
    }, function () {
      busy(form, false);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-api")) {
      return;
    }
    event.preventDefault();
    var action = event.submitter ? event.submitter.value : "";
    if (form.getAttribute("data-method") === "get") {
      submitFilter(form, action);
    } else {
      submitChannel(form, action || "save");
    }
  });

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent) {
      return;
    }
    if (dashboardOrigin && event.origin !== dashboardOrigin) {
      return;
    }
    var data = event.data || {};
    var payload = data.payload || {};
    if (data.type === "handshake" && typeof payload.token === "string" && payload.token) {
      var first = !token;
      token = payload.token;
      if (first) {
        load();
      }
    } else if (data.type === "tokenRefresh" && typeof payload.token === "string" && payload.token) {
      token = payload.token;
    }
  });

  // Tell the Dashboard the page listens (App Bridge's notifyReady action); it answers with the
  // handshake. Only the origin is unknown without a referrer: the message carries no secret.
  var actionId = String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  window.parent.postMessage(
    { type: "notifyReady", payload: { actionId: actionId } },
    dashboardOrigin || "*"
  );
  window.setTimeout(function () {
    if (!token) {
      refuse("The Saleor Dashboard did not hand this page a sign-in. Reopen the App from Apps > MultiSafepay.");
    }
  }, HANDSHAKE_WAIT_MS);
})();
