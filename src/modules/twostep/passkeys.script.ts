// The browser's part of a passkey ceremony, served as /assets/passkeys.js (the page's CSP runs only same-origin scripts):
// a form marked data-passkey asks Latchkey for options, lets the browser create or use a passkey through
// @simplewebauthn/browser (/assets/webauthn.js), and posts the answer as an ordinary form field with its CSRF token.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export const passkeysScript = `"use strict";
(function () {
  var lib = window.SimpleWebAuthnBrowser;
  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var status = form.querySelector("[data-passkey-status]");
    function say(message) {
      status.textContent = message;
      status.hidden = false;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!lib || !lib.browserSupportsWebAuthn()) return say(form.dataset.unsupported);
      var ceremony = form.dataset.passkey;
      var url = "/passkeys/options/" + ceremony;
      var passwordless = form.querySelector("input[name=passwordless]");
      if (passwordless) url += "?passwordless=" + (passwordless.checked ? "yes" : "no");
      status.hidden = true;
      fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) throw new Error(body.title);
            return ceremony === "register" ? lib.startRegistration({ optionsJSON: body }) : lib.startAuthentication({ optionsJSON: body });
          });
        })
        .then(function (answer) {
          form.querySelector("input[name=response]").value = JSON.stringify(answer);
          form.submit();
        })
        .catch(function () {
          say(form.dataset.failed);
        });
    });
  });
})();
`;

/** @simplewebauthn/browser's bundle, which defines window.SimpleWebAuthnBrowser; read once, when first served. */
let bundle: string | null = null;
export function webauthnBundle(): string {
  // The package's exports name only its modules: the bundle is found beside them.
  bundle ??= readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')), '..', 'dist', 'bundle', 'index.umd.min.js'), 'utf8');
  return bundle;
}
