"use strict";
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await fetch("/api/login", { method: "POST", body: new FormData(ev.target) });
  if (r.ok) window.location = "/";
  else document.getElementById("failed").hidden = false;
});
