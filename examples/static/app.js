// Shows k2w run progress from the Socket.IO server in examples/socketio_server.py.
//
// The page keeps the largest event seq it applied and sends it in a "resume" after
// every connect and reconnect. The server then replays what the page missed and goes
// on with live events. The page's state is on window.k2wDemo, for the browser test.
"use strict";

(() => {
  const WORKFLOW_EVENTS = [
    "workflow:queued",
    "workflow:progress",
    "workflow:complete",
    "workflow:failed",
    "workflow:cancelled",
  ];
  const FINAL_STATUSES = new Set(["completed", "failed", "cancelled"]);
  // After a server-side disconnect the Socket.IO client does not reconnect by itself.
  const SERVER_DISCONNECT_RETRY_MS = 1000;

  const params = new URLSearchParams(window.location.search);
  const userId = params.get("user") || "demo";
  const locale = params.get("locale") === "vi" ? "vi" : "en";

  const state = {
    lastSeq: 0, // the largest seq applied, sent with every resume
    appliedSeqs: [], // every seq applied, in order
    repeatedSeqs: [], // seqs that arrived again after they were applied (should stay empty)
    transports: [], // the transport name at each connect
    replayed: [], // how many events each resume replayed
    runId: null, // the run on display: the newest one queued
  };

  const element = (id) => document.getElementById(id);
  const connection = element("connection");
  const startForm = element("start-form");
  const startButton = element("start");
  const startError = element("start-error");
  const keywordsInput = element("keywords");
  const runSection = element("run");
  const runIdText = element("run-id");
  const runStatus = element("run-status");
  const overallBar = element("overall");
  const overallPercent = element("overall-percent");
  const overallMessage = element("overall-message");
  const timeRemaining = element("time-remaining");
  const keywordList = element("keyword-list");
  const rowTemplate = element("keyword-row");
  let rows = new Map();

  const socket = io({
    transports: ["websocket"],
    auth: { userId },
    reconnectionDelay: 500,
    reconnectionDelayMax: 2000,
  });

  socket.on("connect", () => {
    const transport = socket.io.engine.transport.name;
    state.transports.push(transport);
    showConnection("connected", `Connected as ${userId} over ${transport}`);
    socket.emit("resume", { after: state.lastSeq }, (reply) => {
      if (reply.error) {
        showConnection("disconnected", reply.error);
        return;
      }
      state.replayed.push(reply.replayed);
    });
  });

  socket.on("connect_error", (error) => {
    showConnection("disconnected", `Cannot connect: ${error.message}`);
  });

  socket.on("disconnect", (reason) => {
    showConnection("disconnected", `Disconnected (${reason}); reconnecting...`);
    if (reason === "io server disconnect") {
      setTimeout(() => socket.connect(), SERVER_DISCONNECT_RETRY_MS);
    }
  });

  for (const type of WORKFLOW_EVENTS) {
    socket.on(type, applyEvent);
  }

  startForm.addEventListener("submit", (submitEvent) => {
    submitEvent.preventDefault();
    const keywords = keywordsInput.value
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "");
    const request = { locale };
    if (keywords.length > 0) {
      request.keywords = keywords;
    }
    startButton.disabled = true;
    startError.hidden = true;
    socket.timeout(10000).emit("start_run", request, (timeoutError, reply) => {
      startButton.disabled = false;
      const problem = timeoutError ? "The server did not respond in time" : reply.error;
      if (problem) {
        startError.textContent = problem;
        startError.hidden = false;
        return;
      }
      showRun(reply.runId);
    });
  });

  function applyEvent(event) {
    if (event.seq <= state.lastSeq) {
      state.repeatedSeqs.push(event.seq);
      return;
    }
    state.lastSeq = event.seq;
    state.appliedSeqs.push(event.seq);
    if (event.type === "workflow:queued") {
      showRun(event.workflowId);
    }
    if (event.workflowId === state.runId) {
      render(event);
    }
  }

  function showRun(runId) {
    if (state.runId === runId) {
      return;
    }
    state.runId = runId;
    rows = new Map();
    keywordList.replaceChildren();
    runIdText.textContent = runId;
    setStatus("queued");
    setBar(overallBar, overallPercent, 0);
    overallMessage.textContent = "";
    timeRemaining.textContent = "";
    runSection.hidden = false;
  }

  function render(event) {
    setStatus(event.status);
    if (typeof event.progress === "number") {
      setBar(overallBar, overallPercent, event.progress);
    }
    if (event.message) {
      overallMessage.textContent = event.message;
    }
    timeRemaining.textContent = describeRemaining(event);
    for (const [index, percent] of Object.entries(event.keywords || {})) {
      const row = rowFor(index);
      setBar(row.bar, row.percent, percent);
    }
    if (event.keywordIndex !== null && event.keywordIndex !== undefined) {
      const row = rowFor(String(event.keywordIndex));
      if (event.keyword) {
        row.name.textContent = event.keyword;
      }
      row.message.textContent = event.message || "";
    }
    for (const planned of event.plannedKeywords || []) {
      rowFor(String(planned.index)).name.textContent = planned.keyword;
    }
  }

  function rowFor(index) {
    let row = rows.get(index);
    if (row === undefined) {
      const item = rowTemplate.content.firstElementChild.cloneNode(true);
      item.dataset.index = index;
      row = {
        item,
        name: item.querySelector(".keyword-name"),
        bar: item.querySelector("progress"),
        percent: item.querySelector(".percent"),
        message: item.querySelector(".message"),
      };
      // The keywords stage's last progress event names every row ("plannedKeywords");
      // until then a row shows its number.
      row.name.textContent = `Keyword ${Number(index) + 1}`;
      rows.set(index, row);
      keywordList.append(item);
    }
    return row;
  }

  function setBar(bar, label, percent) {
    bar.value = percent;
    label.textContent = `${Math.floor(percent)}%`;
  }

  function setStatus(status) {
    runStatus.textContent = status;
    runStatus.dataset.status = status;
  }

  function describeRemaining(event) {
    if (FINAL_STATUSES.has(event.status)) {
      return "Finished";
    }
    if (typeof event.timeRemaining !== "number") {
      // k2w estimates from measured stage durations; a first run has none yet.
      return "Time remaining: estimating...";
    }
    return `Time remaining: about ${Math.ceil(event.timeRemaining)} s`;
  }

  function showConnection(connectionState, text) {
    connection.dataset.state = connectionState;
    connection.textContent = text;
  }

  window.k2wDemo = { state, socket, userId };
})();
