// What of an admin request target may be logged: the path, and the query with the values of
// credential-like parameters replaced (a `?token=...` must never land in a log).

const SECRET_PARAM = /token|secret|pass|auth|key|sig|credential/i;

export function redactTarget(target: string | undefined): string {
  const raw = target ?? "";
  const q = raw.indexOf("?");
  if (q < 0) return raw;
  const parts = raw.slice(q + 1).split("&");
  for (let i = 0; i < parts.length; i++) {
    const eq = parts[i].indexOf("=");
    const name = eq < 0 ? parts[i] : parts[i].slice(0, eq);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      // an undecodable name is judged as it is
    }
    if (eq >= 0 && SECRET_PARAM.test(decoded)) parts[i] = `${name}=[redacted]`;
  }
  return `${raw.slice(0, q)}?${parts.join("&")}`;
}
