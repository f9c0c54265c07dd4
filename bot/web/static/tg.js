/* Telegram Mini App entry: Telegram puts the signed initData in the URL fragment
   (tgWebAppData); it is posted to the server, which checks it and answers with the page. */
(function () {
  "use strict";
  var box = document.getElementById("tg"), out = document.getElementById("tg-status");
  var proxy = window.TelegramWebviewProxy;
  function post(name, data) {
    try {
      if (proxy && proxy.postEvent) proxy.postEvent(name, JSON.stringify(data || {}));
      else if (window.parent !== window) window.parent.postMessage(JSON.stringify({eventType: name, eventData: data || {}}), "https://web.telegram.org");
    } catch (e) { /* not inside Telegram */ }
  }
  post("web_app_ready"); post("web_app_expand");
  var params = new URLSearchParams((location.hash || "").replace(/^#/, ""));
  var init = params.get("tgWebAppData") || "";
  fetch(box.dataset.action, {method: "POST", credentials: "same-origin",
                             body: new URLSearchParams({initData: init})})
    .then(function (r) { return r.json(); })
    .then(function (j) { if (j.url) location.replace(j.url); else out.textContent = j.error || "?"; })
    .catch(function () { out.textContent = "Lỗi mạng, vui lòng thử lại.\nNetwork error, please try again."; });
})();
