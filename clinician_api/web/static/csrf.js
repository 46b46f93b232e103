// CSRF helper of every screen (see clinician_api/auth/csrf.py): the session's token is in the
// readable cookie telemed_csrf. fetch() sends it as X-CSRF-Token; HTML forms as csrf_token.
"use strict";

function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("telemed_csrf="));
  return found ? decodeURIComponent(found.slice("telemed_csrf=".length)) : "";
}

function csrfHeaders(headers = {}) {
  return { ...headers, "X-CSRF-Token": csrfToken() };
}

document.addEventListener("DOMContentLoaded", () => {
  for (const field of document.querySelectorAll('input[name="csrf_token"]')) {
    field.value = csrfToken();
  }
});
