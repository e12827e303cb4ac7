// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The Cockpit page 'vdpa' in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; no browser is downloaded).  Run by
// tests/test-cockpit.c, which starts everything it talks to and passes in:
//   VDPA_COCKPIT_URL          the page through cockpit-ws whose bridge runs as root
//   VDPA_COCKPIT_URL_DENIED   the page through a cockpit-ws whose bridge runs
//                             as a user no polkit rule grants anything
//   VDPA_COCKPIT_DEVICES      the daemon's Devices() as JSON
//   VDPA_COCKPIT_MGMTDEVS     its ManagementDevices() as JSON
//   VDPA_COCKPIT_VERSION, VDPA_COCKPIT_LIVE_MIGRATION   its properties
//   VDPA_COCKPIT_DOMAIN       a shut-off persistent libvirt domain
//   VDPA_COCKPIT_CLAIM_DEVICE the device to claim and release
//   VDPA_COCKPIT_SHOTS        where the screenshots go
//   VDPA_COCKPIT_TMP          a temporary directory (Chromium's profile)
//   VDPA_COCKPIT_CHROMIUM     the browser
// It reads the driver's lines on fd 3 and writes its own on fd 4, one
// message a line (the protocol is in tests/test-cockpit.c).  Every wait is on something the page shows,
// with a bound; a failure names what was pending, takes a screenshot and
// exits 1.  Console errors and uncaught page errors fail the run.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

const env = (name) => {
    const v = process.env[name];
    if (v === undefined || v === '')
        throw new Error(`${name} is not set (tests/test-cockpit.c runs this script)`);
    return v;
};

const URL_ROOT = env('VDPA_COCKPIT_URL');
const URL_DENIED = env('VDPA_COCKPIT_URL_DENIED');
const DEVICES = JSON.parse(env('VDPA_COCKPIT_DEVICES'));
const MGMTDEVS = JSON.parse(env('VDPA_COCKPIT_MGMTDEVS'));
const VERSION = env('VDPA_COCKPIT_VERSION');
const LIVE_MIGRATION = env('VDPA_COCKPIT_LIVE_MIGRATION');
const DOMAIN = env('VDPA_COCKPIT_DOMAIN');
const CLAIM_DEVICE = env('VDPA_COCKPIT_CLAIM_DEVICE');
const SHOTS = env('VDPA_COCKPIT_SHOTS');
const TMP = env('VDPA_COCKPIT_TMP');
const CHROMIUM = env('VDPA_COCKPIT_CHROMIUM');

// Bounds (ms).
const LOAD_TIMEOUT = 30000;      // first Devices() rendered
const ACTION_TIMEOUT = 15000;    // a dialog opens/closes, a claim/release shows
const HOTPLUG_BOUND = 2000;      // a hotplugged device is listed, no reload
const REPLY_TIMEOUT = 60000;     // the C side answers

const log = (msg) => process.stderr.write(`# browser: ${msg}\n`);

// --- the line protocol with tests/test-cockpit.c ---
const replies = [];
const waiters = [];
// fd 3 as a libuv pipe, not an fs stream: a read blocked in the thread
// pool would keep process.exit() from returning.
const input = new Socket({ fd: 3, readable: true, writable: false });
input.unref();
createInterface({ input }).on('line', (line) => {
    const w = waiters.shift();
    if (w)
        w(line);
    else
        replies.push(line);
});

function send(line) {
    writeSync(4, line + '\n');
}

