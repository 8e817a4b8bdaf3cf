// Image Builder portal behaviour: copy buttons, the delete dialog, the pull
// secret reveal, local times and the live log tail. Everything works
// without it; it only makes pages nicer.
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // An ISO-like local time with its zone, e.g. 2026-11-23 23:05:09 UTC+8,
  // the same in every browser language; the exact UTC time on hover.
  function isoLocal(d) {
    var off = -d.getTimezoneOffset(), zone = "UTC";
    if (off !== 0) {
      zone += (off > 0 ? "+" : "-") + Math.floor(Math.abs(off) / 60) + (Math.abs(off) % 60 ? ":" + pad(Math.abs(off) % 60) : "");
    }
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " + zone;
  }

  function localizeTimes(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) {
        t.title = t.textContent;
        t.textContent = isoLocal(d);
        t.dataset.local = "1";
      }
    });
  }

  document.addEventListener("click", function (e) {
    var copy = e.target.closest("[data-copy]");
    if (copy) {
      navigator.clipboard && navigator.clipboard.writeText(copy.dataset.copy).then(function () {
        var label = copy.textContent;
        copy.textContent = copy.dataset.copied || "Copied";
        setTimeout(function () { copy.textContent = label; }, 1500);
      });
      return;
    }
    var opener = e.target.closest("[data-dialog]");
    if (opener) {
      var dlg = document.getElementById(opener.dataset.dialog);
      if (dlg && dlg.showModal) {
        e.preventDefault();
        if (opener.dataset.name !== undefined) {
          // The page's one delete dialog, for this row's spec.
          var form = dlg.querySelector("[data-delete-form]");
          if (form) form.action = "/specs/" + encodeURIComponent(opener.dataset.name) + "/delete";
          dlg.querySelectorAll("[data-fill-name]").forEach(function (n) { n.textContent = opener.dataset.name; });
        }
        dlg.showModal();
      }
      return;
    }
    var adder = e.target.closest("[data-add-line]");
    if (adder) {
      // One-click fix: add a line to a package list, then let the checks run.
      var list = document.getElementById(adder.dataset.addLine);
      if (list) {
        list.value = list.value.replace(/\s*$/, "") + (list.value.trim() ? "\n" : "") + adder.dataset.line;
        list.dispatchEvent(new Event("input", { bubbles: true }));
        list.dispatchEvent(new Event("change", { bubbles: true }));
      }
      return;
    }
    var closer = e.target.closest("[data-close-dialog]");
    if (closer) {
      closer.closest("dialog").close();
    }
  });

  document.addEventListener("change", function (e) {
    var auto = e.target.closest("[data-submit-on-change]");
    if (auto && auto.form) {
      auto.form.submit();
      return;
    }
    var box = e.target.closest("[data-reveal]");
    if (box) {
      var target = document.getElementById(box.dataset.reveal);
      if (target) target.hidden = !box.checked;
    }
  });

  // Live log: an EventSource per open job page. Each event's id is the byte
  // offset after its line, so the browser's automatic reconnect resumes with
  // Last-Event-ID. Auto-scroll follows the end until the user scrolls up.
  var source = null;
  function followLog(root) {
    var log = root.querySelector("#log[data-events]");
    if (!log || (source && source.log === log)) return;
    if (source) source.close();
    var stick = true;
    log.addEventListener("scroll", function () {
      stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    });
    log.scrollTop = log.scrollHeight;
    source = new EventSource(log.dataset.events + "?from=" + encodeURIComponent(log.dataset.cursor || "0"));
    source.log = log;
    source.addEventListener("line", function (ev) {
      var empty = document.getElementById("log-empty");
      if (empty) empty.remove();
      log.appendChild(document.createTextNode((log.textContent ? "\n" : "") + ev.data));
      if (stick) log.scrollTop = log.scrollHeight;
    });
    source.addEventListener("end", function () {
      source.close();
      source = null;
      // Refresh the status, times and actions of the finished job.
      if (window.htmx) {
        htmx.ajax("GET", window.location.pathname, { target: "#main", swap: "innerHTML" });
      }
    });
  }

  // Running builds: their elapsed time ticks.
  function formatElapsed(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + pad(s % 60) + "s";
    return Math.floor(s / 3600) + "h " + pad(Math.floor(s / 60) % 60) + "m";
  }
  setInterval(function () {
    document.querySelectorAll("[data-elapsed-since]").forEach(function (el) {
      var since = new Date(el.dataset.elapsedSince);
      if (!isNaN(since)) el.textContent = formatElapsed(Date.now() - since);
    });
  }, 1000);

  // Live field checks: a field counts as touched once typed in or once it
  // shows a problem; the check reports on touched fields only, so a
  // problem goes as soon as its field is right and no field is faulted
  // before the user reached it.
  document.addEventListener("input", function (e) {
    if (e.target.form && e.target.name) e.target.dataset.touched = "1";
    // A form without live checks: a problem shown under a field no longer
    // describes it once the field changes; Save checks it again.
    if (e.target.form && !e.target.form.querySelector("[data-field-check]")) {
      var box = e.target.closest(".field");
      var errs = box && box.querySelector("ul.field-errors");
      if (errs && errs.querySelector("li")) {
        errs.textContent = "";
        box.classList.remove("has-error");
        e.target.setAttribute("aria-invalid", "false");
      }
    }
    if (e.target.matches && e.target.matches("textarea[data-count]")) countLines(e.target);
  });
  document.addEventListener("change", function (e) {
    if (e.target.form && e.target.name) e.target.dataset.touched = "1";
  });
  document.addEventListener("htmx:configRequest", function (e) {
    if (!e.detail.elt.hasAttribute || !e.detail.elt.hasAttribute("data-field-check")) return;
    var form = e.detail.elt.closest("form"), touched = [];
    if (!form) return;
    form.querySelectorAll("[name]").forEach(function (el) {
      var errs = document.getElementById(el.name + "-errors");
      if (el.dataset.touched || (errs && errs.querySelector("li"))) touched.push(el.name);
    });
    e.detail.parameters["touched"] = touched.join(",");
    // The summary at the top speaks only after a Confirm: a live check
    // keeps it up to date, never starts it.
    var summary = document.getElementById("error-summary");
    if (summary && summary.textContent.trim()) e.detail.parameters["summary"] = "1";
  });
  // A form being sent makes its background checks and preview stale: none
  // starts until the form's answer comes, and the answer of one already in
  // flight is dropped, not swapped in, so it never lands on the page the
  // form led to. (Aborting them instead makes htmx log errors.)
  var formGeneration = 0;
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    if (!elt || !elt.matches) return;
    if (elt.matches("[data-background]")) {
      var owner = elt.closest("form");
      if (owner && owner.dataset.sending) {
        e.preventDefault();
        return;
      }
      if (e.detail.xhr) e.detail.xhr.ibGeneration = formGeneration;
      return;
    }
    if (elt.tagName !== "FORM") return;
    elt.dataset.sending = "1";
    formGeneration++;
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (xhr && xhr.ibGeneration !== undefined && xhr.ibGeneration !== formGeneration) e.detail.shouldSwap = false;
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var elt = e.detail.elt;
    if (elt && elt.tagName === "FORM") delete elt.dataset.sending;
  });
  // The registry form's external fields take input only while External is
  // chosen.
  function registryMode(root) {
    var set = (root.querySelector ? root : document).querySelector("[data-external-fields]");
    var ext = document.querySelector("input[name=mode][value=external]");
    if (set && ext) set.disabled = !ext.checked;
  }
  document.addEventListener("change", function (e) {
    if (e.target.name === "mode") registryMode(document);
  });

  // Each field is marked as its list of problems says.
  function markFields(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("ul.field-errors[id$='-errors']").forEach(function (ul) {
      var field = document.getElementById(ul.id.slice(0, -"-errors".length));
      var bad = !!ul.querySelector("li");
      if (field && !field.readOnly) field.setAttribute("aria-invalid", bad ? "true" : "false");
      var box = ul.closest(".field");
      if (box) box.classList.toggle("has-error", bad);
    });
  }
  document.addEventListener("htmx:oobAfterSwap", function () { markFields(document); });
  document.addEventListener("htmx:afterSettle", function () { markFields(document); });

  // A package list grows with its lines and says how many it holds.
  function countLines(area) {
    var n = area.value.split("\n").filter(function (l) { return l.trim() !== ""; }).length;
    var rows = Math.min(Math.max(5, area.value.split("\n").length + 1), 24);
    if (area.rows !== rows) area.rows = rows;
    var out = document.getElementById(area.id + "-count");
    if (out) {
      out.textContent = out.dataset.template.replace("{n}", n).replace("{max}", area.dataset.count);
      out.classList.toggle("error-text", n > Number(area.dataset.count));
    }
  }

  // The Settings menu closes on a click elsewhere or Escape.
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details[data-nav-group][open]").forEach(function (d) {
      if (!d.contains(e.target)) d.open = false;
    });
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll("details[data-nav-group][open]").forEach(function (d) {
      d.open = false;
      d.querySelector("summary").focus();
    });
  });

  function init(root) {
    localizeTimes(root);
    (root.querySelectorAll ? root : document).querySelectorAll("textarea[data-count]").forEach(countLines);
    registryMode(document);
    // The end of a log is what matters: start scrolled to it.
    root.querySelectorAll && root.querySelectorAll("pre.log").forEach(function (p) { p.scrollTop = p.scrollHeight; });
    followLog(document);
  }
  // Back to a page htmx keeps in its history: what was typed into the spec
  // form comes back with it (its one-time key too, so Confirm again finds
  // the first save), and no inline style goes into the snapshot, where the
  // Content-Security-Policy would refuse it on the way back.
  document.addEventListener("htmx:beforeHistorySave", function () {
    document.querySelectorAll("[style]").forEach(function (el) { el.removeAttribute("style"); });
    document.querySelectorAll("form[data-keep-on-back]").forEach(function (form) {
      form.querySelectorAll("input, textarea, select").forEach(function (el) {
        if (el.type === "password" || el.type === "hidden" || el.type === "file") return;
        if (el.type === "checkbox" || el.type === "radio") el.toggleAttribute("checked", el.checked);
        else if (el.tagName === "TEXTAREA") el.textContent = el.value;
        else if (el.tagName === "SELECT") el.querySelectorAll("option").forEach(function (o) { o.toggleAttribute("selected", o.selected); });
        else el.setAttribute("value", el.value);
      });
    });
  });
  document.addEventListener("htmx:historyRestore", function () { init(document); });
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (e) { init(e.target); });
  window.addEventListener("pagehide", function () { if (source) source.close(); });
})();
