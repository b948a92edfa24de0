// Toasts: the server sends `HX-Trigger: {"toast": [{message, level}]}` on htmx
// responses (apps/core/middleware.py); each becomes a short-lived notice.
(function () {
  function showToast(message, level) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "info");
    toast.setAttribute("role", level === "error" ? "alert" : "status");
    var text = document.createElement("span");
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { toast.remove(); });
    toast.append(text, close);
    box.appendChild(toast);
    // An error stays until it is closed: a refusal is often longer than 5 s of
    // reading. Other notices go by themselves.
    if (level !== "error") setTimeout(function () { toast.remove(); }, 5000);
  }
  document.body.addEventListener("toast", function (event) {
    var items = event.detail && event.detail.value ? event.detail.value : event.detail;
    (Array.isArray(items) ? items : [items]).forEach(function (item) {
      if (item && item.message) showToast(item.message, item.level);
    });
  });
  // Escape closes an open menu and gives the focus back to its button, as a
  // keyboard user expects of a menu.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary && menu.contains(document.activeElement)) summary.focus();
    });
  });
  // Close open menus on outside click.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  // Error responses still carry a rendered fragment (a form with its errors):
  // let htmx swap it instead of dropping it.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 409 || status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    } else if (status === 403 || status === 404 || status >= 500) {
      showToast(status === 403 ? "Your role does not allow this." :
                status === 404 ? "Not found." : "Something went wrong; try again.", "error");
    }
  });
  // Spec forms: every oneOf option is in the page so the form works without
  // JavaScript; show only the chosen one and disable the others, so their inputs are
  // neither checked by the browser nor posted.
  function syncOneOf(group) {
    group.querySelectorAll(":scope > [data-spec-oneof-option]").forEach(function (option) {
      var radio = option.querySelector(":scope > legend [data-spec-oneof-choice]");
      var body = option.querySelector(":scope > [data-spec-oneof-body]");
      if (!radio || !body) return;
      body.hidden = !radio.checked;
      body.disabled = !radio.checked;
    });
  }
  function initOneOfs(root) {
    if (root.matches && root.matches("[data-spec-oneof]")) syncOneOf(root);
    root.querySelectorAll("[data-spec-oneof]").forEach(syncOneOf);
  }
  document.addEventListener("change", function (event) {
    if (!event.target.matches || !event.target.matches("[data-spec-oneof-choice]")) return;
    syncOneOf(event.target.closest("[data-spec-oneof]"));
  });
  initOneOfs(document);
  document.body.addEventListener("htmx:load", function (event) { initOneOfs(event.detail.elt); });
  // Stream table: select all or none, and find a stream by name.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-streams-select]");
    if (!button) return;
    var checked = button.getAttribute("data-streams-select") === "all";
    var table = button.closest("section").querySelector("table.streams");
    // Only each row's Sync box: the field and key pickers keep their ticks.
    table.querySelectorAll("tr[data-stream-row]:not([hidden]) input[type=checkbox][name$='-selected']")
      .forEach(function (box) { box.checked = checked; });
  });
  document.addEventListener("input", function (event) {
    if (!event.target.matches || !event.target.matches("[data-stream-search]")) return;
    var needle = event.target.value.trim().toLowerCase();
    var table = event.target.closest("section").querySelector("table.streams");
    table.querySelectorAll("tr[data-stream-row]").forEach(function (row) {
      row.hidden = needle && row.getAttribute("data-stream-row").toLowerCase().indexOf(needle) < 0;
    });
  });
  // Engine settings: show only the chosen authentication's fields; hidden ones are
  // disabled, so they are not posted. Without JavaScript the server shows the
  // saved choice's. (Here, not inline: the Content-Security-Policy allows no
  // inline scripts.)
  function syncAuth(form) {
    var checked = form.querySelector("[data-auth-choice]:checked");
    var auth = checked ? checked.value : "";
    form.querySelectorAll("[data-auth-fields]").forEach(function (group) {
      var on = group.getAttribute("data-auth-fields") === auth;
      group.hidden = !on;
      if (group.tagName === "FIELDSET") group.disabled = !on;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-auth-choice]")) {
      syncAuth(event.target.form);
    }
  });
  // A button that removes its table row (the credential form's key/value pairs).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-remove-row]");
    if (button) button.closest("tr").remove();
  });
  // A field whose whole value is selected when focused (a secret shown once).
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });
  // Spec forms: a stored login chosen for a password also fills the host, port,
  // database and user beside it (its non-secret values, in the option's data-fill).
  var FILL_NAMES = {
    host: ["host", "hostname", "server"],
    port: ["port"],
    database: ["database", "dbname", "db_name", "db"],
    username: ["username", "user", "user_name", "login"]
  };
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-credential-for]")) return;
    var option = select.options[select.selectedIndex];
    if (!option || !option.getAttribute("data-fill")) return;
    var fill;
    try { fill = JSON.parse(option.getAttribute("data-fill")); } catch (e) { return; }
    var pointer = select.getAttribute("data-credential-for");
    var parent = pointer.slice(0, pointer.lastIndexOf("/"));
    var form = select.closest("[data-spec-form]") || select.form;
    Object.keys(fill).forEach(function (key) {
      (FILL_NAMES[key] || [key]).some(function (name) {
        var box = form.querySelector('[data-spec-field="' + CSS.escape(parent + "/" + name) + '"]');
        var input = box && box.querySelector("input, select, textarea");
        if (!input) return false;
        input.value = fill[key];
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.dispatchEvent(new Event("change", { bubbles: true }));
        return true;
      });
    });
  });
  // A box with `maxlength` stops taking characters (and cuts a paste) without a
  // word: say so beside it while the value is at the limit.
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[maxlength], textarea[maxlength]")) return;
    var limit = box.maxLength;
    var note = box.nextElementSibling;
    var has = note && note.classList.contains("maxlength-note");
    if (limit > 0 && box.value.length >= limit) {
      if (!has) {
        note = document.createElement("small");
        note.className = "maxlength-note";
        note.setAttribute("role", "status");
        box.insertAdjacentElement("afterend", note);
      }
      note.textContent = "Limit reached: at most " + limit +
        " characters; anything longer was cut.";
    } else if (has) {
      note.remove();
    }
  });
  // A form that asks before it is sent (`data-confirm="question"`).
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
  // The browser's time zone, for people who have not chosen one in their
  // profile: the server reads this cookie (apps/accounts/timezones.py). Set once,
  // and again only when the zone changes (travel, a new machine).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var known = document.cookie.match(/(?:^|; )console_tz=([^;]*)/);
    if (zone && (!known || decodeURIComponent(known[1]) !== zone)) {
      document.cookie = "console_tz=" + encodeURIComponent(zone) +
        "; path=/; max-age=31536000; SameSite=Lax" +
        (location.protocol === "https:" ? "; Secure" : "");
    }
  } catch (error) { /* no Intl: the server keeps UTC */ }
})();
