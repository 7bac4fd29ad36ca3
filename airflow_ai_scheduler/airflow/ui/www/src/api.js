// Calls to the plugin's JSON API, same origin: the browser sends Airflow's session cookie.
const base = () => new URL("ai-scheduler/api/", document.baseURI);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const res = await fetch(new URL(path.replace(/^\//, ""), base()), {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text };
  }
  if (!res.ok) {
    const d = data && data.detail;
    const msg = Array.isArray(d) ? d.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ") : d || res.statusText;
    throw new ApiError(res.status, `${res.status}: ${msg}`);
  }
  return data;
}

export const enc = encodeURIComponent;
export const runPath = (dagId, runId) => `runs/${enc(dagId)}/${enc(runId)}`;
