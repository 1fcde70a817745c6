// The public API, as the gateway serves it: JSON in and out, problem bodies as errors, and live
// streams (Server-Sent Events) read with fetch so they can carry the bearer token.

/** A refusal: the problem body's `detail` and stable `code`. */
export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

export const session = {
  get token() { return sessionStorage.getItem("baedal.token"); },
  get role() { return sessionStorage.getItem("baedal.role"); },
  get subject() { return sessionStorage.getItem("baedal.subject"); },
  get name() { return sessionStorage.getItem("baedal.name"); },
  save(login, name) {
    sessionStorage.setItem("baedal.token", login.token);
    sessionStorage.setItem("baedal.role", login.role);
    sessionStorage.setItem("baedal.subject", login.subjectId);
    sessionStorage.setItem("baedal.name", name);
  },
  clear() { sessionStorage.clear(); },
};

export async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new Problem(0, { detail: "서버에 연결할 수 없습니다 · cannot reach the server", code: "offline" });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new Event("baedal:signed-out"));
    throw new Problem(response.status, data);
  }
  return data;
}

/**
 * Follows a live stream: `on(event, data)` for each event, resumed with `Last-Event-ID` after a
 * dropped connection. Returns a function that stops it.
 */
export function follow(path, on, onState = () => {}) {
  const control = new AbortController();
  let lastId = null;
  let wait = 500;
  (async () => {
    while (!control.signal.aborted) {
      try {
        const headers = { accept: "text/event-stream", authorization: `Bearer ${session.token}` };
        if (lastId) headers["last-event-id"] = lastId;
        const response = await fetch(path, { headers, signal: control.signal });
        if (!response.ok) {
          const body = await response.json().catch(() => null);
          onState("refused", new Problem(response.status, body));
          if (response.status < 500 && response.status !== 429) return;
        } else {
          onState("live");
          wait = 500;
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value.replace(/\r\n?/g, "\n");
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const frame = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              let event = "message", data = [], id = null;
              for (const line of frame.split("\n")) {
                if (line.startsWith(":")) continue;
                const colon = line.indexOf(":");
                const key = colon < 0 ? line : line.slice(0, colon);
                const content = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
                if (key === "event") event = content;
                else if (key === "data") data.push(content);
                else if (key === "id") id = content;
              }
              if (id !== null) lastId = id;
              if (data.length) {
                let parsed = data.join("\n");
                try { parsed = JSON.parse(parsed); } catch { /* plain text */ }
                on(event, parsed);
              }
            }
          }
        }
      } catch (error) {
        if (control.signal.aborted) return;
      }
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 10000);
    }
  })();
  return () => control.abort();
}