function nextReply(what) {
    if (replies.length)
        return Promise.resolve(replies.shift());
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer from the test driver to '${what}' within ${REPLY_TIMEOUT} ms`)),
                                 REPLY_TIMEOUT);
        waiters.push((line) => { clearTimeout(timer); resolve(line); });
    });
}

async function ask(line) {
    send(line);
    const reply = await nextReply(line);
    if (!reply.startsWith('ok'))
        throw new Error(`the test driver answered '${reply}' to '${line}'`);
    return reply.split(' ').slice(1);
}

// --- assertions and waits ---
class Failure extends Error {}

function check(cond, msg) {
    if (!cond)
        throw new Failure(msg);
}

// Waits for FN (run in the page, with ARG) to return true; on timeout fails
// saying WHAT was pending.
async function waitIn(page, what, timeout, fn, arg) {
    try {
        await page.waitForFunction(fn, arg, { timeout, polling: 'raf' });
    } catch (e) {
        if (e.name === 'TimeoutError')
            throw new Failure(`pending after ${timeout} ms: ${what}`);
        throw e;
    }
}

const shots = [];
async function shot(page, name) {
    const path = join(SHOTS, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path, fullPage: true });
    shots.push(path);
    log(`screenshot ${path}`);
}

// Text of a cell of a device row, trimmed; null when there is no such cell.
function rowCells(page, name) {
    return page.evaluate((name) => {
        const row = document.querySelector(`#vdpa-devices tr[data-device="${CSS.escape(name)}"]`);
        if (!row)
            return null;
        const cell = (f) => {
            const c = row.querySelector(`[data-field="${f}"]`);
            return c ? c.textContent.trim() : null;
        };
        return { name: cell('name'), state: cell('state'), type: cell('type'),
                 domain: cell('domain'), chardev: cell('chardev'), error: cell('error') };
    }, name);
}

// An empty value may be shown as nothing or as a dash.
const emptyish = (s) => s === '' || s === '-' || s === '\u2014' || s === '\u2013';
function sameValue(shown, want) {
    if (want === '' || want === undefined)
        return shown !== null && emptyish(shown);
    return shown === want;
}

