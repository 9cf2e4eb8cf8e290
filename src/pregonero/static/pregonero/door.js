// The door page: every scan, tap on a search result or walk-in gets a nonce, goes into a queue kept in
// localStorage, and is sent from there in order. A scan made while the network is down stays queued and is sent
// again on the "online" event and on a timer; the server stores each nonce once, so a resend never doubles.
// Texts come from #door-strings (translated by the template) and from the server's answers.
(function () {
  "use strict";
  var root = document.getElementById("door");
  if (!root) return;
  var text = document.getElementById("door-strings").dataset;
  var queueKey = "pregonero.door." + root.dataset.folio;
  var RETRY_MS = 10000;
  var POST_TIMEOUT_MS = 8000;
  var MAX_LOG = 30;
  var lastNonce = null;
  var flushing = false;

  function $(id) { return document.getElementById(id); }

  function newNonce() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  // ------------------------------------------------------------------ the queue
  function loadQueue() {
    try { return JSON.parse(localStorage.getItem(queueKey)) || []; } catch (e) { return []; }
  }

  function saveQueue(queue) {
    localStorage.setItem(queueKey, JSON.stringify(queue));
    showPending(queue.length);
  }

  function isQueued(nonce) {
    return loadQueue().some(function (item) { return item.nonce === nonce; });
  }

  function enqueue(kind, fields) {
    var item = {kind: kind, nonce: newNonce(), at: new Date().toISOString()};
    Object.keys(fields).forEach(function (key) { item[key] = fields[key]; });
    var queue = loadQueue();
    queue.push(item);
    saveQueue(queue);
    lastNonce = item.nonce;
    showResult({level: "busy", headline: text.sending, details: []});
    flush();
    return item.nonce;
  }

  // One POST; the outcome says whether the item is done (the server answered with a result or a refusal) or
  // must wait in the queue (no network, session over, server trouble). A weak venue network can leave a request
  // hanging: after POST_TIMEOUT_MS it counts as offline (if the server did get it, the resend changes nothing).
  function post(item) {
    var url = item.kind === "walk_in" ? root.dataset.walkInUrl : root.dataset.scanUrl;
    var abort = new AbortController();
    var timer = setTimeout(function () { abort.abort(); }, POST_TIMEOUT_MS);
    return fetch(url, {
      method: "POST", credentials: "same-origin", signal: abort.signal,
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": root.dataset.csrf},
      body: JSON.stringify(item)
    }).finally(function () { clearTimeout(timer); }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      if (!json) return {wait: response.status === 403 ? "session" : "server"};
      return response.json().then(function (body) {
        if (response.status === 401) return {wait: "session"};
        if (response.status >= 500) return {wait: "server"};
        return {body: body};
      });
    }).catch(function () { return {wait: "offline"}; });
  }

  function flush() {
    if (flushing) return;
    var queue = loadQueue();
    if (!queue.length) return;
    flushing = true;
    var item = queue[0];
    post(item).then(function (outcome) {
      flushing = false;
      if (outcome.wait) {
        markDelayed();
        if (lastNonce && isQueued(lastNonce)) showWaiting(outcome.wait);
        return;
      }
      saveQueue(loadQueue().filter(function (queued) { return queued.nonce !== item.nonce; }));
      answered(item, outcome.body);
      flush();
    });
  }

  // Items that could not go at once are listed as "sent when the network came back" once they go.
  function markDelayed() {
    saveQueue(loadQueue().map(function (item) { item.delayed = true; return item; }));
  }

  function showWaiting(reason) {
    if (reason === "session") showResult({level: "queued", headline: text.queuedHeadline, details: [text.session]});
    else if (reason === "server") showResult({level: "queued", headline: text.queuedHeadline, details: [text.server]});
    else showResult({level: "queued", headline: text.queuedHeadline, details: [text.queuedDetail]});
  }

  function answered(item, body) {
    if (body.counts) showCounts(body.counts);
    var current = item.nonce === lastNonce;
    addLog(item, body, item.delayed);
    if (current) {
      showResult(body);
      var companions = $("door-companions");
      if (companions) companions.value = "";
    }
    if ($("door-search-results").children.length) search();
  }

  // ------------------------------------------------------------------ what the page shows
  function showResult(result) {
    var panel = $("door-result");
    panel.dataset.level = result.level;
    panel.querySelector(".door-headline").textContent = result.headline;
    var list = panel.querySelector(".door-details");
    list.replaceChildren();
    (result.details || []).forEach(function (line) {
      var li = document.createElement("li");
      li.textContent = line;
      list.appendChild(li);
    });
  }

  function showPending(count) {
    var note = $("door-pending");
    note.dataset.count = String(count);
    note.hidden = count === 0;
    note.textContent = count === 1 ? text.pendingOne : text.pendingMany.replace("%(n)s", count);
  }

  function showCounts(counts) {
    $("door-count-guests").textContent = counts.checked_in + " / " + counts.expected;
    $("door-count-people").textContent = counts.people_in + " / " + counts.people_expected;
  }

  function addLog(item, body, late) {
    var li = document.createElement("li");
    li.dataset.level = body.level;
    var time = new Date(item.at).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    var parts = [time, body.headline];
    if (body.name && body.headline.indexOf(body.name) === -1) parts.push(body.name);
    li.textContent = parts.join(" · ") + (late ? " (" + text.synced + ")" : "");
    var log = $("door-log");
    log.insertBefore(li, log.firstChild);
    while (log.children.length > MAX_LOG) log.removeChild(log.lastChild);
  }

  // ------------------------------------------------------------------ scanning and typing
  function companionsWanted(input) {
    if (!input || input.value === "") return null;
    return Number(input.value);
  }

  function submitCode(code) {
    return enqueue("code", {code: String(code), companions: companionsWanted($("door-companions"))});
  }

  $("door-walk-in-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var companions = $("door-walk-in-companions");
    enqueue("walk_in", {
      name: $("door-walk-in-name").value, organization: $("door-walk-in-organization").value,
      companions: companions ? Number(companions.value || 0) : 0
    });
    event.target.reset();
    window.scrollTo({top: 0, behavior: "smooth"});
  });

  // ------------------------------------------------------------------ search by name
  var searchSeq = 0;
  var searchTimer = null;

  function search() {
    var query = $("door-q").value.trim();
    var message = $("door-search-message");
    var results = $("door-search-results");
    if (query.length < Number(root.dataset.minSearch)) {
      results.replaceChildren();
      message.textContent = query ? text.searchMin : "";
      return;
    }
    var seq = ++searchSeq;
    message.textContent = text.searching;
    fetch(root.dataset.searchUrl + "?q=" + encodeURIComponent(query),
          {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (seq !== searchSeq) return;
        message.textContent = body.message || (body.level === "error" ? body.headline : "");
        results.replaceChildren.apply(results, (body.results || []).map(searchRow));
      })
      .catch(function () { if (seq === searchSeq) message.textContent = text.searchOffline; });
  }

  function line(className, value) {
    var p = document.createElement("p");
    p.className = className;
    p.textContent = value;
    return p;
  }

  function searchRow(row) {
    var li = document.createElement("li");
    var who = document.createElement("div");
    who.appendChild(line("door-guest-name", row.name));
    var where = [row.organization, row.sectors].filter(Boolean).join(" · ");
    if (where) who.appendChild(line("muted small", where));
    var answer = line("door-answer", row.answer);
    answer.dataset.answer = row.answer_code;
    who.appendChild(answer);
    if (row.checked_in) who.appendChild(line("door-in small", row.checked_in));
    var button = document.createElement("button");
    button.type = "button";
    button.className = "primary";
    button.textContent = text.checkIn;
    button.addEventListener("click", function () {
      submitCode(row.code);
      window.scrollTo({top: 0, behavior: "smooth"});
    });
    li.appendChild(who);
    li.appendChild(button);
    return li;
  }

  $("door-search-form").addEventListener("submit", function (event) {
    event.preventDefault();
    search();
  });
  $("door-q").addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, 300);
  });

  // ------------------------------------------------------------------ the camera (jsQR reads the frames)
  var video = $("door-video");
  var cameraButton = $("door-camera-button");
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", {willReadFrequently: true});
  var stream = null;
  var lastCode = "";
  var lastCodeAt = 0;
  var lastFrameAt = 0;
  var SAME_CODE_MS = 4000;  // a code held in front of the camera is one scan, not one per frame
  var FRAME_MS = 120;

  function cameraNote(message) { $("door-camera-note").textContent = message; }

  function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.jsQR) {
      cameraNote(text.cameraUnavailable);
      return;
    }
    navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false}).then(function (media) {
      stream = media;
      video.srcObject = media;
      video.hidden = false;
      video.play();
      cameraButton.textContent = text.cameraStop;
      cameraNote(text.cameraLooking);
      requestAnimationFrame(readFrame);
    }).catch(function (error) {
      cameraNote(error && error.name === "NotAllowedError" ? text.cameraDenied : text.cameraUnavailable);
    });
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.hidden = true;
    cameraButton.textContent = text.cameraStart;
    cameraNote("");
  }

  function readFrame(now) {
    if (!stream) return;
    if (video.readyState >= 2 && now - lastFrameAt > FRAME_MS) {
      lastFrameAt = now;
      var scale = Math.min(1, 640 / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var found = window.jsQR(image.data, image.width, image.height, {inversionAttempts: "dontInvert"});
      if (found && found.data) {
        if (found.data !== lastCode || now - lastCodeAt > SAME_CODE_MS) {
          if (navigator.vibrate) navigator.vibrate(80);
          submitCode(found.data);
        }
        lastCode = found.data;
        lastCodeAt = now;
      }
    }
    requestAnimationFrame(readFrame);
  }

  cameraButton.addEventListener("click", function () { if (stream) stopCamera(); else startCamera(); });

  // ------------------------------------------------------------------ sending what waits
  window.addEventListener("online", flush);
  setInterval(flush, RETRY_MS);
  markDelayed();
  flush();

  // The scanner's entry point, also used by the browser test (a headless browser has no camera).
  window.pregoneroDoor = {submitCode: submitCode, flush: flush, pending: function () { return loadQueue().length; }};
})();
