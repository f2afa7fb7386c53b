// custody serve: the little script the workbench runs (served from its own origin; the
// Content-Security-Policy allows no other). Pages work without it: it only updates a
// capture's progress and a verification's outcome in place, without reloading.
"use strict";

function csrf() {
  const meta = document.querySelector('meta[name="csrf"]');
  return meta ? meta.content : "";
}

function text(el, value) {
  if (el) el.textContent = value;
}

async function getJSON(url) {
  const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!answer.ok) throw new Error(await answer.text());
  return answer.json();
}

function watchJob(box) {
  const id = box.dataset.job;
  const field = (name) => box.querySelector('[data-field="' + name + '"]');
  const tick = async () => {
    let job;
    try {
      job = await getJSON("/jobs/" + encodeURIComponent(id) + "/state");
    } catch (err) {
      text(field("error"), String(err.message || err));
      field("error").hidden = false;
      return;
    }
    text(field("state"), job.state);
    for (const name of ["fetched", "queued", "failed", "bytes"]) {
      if (job.progress[name] !== undefined) text(field(name), String(job.progress[name]));
    }
    if (job.error) {
      text(field("error"), job.error);
      field("error").hidden = false;
    }
    if (job.capture_id) {
      const link = field("link");
      link.href = "/captures/" + encodeURIComponent(job.capture_id);
      text(link, job.capture_id);
      field("done").hidden = false;
    }
    if (job.state === "done" && job.capture_id && box.dataset.open !== "no") {
      // the sealed capture opens when done (a moment to see that it was)
      setTimeout(() => location.assign("/captures/" + encodeURIComponent(job.capture_id)), 1200);
      return;
    }
    if (job.state !== "done" && job.state !== "failed") setTimeout(tick, 700);
  };
  tick();
}

function showCheck(box, check) {
  box.replaceChildren();
  const p = document.createElement("p");
  if (check.state === "running") {
    p.textContent = "Verifying…";
  } else if (check.state === "error") {
    p.className = "error";
    p.textContent = check.error;
  } else {
    p.className = "verdict verdict-" + check.status;
    p.textContent = check.status.toUpperCase() + ": " + (check.counts.passed || 0) + " passed, " +
      (check.counts.failed || 0) + " failed, " + (check.counts.unchecked || 0) + " unchecked";
    const badge = document.querySelector("[data-badge] .badge");  // the capture's, now
    if (badge) {
      badge.className = "badge badge-" + check.status;
      badge.textContent = check.status;
      badge.title = "verified just now";
    }
  }
  box.appendChild(p);
  if (check.problems && check.problems.length) {
    const list = document.createElement("ul");
    for (const problem of check.problems) {
      const li = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = problem;
      li.appendChild(code);
      list.appendChild(li);
    }
    box.appendChild(list);
  }
}

function watchCheck(box, id) {
  const tick = async () => {
    let check;
    try {
      check = await getJSON("/checks/" + encodeURIComponent(id));
    } catch (err) {
      showCheck(box, { state: "error", error: String(err.message || err) });
      return;
    }
    showCheck(box, check);
    if (check.state === "running") setTimeout(tick, 500);
  };
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-job]")) watchJob(box);
  const box = document.querySelector("[data-check]");
  if (box && box.dataset.check) watchCheck(box, box.dataset.check);
  const form = document.querySelector("form[data-verify]");
  if (form && box) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showCheck(box, { state: "running" });
      const answer = await fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new FormData(form),
        headers: { Accept: "application/json", "X-CSRF-Token": csrf() },
      });
      if (!answer.ok) {
        showCheck(box, { state: "error", error: await answer.text() });
        return;
      }
      const started = await answer.json();
      watchCheck(box, started.check);
    });
  }
});
