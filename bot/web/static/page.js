/* Instant saves (progressive enhancement): every change posts the whole section, the server
   runs it through the engine and answers with the page; the page is swapped only when the
   questions shown changed. Without this script the form works the same, on "Save and continue". */
(function () {
  "use strict";
  var seq = 0, root = document.documentElement;
  function init() {
    var form = document.getElementById("page");
    if (!form || !window.fetch || !window.FormData || !window.URLSearchParams) return;
    var status = document.getElementById("save-status");
    var busy = false, again = false;
    function save() {
      if (busy) { again = true; return; }
      busy = true;
      root.dataset.saving = "1";
      var data = new FormData(form);
      data.set("action", "save");
      data.set("n", form.elements.n.value + "." + (++seq));
      status.textContent = form.dataset.saving;
      fetch(form.getAttribute("action"), {method: "POST", body: new URLSearchParams(data), credentials: "same-origin",
                          headers: {"X-Hailong-Save": "1"}})
        .then(function (r) {
          if (!r.ok) throw new Error(String(r.status));
          var visible = r.headers.get("X-Hailong-Visible"), section = r.headers.get("X-Hailong-Section");
          return r.text().then(function (html) {
            // a newer change is waiting: its answer will say what to show
            if (!again && (visible !== form.dataset.visible || section !== form.dataset.section)) swap(html);
            else status.textContent = form.dataset.saved;
          });
        })
        .catch(function () { status.textContent = form.dataset.failed; })
        .then(function () {
          busy = false;
          if (again) { again = false; save(); } else { root.dataset.saving = "0"; }
        });
    }
    function swap(html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("main"), old = document.getElementById("main");
      if (fresh && old) { old.replaceWith(fresh); init(); }
    }
    form.addEventListener("change", function (e) {
      var t = e.target;
      if (t && t.name && t.name !== "action") save();
    });
  }
  init();
})();