const consoleErrors = [];
function watchConsole(page, label) {
    page.on('console', (m) => {
        if (m.type() === 'error') {
            const loc = m.location();
            consoleErrors.push(`${label}: console error: ${m.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
        }
    });
    page.on('pageerror', (e) => consoleErrors.push(`${label}: uncaught: ${e.message}`));
    page.on('dialog', (d) => {
        // A confirm() before release or delete: accept it.
        log(`${label}: ${d.type()} dialog "${d.message()}" accepted`);
        d.accept();
    });
}

async function openPage(context, url, label) {
    const page = await context.newPage();
    watchConsole(page, label);
    const t0 = Date.now();
    const resp = await page.goto(url, { timeout: LOAD_TIMEOUT });
    check(resp && resp.ok(), `${label}: ${url} answered ${resp ? resp.status() : 'nothing'}`);
    await waitIn(page, `${label}: body[data-ready="true"] (the first Devices() rendered) at ${url}`, LOAD_TIMEOUT,
                 () => document.body && document.body.dataset.ready === 'true');
    log(`${label}: page ready after ${Date.now() - t0} ms`);
    return page;
}

// Fills #vdpa-claim-domain, whether it is a text field or a <select>.
async function chooseDomain(page, domain) {
    const field = page.locator('#vdpa-claim-domain');
    const tag = await field.evaluate((e) => e.tagName);
    if (tag === 'SELECT')
        await field.selectOption({ label: domain }).catch(() => field.selectOption(domain));
    else
        await field.fill(domain);
}

async function openClaimDialog(page, device, label) {
    await page.locator(`#vdpa-devices tr[data-device="${device}"] [data-action="claim"]`).click({ timeout: ACTION_TIMEOUT });
    await waitIn(page, `${label}: dialog#vdpa-claim-dialog open after 'claim' on ${device}`, ACTION_TIMEOUT,
                 () => document.querySelector('dialog#vdpa-claim-dialog')?.open === true);
    const auto = page.locator('#vdpa-claim-auto');
    if (await auto.count() && await auto.isChecked())
        await auto.uncheck();
    await chooseDomain(page, DOMAIN);
}

async function waitState(page, device, state, what, timeout) {
    await waitIn(page, `${what}: row ${device} showing state '${state}'`, timeout, ([d, s]) => {
        const c = document.querySelector(`#vdpa-devices tr[data-device="${CSS.escape(d)}"] [data-field="state"]`);
        return c !== null && c.textContent.trim() === s;
    }, [device, state]);
}

// --- the steps ---
async function run(context) {
    const page = await openPage(context, URL_ROOT, 'root');
    await shot(page, 'loaded');

    // Status.
    const status = await page.evaluate(() => {
        const f = (k) => document.querySelector(`#vdpa-status [data-field="${k}"]`)?.textContent.trim() ?? null;
        return { connected: f('libvirt-connected'), migration: f('live-migration'), version: f('version') };
    });
    check(status.connected === 'yes', `#vdpa-status libvirt-connected is '${status.connected}', want 'yes'`);
    check(status.migration === LIVE_MIGRATION, `#vdpa-status live-migration is '${status.migration}', want '${LIVE_MIGRATION}'`);
    check(status.version === VERSION, `#vdpa-status version is '${status.version}', want '${VERSION}'`);
    log(`status: libvirt connected ${status.connected}, live migration ${status.migration}, version ${status.version}`);

    // Exactly the daemon's devices, each with its state, type, domain, chardev.
    const shown = await page.$$eval('#vdpa-devices tr[data-device]', (rows) => rows.map((r) => r.dataset.device));
    const want = DEVICES.map((d) => d.Name);
    check(JSON.stringify([...shown].sort()) === JSON.stringify([...want].sort()),
          `#vdpa-devices lists [${shown.join(', ')}], the daemon's Devices() [${want.join(', ')}]`);
    check(new Set(shown).size === shown.length, `#vdpa-devices lists a device twice: [${shown.join(', ')}]`);
    for (const d of DEVICES) {
        const c = await rowCells(page, d.Name);
        check(c.name === d.Name, `row ${d.Name}: name cell '${c.name}'`);
        check(c.state === d.State, `row ${d.Name}: state '${c.state}', the daemon says '${d.State}'`);
        check(sameValue(c.type, d.Type), `row ${d.Name}: type '${c.type}', the daemon says '${d.Type}'`);
        check(sameValue(c.domain, d.Domain), `row ${d.Name}: domain '${c.domain}', the daemon says '${d.Domain}'`);
        check(sameValue(c.chardev, d.Chardev), `row ${d.Name}: chardev '${c.chardev}', the daemon says '${d.Chardev}'`);
    }
    log(`devices: ${DEVICES.map((d) => `${d.Name}=${d.State}`).join(' ')}`);

    // Management devices.
    const mgmt = await page.$$eval('#vdpa-mgmtdevs tr[data-mgmtdev]', (rows) => rows.map((r) => r.dataset.mgmtdev));
    const wantMgmt = MGMTDEVS.map((m) => m.Handle);
    check(JSON.stringify([...mgmt].sort()) === JSON.stringify([...wantMgmt].sort()),
          `#vdpa-mgmtdevs lists [${mgmt.join(', ')}], the daemon's ManagementDevices() [${wantMgmt.join(', ')}]`);
    log(`management devices: ${mgmt.join(' ')}`);

    // Details of the device to claim.
    const dev = DEVICES.find((d) => d.Name === CLAIM_DEVICE);
    check(dev && dev.State === 'available', `${CLAIM_DEVICE} is not an available device of the fixture`);
    await page.locator(`#vdpa-devices tr[data-device="${CLAIM_DEVICE}"] [data-action="details"]`).click({ timeout: ACTION_TIMEOUT });
    await waitIn(page, `#vdpa-details showing [data-key="SysfsPath"] = ${dev.SysfsPath}`, ACTION_TIMEOUT, ([name, path]) => {
        const d = document.querySelector('#vdpa-details');
        const k = (key) => d?.querySelector(`[data-key="${key}"]`)?.textContent.trim();
        return d !== null && k('Name') === name && k('SysfsPath') === path;
    }, [CLAIM_DEVICE, dev.SysfsPath]);
    await shot(page, 'details');

    // Its interface XML.
    await page.locator(`#vdpa-devices tr[data-device="${CLAIM_DEVICE}"] [data-action="xml"]`).click({ timeout: ACTION_TIMEOUT });
    await waitIn(page, `dialog#vdpa-xml-dialog open with an <interface type="vdpa"> for ${dev.Chardev} in pre#vdpa-xml-text`,
                 ACTION_TIMEOUT, (chardev) => {
                     const d = document.querySelector('dialog#vdpa-xml-dialog');
                     const t = document.querySelector('pre#vdpa-xml-text')?.textContent ?? '';
                     return d?.open === true && /<interface type=["']vdpa["']/.test(t) && t.includes(chardev);
                 }, dev.Chardev);
    check(await page.locator('#vdpa-xml-copy').count() === 1, 'no #vdpa-xml-copy in the XML dialog');
    await shot(page, 'xml');
    await page.locator('#vdpa-xml-close').click({ timeout: ACTION_TIMEOUT });
    await waitIn(page, 'dialog#vdpa-xml-dialog closed after #vdpa-xml-close', ACTION_TIMEOUT,
                 () => document.querySelector('dialog#vdpa-xml-dialog')?.open !== true);

    // Hotplug: listed within the bound, without a reload.
    await page.evaluate(() => { window.__vdpaNoReload = 'still-here'; });
    const t0 = Date.now();
    const [name, chardev] = await ask('hotplug');
    const left = HOTPLUG_BOUND - (Date.now() - t0);
    check(left > 0, `the test driver took ${Date.now() - t0} ms to hotplug ${name}, more than the ${HOTPLUG_BOUND} ms bound`);
    await waitIn(page, `hotplugged ${name} (${chardev}) listed as available within ${HOTPLUG_BOUND} ms`, left, ([n, c]) => {
        const row = document.querySelector(`#vdpa-devices tr[data-device="${CSS.escape(n)}"]`);
        const f = (k) => row?.querySelector(`[data-field="${k}"]`)?.textContent.trim();
        return row !== null && f('state') === 'available' && f('chardev') === c;
    }, [name, chardev]);
    const hotplugMs = Date.now() - t0;
    check(await page.evaluate(() => window.__vdpaNoReload) === 'still-here', 'the page reloaded to show the hotplugged device');
    log(`hotplug: ${name} listed as available ${hotplugMs} ms after the hotplug began (bound ${HOTPLUG_BOUND} ms)`);
    await shot(page, 'hotplug');

    // Claim through the dialog.
    await openClaimDialog(page, CLAIM_DEVICE, 'root');
    await shot(page, 'claim-dialog');
    await page.locator('#vdpa-claim-submit').click({ timeout: ACTION_TIMEOUT });
    await waitIn(page, `dialog#vdpa-claim-dialog closed after a successful claim of ${CLAIM_DEVICE} for ${DOMAIN}`
                 + ' (or #vdpa-claim-error says why not)', ACTION_TIMEOUT,
                 () => document.querySelector('dialog#vdpa-claim-dialog')?.open !== true)
        .catch(async (e) => {
            const err = await page.locator('#vdpa-claim-error').textContent().catch(() => null);
            throw new Failure(`${e.message}; #vdpa-claim-error: '${err ?? ''}'`);
        });
    await waitState(page, CLAIM_DEVICE, 'claimed', 'after the claim', ACTION_TIMEOUT);
    await waitIn(page, `row ${CLAIM_DEVICE} showing domain ${DOMAIN}`, ACTION_TIMEOUT, ([d, dom]) =>
        document.querySelector(`#vdpa-devices tr[data-device="${CSS.escape(d)}"] [data-field="domain"]`)
            ?.textContent.trim() === dom, [CLAIM_DEVICE, DOMAIN]);
    await shot(page, 'claimed');
    await ask(`claimed ${CLAIM_DEVICE} ${DOMAIN}`);

    // Release.
    await page.locator(`#vdpa-devices tr[data-device="${CLAIM_DEVICE}"] [data-action="release"]`).click({ timeout: ACTION_TIMEOUT });
    await waitState(page, CLAIM_DEVICE, 'available', 'after the release', ACTION_TIMEOUT);
    await shot(page, 'released');
    await ask(`released ${CLAIM_DEVICE} ${DOMAIN}`);

    // A claim that polkit refuses: the bridge of a user no rule grants.
    const denied = await openPage(context, URL_DENIED, 'unprivileged');
    await waitState(denied, CLAIM_DEVICE, 'available', 'unprivileged page', ACTION_TIMEOUT);
    await openClaimDialog(denied, CLAIM_DEVICE, 'unprivileged');
    await denied.locator('#vdpa-claim-submit').click({ timeout: ACTION_TIMEOUT });
    const refusal = /AccessDenied|NotAuthorized|Not authorized|InteractiveAuthorizationRequired|Interactive authentication required/i;
    await waitIn(denied, `#vdpa-claim-error naming the refusal (${refusal}) after an unauthorized claim`, ACTION_TIMEOUT,
                 (re) => new RegExp(re, 'i').test(document.querySelector('#vdpa-claim-error')?.textContent ?? ''),
                 refusal.source);
    const refusalText = (await denied.locator('#vdpa-claim-error').textContent()).trim();
    check(await denied.evaluate(() => document.querySelector('dialog#vdpa-claim-dialog')?.open === true),
          'the claim dialog closed although the claim was refused');
    log(`refused claim: #vdpa-claim-error says '${refusalText}'`);
    await shot(denied, 'refused');
    await ask(`refused ${CLAIM_DEVICE} ${DOMAIN}`);
    await denied.locator('#vdpa-claim-cancel').click({ timeout: ACTION_TIMEOUT });
    await waitIn(denied, 'dialog#vdpa-claim-dialog closed after #vdpa-claim-cancel', ACTION_TIMEOUT,
                 () => document.querySelector('dialog#vdpa-claim-dialog')?.open !== true);
    await waitState(denied, CLAIM_DEVICE, 'available', 'after the refused claim', ACTION_TIMEOUT);
    await waitState(page, CLAIM_DEVICE, 'available', 'root page after the refused claim', ACTION_TIMEOUT);

    // Keyboard: a row takes the focus, Enter opens its details.
    const other = DEVICES.find((d) => d.Name !== CLAIM_DEVICE)?.Name ?? CLAIM_DEVICE;
    await page.locator(`#vdpa-devices tr[data-device="${other}"]`).focus({ timeout: ACTION_TIMEOUT });
    await page.keyboard.press('Enter');
    await waitIn(page, `#vdpa-details showing ${other} after Enter on its focused row`, ACTION_TIMEOUT,
                 (n) => document.querySelector('#vdpa-details')?.getAttribute('data-device') === n &&
                        document.querySelector('#vdpa-details [data-key="Name"]')?.textContent.trim() === n, other);

    // A narrow window: nothing overflows sideways.
    await page.setViewportSize({ width: 400, height: 800 });
    await waitIn(page, 'no horizontal overflow at 400 px (document wider than the window)', ACTION_TIMEOUT,
                 () => document.documentElement.scrollWidth <= window.innerWidth + 1);
    await shot(page, 'narrow');
    await page.setViewportSize({ width: 1280, height: 800 });

    check(consoleErrors.length === 0, `console errors:\n  ${consoleErrors.join('\n  ')}`);
    return [page, denied];
}

const profile = mkdtempSync(join(TMP, 'chromium-'));
let context;
let code = 1;
try {
    context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1280, height: 800 },
        timeout: LOAD_TIMEOUT,
    });
    context.setDefaultTimeout(ACTION_TIMEOUT);
    for (const p of context.pages())
        await p.close();
    await run(context);
    log(`passed; screenshots:\n${shots.map((s) => `#   ${s}`).join('\n')}`);
    code = 0;
} catch (e) {
    process.stderr.write(`browser test FAILED: ${e instanceof Failure ? e.message : e.stack}\n`);
    if (consoleErrors.length)
        process.stderr.write(`console errors so far:\n  ${consoleErrors.join('\n  ')}\n`);
    for (const p of context ? context.pages() : []) {
        const path = join(SHOTS, `failed-${context.pages().indexOf(p) + 1}.png`);
        await p.screenshot({ path, fullPage: true }).then(() => log(`screenshot ${path}`), () => {});
    }
} finally {
    if (context)
        await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
}
if (code === 0)
    send('done');
process.exit(code);
