// End-to-end tests of the web console in headless Chromium, against a real
// `sealtrail serve` on 127.0.0.1 over a store built by `sealtrail demo`.
//
//   SEALTRAIL_BIN=path/to/sealtrail node --test tests/e2e/console.test.mjs
//
// With SEALTRAIL_SCREENSHOTS=DIR it also writes the officer dashboard and
// the patient page (phone-sized) as PNGs into DIR (docs/ in the repo).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const bin = process.env.SEALTRAIL_BIN;
assert.ok(bin, 'set SEALTRAIL_BIN to the sealtrail binary');
const work = mkdtempSync(join(tmpdir(), 'sealtrail-e2e-'));
const store = join(work, 'demo', 'store');
const key = join(work, 'demo', 'keys', 'demo.key');
const PATIENT = 'MRN-00101';
const OTHER_PATIENT = 'MRN-00102';
// the demo fixtures' period
const FROM = '2025-12-01';
const TO = '2026-03-31';

let server;
let base;
let browser;
const tok = {};

function token(role, ...extra) {
  return execFileSync(bin, ['token', 'create', '--store', store, '--role', role, ...extra], {
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString().trim();
}

before(async () => {
  execFileSync(bin, ['demo', '--out', join(work, 'demo')], { stdio: 'ignore' });
  tok.officer = token('officer');
  tok.auditor = token('auditor');
  tok.patient = token('patient', '--patient', PATIENT);
  tok.other = token('patient', '--patient', OTHER_PATIENT);
  tok.gateway = token('gateway', '--source', 'postfix');
  tok.shortOfficer = token('officer');
  server = spawn(bin, ['serve', '--store', store, '--key', key, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: server.stdout });
    rl.once('line', resolve);
    server.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  assert.match(line, /^listening on /);
  base = `http://${line.replace('listening on ', '').trim()}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    // the server seals what is pending on SIGTERM: wait for it to exit
    // before its store is removed
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(work, { recursive: true, force: true });
});

/** A fresh browser context signed in with `t` through the sign-in form. */
async function signIn(t, viewport) {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: viewport || { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(base + '/');
  await page.getByLabel('Access token').fill(t);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState('load');
  return { ctx, page };
}

async function download(page, click) {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  return readFileSync(await d.path());
}

/** Every visible text meets WCAG AA contrast (4.5:1; 3:1 for large text). */
async function contrastFailures(page) {
  return page.evaluate(() => {
    const lum = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(',').map(Number);
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return { l: 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b), a };
    };
    const bg = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = lum(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0) return c.l;
      }
      return 1;
    };
    const bad = [];
    for (const el of document.querySelectorAll('body *')) {
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own || !el.offsetParent || el.closest('svg')) continue;
      const st = getComputedStyle(el);
      const fg = lum(st.color).l;
      const b = bg(el);
      const ratio = (Math.max(fg, b) + 0.05) / (Math.min(fg, b) + 0.05);
      const large = parseFloat(st.fontSize) >= 24 || (parseFloat(st.fontSize) >= 18.66 && Number(st.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) bad.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
    }
    return bad;
  });
}

/** Inputs (other than hidden ones) without a label. */
async function unlabelled(page) {
  return page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((i) => i.type !== 'hidden' && !(i.labels && i.labels.length) && !i.getAttribute('aria-label'))
    .map((i) => i.name));
}

test('each role signs in and lands on its own page; gateway and bad tokens are refused', async () => {
  const o = await signIn(tok.officer);
  assert.equal(new URL(o.page.url()).pathname, '/console');
  assert.equal(await o.page.locator('h1').textContent(), 'Compliance dashboard');
  await o.ctx.close();

  const a = await signIn(tok.auditor);
  assert.equal(await a.page.locator('h1').textContent(), 'Verification material');
  assert.match(await a.page.locator('pre').first().textContent(), /^demo\.sealtrail\.example\/log\n\d+\n/);
  await a.ctx.close();

  const p = await signIn(tok.patient);
  assert.equal(new URL(p.page.url()).pathname, `/console/patients/${PATIENT}`);
  assert.equal(await p.page.locator('h1').textContent(), 'Your accounting of disclosures');
  await p.ctx.close();

  for (const [t, why] of [[tok.gateway, /gateway tokens push logs/], ['st_00000000_nope', /not valid/]]) {
    const g = await signIn(t);
    assert.equal(new URL(g.page.url()).pathname, '/signin');
    assert.match(await g.page.getByRole('alert').textContent(), why);
    await g.page.goto(base + '/console');
    assert.equal(new URL(g.page.url()).pathname, '/', 'no session was opened');
    await g.ctx.close();
  }
});

test('the session cookie is HttpOnly, SameSite=Strict and expiring', async () => {
  const { ctx } = await signIn(tok.officer);
  const [c] = (await ctx.cookies()).filter((c) => c.name === 'sealtrail');
  assert.ok(c, 'a session cookie');
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, 'Strict');
  assert.ok(c.expires > Date.now() / 1000 && c.expires < Date.now() / 1000 + 3600, 'expires within the hour');
  await ctx.close();
});

test('the sign-in works from the keyboard alone', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(base + '/');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to the main content');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'token');
  await page.keyboard.type(tok.officer);
  await page.keyboard.press('Enter');
  await page.waitForURL(base + '/console');
  await ctx.close();
});

test('an officer builds a pack for a period and downloads it', async () => {
  const { ctx, page } = await signIn(tok.officer);
  await page.getByLabel('First day').fill(FROM);
  await page.getByLabel('Last day').fill(TO);
  await page.getByRole('button', { name: 'Build the pack' }).click();
  const link = page.getByRole('link', { name: /Download the pack/ });
  await link.waitFor();
  const zip = await download(page, () => link.click());
  assert.equal(zip.subarray(0, 4).toString('latin1'), 'PK\x03\x04', 'a zip');
  const f = join(work, 'pack.zip');
  writeFileSync(f, zip);
  const pdfHead = execFileSync('python3', ['-c',
    'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); n=[x for x in z.namelist() if x.endswith("evidence-pack.pdf")][0]; sys.stdout.buffer.write(z.read(n)[:5])', f]);
  assert.equal(pdfHead.toString(), '%PDF-');
  await ctx.close();
});

test('the dashboard shows the log, charts drawn by the server, and the tables', async () => {
  const { ctx, page } = await signIn(tok.officer);
  await page.goto(`${base}/console?from=${FROM}&to=${TO}`);
  const size = Number(await page.locator('.card .big').first().textContent());
  assert.ok(size > 1000, `tree size ${size}`);
  // two inline SVG charts with one bar per week, labelled for screen readers
  const charts = page.locator('svg.chart[role="img"]');
  assert.equal(await charts.count(), 2);
  assert.ok(await charts.nth(0).locator('rect.bar').count() >= 8);
  assert.ok(await charts.nth(1).locator('rect.bar').count() >= 1);
  // the encryption chart's numbers table agrees with the bars
  const rows = await page.locator('figure').nth(0).locator('tbody tr').count();
  assert.equal(rows, await charts.nth(0).locator('rect.bar').count());
  // the demo just ingested everything: every fixture source was received in the last 24 hours
  const recent = await page.locator('section[aria-labelledby="recent-h"] tbody tr').allTextContents();
  for (const src of ['postfix', 'okta', 'm365', 'duo']) assert.ok(recent.some((r) => r.includes(src)), src);
  assert.deepEqual(await unlabelled(page), []);
  assert.deepEqual(await contrastFailures(page), []);
  // the default period is the 12 weeks to today: the demo's bad lines were quarantined today
  await page.goto(base + '/console');
  const q = await page.locator('section[aria-labelledby="q-h"] tbody tr').allTextContents();
  assert.ok(q.some((r) => r.includes('duo')) && q.some((r) => r.includes('jsonl')), q.join('|'));
  await ctx.close();
});

test('a patient sees only their own accounting, requests one and downloads the letter', async () => {
  const { ctx, page } = await signIn(tok.patient, { width: 390, height: 844 });
  const body = await page.locator('main').textContent();
  assert.match(body, new RegExp(`Patient ID: ${PATIENT}`));
  assert.match(body, /County Health Department/);
  assert.doesNotMatch(body, new RegExp(OTHER_PATIENT));
  // readable on a phone: nothing wider than the screen
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
  assert.deepEqual(await unlabelled(page), []);
  assert.deepEqual(await contrastFailures(page), []);

  const pdf = await download(page, () => page.getByRole('link', { name: /letter \(PDF\)/ }).click());
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');

  await page.getByRole('button', { name: 'Request a formal accounting' }).click();
  assert.match(await page.getByRole('status').textContent(), /Your request AR-[0-9a-f]{12} is recorded\. We will send your accounting by \d{4}-\d{2}-\d{2}/);

  // a crafted link cannot make the page announce a request the server did not record
  await page.goto(`${base}/console/patients/${PATIENT}?requested=AR-you-were-denied&due=never`);
  assert.equal(await page.getByRole('status').count(), 0);

  // another patient's page, letter and form: 404, exactly like a patient with no data
  for (const path of [`/console/patients/${OTHER_PATIENT}`, `/console/patients/${OTHER_PATIENT}/letter.pdf`]) {
    const r = await page.goto(base + path);
    assert.equal(r.status(), 404, path);
  }
  // and the officer's and auditor's pages are refused
  for (const path of ['/console/requests', '/console/keys']) {
    assert.equal((await page.goto(base + path)).status(), 403, path);
  }
  await ctx.close();
});

test('an officer extends and fulfils a request and downloads the letter that was sent', async () => {
  const p = await signIn(tok.other);
  await p.page.getByRole('button', { name: 'Request a formal accounting' }).click();
  const id = (await p.page.getByRole('status').textContent()).match(/AR-[0-9a-f]{12}/)[0];
  await p.ctx.close();

  const { ctx, page } = await signIn(tok.officer);
  await page.goto(base + '/console');
  assert.match(await page.locator('section[aria-labelledby="open-h"]').textContent(), new RegExp(`${id}.*60`, 's'));
  await page.goto(base + '/console/requests');
  const row = page.locator('tr', { hasText: id });
  await row.locator('summary', { hasText: 'Extend' }).click();
  const due = new Date(Date.now() + 75 * 86400e3).toISOString().slice(0, 10);
  await row.getByLabel('New due date').fill(due);
  await row.getByLabel('Reason sent to the individual').fill('records are held off site');
  await row.getByRole('button', { name: 'Extend' }).click();
  assert.match(await page.getByRole('status').textContent(), new RegExp(`${id} is extended`));
  assert.match(await page.locator('tr', { hasText: id }).textContent(), new RegExp(`${due} \\(extended\\)`));

  await page.locator('tr', { hasText: id }).getByRole('button', { name: 'Fulfil now' }).click();
  assert.match(await page.getByRole('status').textContent(), new RegExp(`${id} is fulfilled`));
  const pdf = await download(page, () => page.getByRole('link', { name: /letter that was sent/ }).click());
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  assert.match(await page.locator('tr', { hasText: id }).textContent(), /fulfilled \d{4}-\d{2}-\d{2}/);
  // a second fulfilment is refused with the rule, not repeated
  const again = await page.request.post(`${base}/console/requests/${id}/fulfil`, {
    form: { csrf: await page.locator('input[name=csrf]').first().inputValue() }, maxRedirects: 0,
  });
  assert.equal(again.status(), 400);
  assert.match(await again.text(), /already fulfilled/);
  await ctx.close();
});

test('a session cookie without the CSRF token cannot post', async () => {
  const { ctx, page } = await signIn(tok.officer);
  const csrf = await page.locator('input[name=csrf]').first().inputValue();
  const form = { from: FROM, to: TO };
  for (const bad of [form, { ...form, csrf: 'x'.repeat(csrf.length) }]) {
    const r = await page.request.post(base + '/console/packs', { form: bad, maxRedirects: 0 });
    assert.equal(r.status(), 403);
    assert.match(await r.text(), /did not come from this console/);
  }
  const r = await page.request.post(base + '/signout', { form: {}, maxRedirects: 0 });
  assert.equal(r.status(), 403, 'sign-out needs the token too');
  const ok = await page.request.post(base + '/console/packs', { form: { ...form, csrf }, maxRedirects: 0 });
  assert.equal(ok.status(), 303, 'the same post with the token works');
  // the sign-in form needs the nonce cookie its page set
  const fresh = await browser.newContext();
  const s = await fresh.request.post(base + '/signin', { form: { csrf: 'x', token: tok.officer }, maxRedirects: 0 });
  assert.equal(s.status(), 403);
  await fresh.close();
  await ctx.close();
});

test('sign-out ends the session on the server', async () => {
  const { ctx, page } = await signIn(tok.officer);
  const cookie = (await ctx.cookies()).find((c) => c.name === 'sealtrail');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(base + '/');
  assert.equal(await page.locator('h1').textContent(), 'Sign in');
  await page.goto(base + '/console');
  assert.equal(new URL(page.url()).pathname, '/');
  // the old cookie value, replayed elsewhere, opens nothing
  const replay = await browser.newContext();
  await replay.addCookies([{ ...cookie }]);
  const r = await replay.request.get(base + '/console', { maxRedirects: 0 });
  assert.equal(r.status(), 303);
  assert.equal(r.headers()['location'], '/');
  await replay.close();
  await ctx.close();
});

test('revoking the token ends its console session', async () => {
  const { ctx, page } = await signIn(tok.shortOfficer);
  assert.equal(new URL(page.url()).pathname, '/console');
  const id = tok.shortOfficer.split('_')[1];
  execFileSync(bin, ['token', 'revoke', '--store', store, '--id', id], { stdio: 'ignore' });
  await page.goto(base + '/console');
  assert.equal(new URL(page.url()).pathname, '/');
  await ctx.close();
});

test('screenshots for the docs', { skip: !process.env.SEALTRAIL_SCREENSHOTS }, async () => {
  const dir = process.env.SEALTRAIL_SCREENSHOTS;
  const o = await signIn(tok.officer, { width: 1280, height: 900 });
  await o.page.goto(`${base}/console?from=${FROM}&to=${TO}`);
  await o.page.screenshot({ path: join(dir, 'console-officer.png'), fullPage: true });
  await o.ctx.close();
  const p = await signIn(tok.patient, { width: 390, height: 844 });
  await p.page.screenshot({ path: join(dir, 'console-patient.png'), fullPage: true });
  await p.ctx.close();
});
