// certmgr console: confirmations and job progress (no inline script: CSP script-src 'self').
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) { event.preventDefault(); }
});
document.addEventListener("DOMContentLoaded", function () {
  var state = document.getElementById("job-state");
  var list = document.getElementById("job-events");
  if (!state || !list || !window.EventSource || !state.hasAttribute("data-events")) { return; }
  var source = new EventSource(state.getAttribute("data-events"));
  list.textContent = "";
  source.onopen = function () { list.textContent = ""; };  // a new stream starts again from the first line
  source.onmessage = function (message) {
    var item = document.createElement("li");
    item.textContent = JSON.parse(message.data);
    list.appendChild(item);
  };
  source.addEventListener("done", function (message) {
    state.textContent = JSON.parse(message.data);
    source.close();
    window.location.reload();  // the results, and a dry run's confirmation, come with the page
  });
  source.addEventListener("timeout", function () {  // the stream's time is up: start afresh
    source.close();
    window.location.reload();
  });
});
