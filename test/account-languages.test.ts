// The signed-in user's own pages and the sign-in pages of applications in the reader's language: /account, the
// consent screen, the logout confirmation and the provider's error pages, in French and German (Spanish for the
// login form of a sign-in), with none of their English texts left.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { GOOD_PASSWORD, startTestApp, type TestApp } from './support/app.ts';
import { textOf, WebClient } from './support/client.ts';
import { APP_ORIGIN, Browser } from './support/oidc-browser.ts';
import { COMMAND_LINE } from '../src/modules/audit/audit.ts';

const REDIRECT = `${APP_ORIGIN}/callback`;

/** English texts of /account and of the consent and logout pages: none may be left in another language. */
const ENGLISH = [
  'Your account',
  'Email Verified',
  'Change Email',
  'New Email',
  'Your Password',
  'Change Password',
  'Current Password',
  'Active sessions',
  'Last active',
  'this session',
  'Log out other sessions',
  'Allowed to',
  'Revoke',
  'wants to',
  'know who you are',
  'see your name',
  'see your email address',
  'You are signed in',
  'Allow',
  'Cancel',
  'not correct',
  'can no longer use your account',
  'asks to log you out',
  'Log out of Latchkey too?',
  'Stay logged in',
  'Logged out',
  'Sign-in expired',
  'Sign-in failed',
  'Error code',
  'Back to Latchkey',
];

function langOf(page: string): string | undefined {
  return /<html[^>]*\blang="([^"]+)"/.exec(page)?.[1];
}

function assertNoEnglish(page: string, where: string): void {
  const text = textOf(page);
  for (const phrase of ENGLISH) assert.ok(!text.includes(phrase), `"${phrase}" is still English on ${where}: ${text.slice(0, 400)}`);
}

interface Expected {
  lang: 'fr' | 'de';
  account: RegExp[];
  consent: RegExp[];
  revoked: RegExp;
  wrongCurrent: RegExp;
  logout: RegExp[];
  loggedOut: RegExp;
  expired: RegExp;
  failed: RegExp;
}

const FRENCH: Expected = {
  lang: 'fr',
  account: [/<h1>Votre compte<\/h1>/, /<h2>Modifier le mot de passe<\/h2>/, /<h2>Modifier l’adresse e-mail<\/h2>/, /<h2>Sessions actives<\/h2>/, /Déconnecter les autres sessions<\/button>/, /Adresse e-mail vérifiée : pas encore/, /\(cette session\)/, /Autorisée à/, /voir votre nom/, />Révoquer</],
  consent: [/<h1>Outside Dashboard souhaite :<\/h1>/, /savoir qui vous êtes sur Latchkey/, /voir votre adresse e-mail/, /<button type="submit">Autoriser<\/button>/, />Annuler<\/button>/, /Vous êtes connecté à Latchkey en tant que Claire Dubois \(claire@example\.com\)\./],
  revoked: /Outside Dashboard ne peut plus utiliser votre compte\./,
  wrongCurrent: /Le mot de passe actuel est incorrect\./,
  logout: [/<h1>Se déconnecter<\/h1>/, /Une application demande à vous déconnecter\. Vous déconnecter aussi de Latchkey \?/, />Rester connecté à Latchkey<\/button>/],
  loggedOut: /<h1>Déconnecté<\/h1>/,
  expired: /<h1>Connexion expirée<\/h1>/,
  failed: /<h1>Échec de la connexion<\/h1>[\s\S]*Code d’erreur : invalid_client/,
};

const GERMAN: Expected = {
  lang: 'de',
  account: [/<h1>Ihr Konto<\/h1>/, /<h2>Passwort ändern<\/h2>/, /<h2>E-Mail-Adresse ändern<\/h2>/, /<h2>Aktive Sitzungen<\/h2>/, /Andere Sitzungen abmelden<\/button>/, /E-Mail-Adresse bestätigt: noch nicht/, /\(diese Sitzung\)/, /<th>Darf<\/th>/, /Ihren Namen sehen/, />Widerrufen</],
  consent: [/<h1>Outside Dashboard möchte:<\/h1>/, /erfahren, wer Sie bei Latchkey sind/, /Ihre E-Mail-Adresse sehen/, /<button type="submit">Erlauben<\/button>/, />Abbrechen<\/button>/, /Sie sind bei Latchkey angemeldet als Hanna Weber \(hanna@example\.com\)\./],
  revoked: /Outside Dashboard kann Ihr Konto nicht mehr verwenden\./,
  wrongCurrent: /Das aktuelle Passwort ist nicht korrekt\./,
  logout: [/<h1>Abmelden<\/h1>/, /Eine Anwendung möchte Sie abmelden\. Auch von Latchkey abmelden\?/, />Bei Latchkey angemeldet bleiben<\/button>/],
  loggedOut: /<h1>Abgemeldet<\/h1>/,
  expired: /<h1>Anmeldung abgelaufen<\/h1>/,
  failed: /<h1>Anmeldung fehlgeschlagen<\/h1>[\s\S]*Fehlercode: invalid_client/,
};

