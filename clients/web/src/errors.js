// Errors of the API (`{code, status, message, errors?}`) in words a person can read.

/** "email: Not a valid email address." from webargs' `errors: {json: {email: [...]}}`. */
function fieldMessages(errors) {
  const lines = [];
  const walk = (value, path) => {
    if (Array.isArray(value) && value.every((item) => typeof item === "string")) {
      lines.push(path && path !== "json" && path !== "_body" ? `${path}: ${value.join(" ")}` : value.join(" "));
    } else if (value && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        walk(item, key === "json" || key === "query" ? path : path ? `${path}.${key}` : key);
      }
    }
  };
  walk(errors, "");
  return lines.join("; ");
}

export function describe(status, body) {
  const message = body?.message || `The server answered ${status}`;
  const details = body?.errors ? fieldMessages(body.errors) : "";
  const wait = status === 429 ? " Please wait a moment and try again." : "";
  return details ? `${message}: ${details}${wait}` : `${message}${wait}`;
}