describe("the account's pages and the sign-in pages of applications in the reader's language", () => {
  let app: TestApp;
  let issuer: URL;
  let thirdParty: string;

  before(async () => {
    app = await startTestApp({ startWorker: false });
    issuer = new URL(app.services.config.baseUrl.href.replace(/\/$/, ''));
    const outside = await app.services.applications.create(
      { name: 'Outside Dashboard', kind: 'public', firstParty: false, redirectUris: [REDIRECT], postLogoutRedirectUris: [], scopes: ['openid', 'profile', 'email'] },
      COMMAND_LINE,
    );
    thirdParty = outside.application.id;
  });
  after(() => app.close());

  /** Signs in to the third-party application (its login form, then its consent screen) and checks the screen. */
  async function consentThenAccount(browser: Browser, email: string, expected: Expected, loginIntro: RegExp) {
    const config = await oidc.discovery(issuer, thirdParty, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid profile email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: oidc.randomState(),
    });
    assert.equal(await browser.go(url.toString()), null);
    assert.match(browser.html, loginIntro, 'the login form of the sign-in, in the language of the switcher');
    assert.equal(await browser.submit('/login', { email, password: GOOD_PASSWORD }, app.url), null);

    assert.equal(langOf(browser.html), expected.lang, 'the consent screen in the user\'s own language');
    for (const pattern of expected.consent) assert.match(browser.html, pattern);
    assertNoEnglish(browser.html, 'the consent screen');
    assert.ok(await browser.submit('/confirm', {}, app.url), 'back at the application after "Allow"');

    assert.equal(await browser.go(`${app.url}/account`), null);
    assert.equal(langOf(browser.html), expected.lang);
    for (const pattern of expected.account) assert.match(browser.html, pattern);
    assertNoEnglish(browser.html, '/account');

    assert.equal(await browser.submit('/account/password', { current: 'not the password', password: 'a brand new passphrase 42', confirmation: 'a brand new passphrase 42' }, app.url), null);
    assert.equal(browser.status, 400);
    assert.match(browser.html, expected.wrongCurrent);

    assert.equal(await browser.submit('/account/applications/revoke', {}, app.url), null);
    assert.match(browser.html, expected.revoked);
    assertNoEnglish(browser.html, '/account after "Revoke"');
  }

  /** The provider's own pages: logout confirmation, logged out, an expired sign-in, an unknown application. */
  async function providerPages(browser: Browser, expected: Expected) {
    assert.equal(await browser.go(`${app.url}/oidc/interaction/no-such-sign-in`), null);
    assert.equal(browser.status, 400);
    assert.match(browser.html, expected.expired);
    // (The frame of that page, with its link home, is the shared error page's.)
    assert.doesNotMatch(browser.html, /Sign-in expired|This sign-in has expired/);

    assert.equal(await browser.go(`${app.url}/oidc/auth?client_id=no-such-application&response_type=code&scope=openid`), null);
    assert.equal(langOf(browser.html), expected.lang);
    assert.match(browser.html, expected.failed);

    assert.equal(await browser.go(`${app.url}/oidc/session/end`), null);
    assert.equal(langOf(browser.html), expected.lang);
    for (const pattern of expected.logout) assert.match(browser.html, pattern);
    assertNoEnglish(browser.html, 'the logout confirmation');
    assert.equal(await browser.submit('/oidc/session/end/confirm', { logout: 'yes' }, app.url), null);
    assert.match(browser.html, expected.loggedOut);
  }

  it('in French: the language of the switcher before login, then the user\'s own', async () => {
    const user = await app.createUser({ email: 'claire@example.com', name: 'Claire Dubois' });
    await app.services.db.updateTable('users').set({ language: 'fr' }).where('id', '=', user.id).execute();
    const browser = new Browser();
    browser.cookies.set('latchkey_lang', 'fr');
    await consentThenAccount(browser, user.email, FRENCH, /Connectez-vous pour continuer vers Outside Dashboard\./);
    await providerPages(browser, FRENCH);
  });

  it("in German: the user's own language outweighs the switcher's Spanish once signed in", async () => {
    const user = await app.createUser({ email: 'hanna@example.com', name: 'Hanna Weber' });
    await app.services.db.updateTable('users').set({ language: 'de' }).where('id', '=', user.id).execute();
    const browser = new Browser();
    browser.cookies.set('latchkey_lang', 'es');
    await consentThenAccount(browser, user.email, GERMAN, /Inicie sesión para continuar a Outside Dashboard\./);
    // Signed out, the switcher's choice is all there is: German from here on.
    browser.cookies.set('latchkey_lang', 'de');
    await providerPages(browser, GERMAN);
  });

  it('by Accept-Language alone, /account is in French', async () => {
    const user = await app.createUser({ email: 'louis@example.com', name: 'Louis Martin' });
    const client = new WebClient(app.url);
    await client.get('/login');
    await client.post('/login', { email: user.email, password: GOOD_PASSWORD });
    const account = await client.request('GET', '/account', undefined, { 'accept-language': 'fr-FR,fr;q=0.9' });
    assert.equal(langOf(account.html), 'fr');
    assert.match(account.html, /<h1>Votre compte<\/h1>/);
    assert.match(account.html, /Vous n’êtes connecté à aucune application avec votre compte Latchkey\./);
    assertNoEnglish(account.html, '/account');
  });
});
