/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * vdpa.js — the Cockpit page of vdpa-manager.  Plain ES2020, no framework,
 * no build step; talks to org.vdpa.Manager on the system bus through
 * cockpit.js (../base1/cockpit.js) and nothing else.
 *
 * Model: one Map of device dictionaries (name → decoded a{sv}), filled by
 * one Devices() call and then kept current by DeviceAdded, DeviceChanged
 * and DeviceRemoved alone; each signal touches the DOM of one row (and its
 * group header).  Devices() is called again only when the service itself
 * comes back (a new owner of the bus name), never per signal.
 */

"use strict";

(function () {
    const BUS_NAME = "org.vdpa.Manager";
    const PATH = "/org/vdpa/Manager";
    const IFACE = "org.vdpa.Manager";
    const PROPS_IFACE = "org.freedesktop.DBus.Properties";

    const STATES = ["available", "claimed", "in-use", "unusable", "excluded"];
    /* Order of the details pane: the device dictionary as the contract lists
     * it; keys the page does not know yet follow in alphabetical order. */
    const KEY_ORDER = [
        "Name", "State", "Type", "Domain", "DomainUuid", "Mac", "ClaimedBy",
        "Driver", "Chardev", "SysfsPath", "ParentKind", "ParentDevice",
        "PhysicalFunction", "PfNetdev", "Representor", "NumaNode", "VendorId",
        "ProductId", "ManagementDevice", "DeviceMac", "Mtu", "MaxQueuePairs",
        "MaxQueues", "MaxQueueSize", "Provisioned",
    ];

    /* ---- small helpers ------------------------------------------------ */

    const $ = id => document.getElementById(id);

    function el(tag, attrs, ...children) {
        const node = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === undefined || v === null || v === false)
                continue;
            if (k === "class")
                node.className = v;
            else if (k === "text")
                node.textContent = v;
            else if (k === "hidden")
                node.hidden = true;
            else
                node.setAttribute(k, v === true ? "" : String(v));
        }
        for (const c of children)
            if (c !== null && c !== undefined)
                node.append(c);
        return node;
    }

    function setText(node, text) {
        const s = text === undefined || text === null ? "" : String(text);
        if (node.textContent !== s)
            node.textContent = s;
    }

    const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

    /* D-Bus values arrive from cockpit.js as JSON: a variant is {t, v}, a
     * dictionary with string keys a plain object, arrays arrays.  decode()
     * follows the type signature, so a{sv} inside a variant (Capabilities)
     * and aa{sv} are unwrapped all the way down, and nothing else is
     * guessed at. */
    function decode(type, value) {
        if (type === "v")
            return decodeVariant(value);
        if (type.startsWith("a{")) {
            const valueType = type.slice(3, -1); /* key types are one character */
            const out = {};
            for (const [k, v] of Object.entries(value || {}))
                out[k] = decode(valueType, v);
            return out;
        }
        if (type.startsWith("a") && type !== "ay")
            return (value || []).map(v => decode(type.slice(1), v));
        return value;
    }

    function decodeVariant(variant) {
        if (variant === null || typeof variant !== "object" || typeof variant.t !== "string")
            return variant;
        return decode(variant.t, variant.v);
    }

    const decodeDict = dict => decode("a{sv}", dict);

    /* The words shown for a failed call: the error name's last component and
     * its message ("DeviceBusy: vdpa0 is claimed by ..."); a cockpit
     * transport problem (no D-Bus error name) by its problem code. */
    function errorText(ex) {
        if (ex && ex.name && typeof ex.name === "string" && ex.name.includes(".")) {
            const last = ex.name.slice(ex.name.lastIndexOf(".") + 1);
            return ex.message ? `${last}: ${ex.message}` : last;
        }
        if (ex && ex.problem) {
            let text = ex.message || "";
            if (!text && typeof cockpit.message === "function")
                text = cockpit.message(ex.problem);
            return text && text !== ex.problem ? `${ex.problem}: ${text}` : ex.problem;
        }
        if (ex && ex.message)
            return ex.message;
        return String(ex);
    }

    function isError(ex, shortName) {
        return !!(ex && typeof ex.name === "string" && ex.name.endsWith("." + shortName));
    }

    function showError(node, text) {
        setText(node, text || "");
        node.hidden = !text;
    }

    /* ---- announcements (one polite live region, coalesced) --------------- */

    const announcements = [];
    let announceTimer = null;

    function announce(text) {
        announcements.push(text);
        if (announceTimer === null)
            announceTimer = window.setTimeout(flushAnnouncements, 400);
    }

    function flushAnnouncements() {
        announceTimer = null;
        const list = announcements.splice(0);
        let text;
        if (list.length <= 3)
            text = list.join(". ");
        else
            text = `${list.length} updates: ${list.slice(0, 2).join(". ")}, and ${list.length - 2} more`;
        setText($("vdpa-live"), text);
    }

    /* ---- state -------------------------------------------------------- */

    const devices = new Map();      /* name → decoded device dictionary */
    const rows = new Map();         /* name → <tr data-device> */
    const groups = new Map();       /* group key → <tbody data-group> */
    const pending = new Set();      /* "action:name" while a call runs */
    let mgmtdevs = [];              /* decoded ManagementDevices() answer */
    let mgmtAvailable = false;      /* ManagementDevices() answered */
    let props = {};                 /* decoded properties of org.vdpa.Manager */
    let detailsName = null;         /* device shown in #vdpa-details */
    let loadGeneration = 0;         /* bumped by every full (re)load */
    let loaded = false;             /* first Devices() rendered */
    let seenOwner = null;           /* last unique name that owned org.vdpa.Manager */

    const client = cockpit.dbus(BUS_NAME, { bus: "system", superuser: "try" });

    /* Every call names its signature (no introspection round trip) and
     * sets no ALLOW_INTERACTIVE_AUTHORIZATION flag: polkit answers at once
     * (AccessDenied or InteractiveAuthorizationRequired, shown next to the
     * button) instead of waiting on an authentication agent the page cannot
     * show; with Cockpit's administrative access turned on, superuser "try"
     * makes the calls as root and polkit has nothing to ask. */
    function call(method, type, args) {
        return client.call(PATH, IFACE, method, args, { type, flags: "" });
    }

    /* ---- service status ---------------------------------------------- */

    function yesNo(v) {
        if (v === undefined || v === null)
            return "";
        return v ? "yes" : "no";
    }

    function renderStatus() {
        const status = $("vdpa-status");
        const field = name => status.querySelector(`[data-field="${name}"]`);
        const caps = props.Capabilities || {};
        setText(field("version"), props.Version);
        setText(field("libvirt-connected"), yesNo(props.LibvirtConnected));
        field("libvirt-connected").className = props.LibvirtConnected === undefined ? ""
            : (props.LibvirtConnected ? "vdpa-good" : "vdpa-bad");
        setText(field("live-migration"), props.LiveMigration);
        setText(field("libvirt-uri"), props.LibvirtUri);
        setText(field("libvirt-version"), caps.LibvirtVersion);
        setText(field("qemu-version"), caps.QemuVersion);
        setText(field("vdpa-supported"), yesNo(caps.VdpaSupported));
        setText(field("kernel-vdpa"), yesNo(caps.KernelVdpa));
        setText(field("vdpa-netlink"), yesNo(caps.VdpaNetlink));
        setText(field("available-devices"), caps.AvailableDevices);
        renderProvisionRules();
    }

    function loadProperties(generation) {
        return client.call(PATH, PROPS_IFACE, "GetAll", [IFACE], { type: "s" })
                .then(([all]) => {
                    if (generation !== loadGeneration)
                        return;
                    props = decodeDict(all);
                    renderStatus();
                });
    }

    function onPropertiesChanged(path, iface, signal, args) {
        const [changedIface, changed, invalidated] = args;
        if (changedIface !== IFACE)
            return;
        const values = decodeDict(changed);
        const before = props;
        props = Object.assign({}, props, values);
        renderStatus();
        for (const name of Object.keys(values)) {
            if (name === "LibvirtConnected")
                announce(`libvirt ${values[name] ? "connected" : "disconnected"}`);
            else if (name === "LiveMigration")
                announce(`Live migration policy: ${values[name]}`);
        }
        const netlinkBefore = (before.Capabilities || {}).VdpaNetlink;
        const netlinkNow = (props.Capabilities || {}).VdpaNetlink;
        if (("Capabilities" in values && netlinkBefore !== netlinkNow) || "ProvisionRules" in values)
            loadMgmtdevs().catch(ex => showMgmtError(ex));
        for (const name of invalidated || []) {
            client.call(PATH, PROPS_IFACE, "Get", [IFACE, name], { type: "ss" })
                    .then(([value]) => {
                        props = Object.assign({}, props, { [name]: decodeVariant(value) });
                        renderStatus();
                    })
                    .catch(ex => showServiceError(`Reading property ${name} failed: ${errorText(ex)}`));
        }
    }

    function showServiceError(text) {
        showError($("vdpa-service-error"), text);
    }

    /* ---- device groups and rows --------------------------------------- */

    function groupOf(dev) {
        if (dev.ParentKind === "virtual")
            return { key: "virtual", pf: "", numa: null, order: [2, "", 0] };
        const pf = dev.PhysicalFunction || "";
        const numa = typeof dev.NumaNode === "number" ? dev.NumaNode : -1;
        const key = `pf-${pf || "unknown"}-numa-${numa >= 0 ? numa : "unknown"}`;
        return { key, pf, numa, order: [pf ? 0 : 1, pf, numa] };
    }

    function compareGroups(a, b) {
        if (a.order[0] !== b.order[0])
            return a.order[0] - b.order[0];
        const c = collator.compare(a.order[1], b.order[1]);
        if (c !== 0)
            return c;
        return a.order[2] - b.order[2];
    }

    function groupTitle(info, members) {
        if (info.key === "virtual")
            return "Virtual devices (simulator, VDUSE) · no NUMA node";
        const netdev = members.map(d => d.PfNetdev).find(n => n);
        const pf = info.pf ? `Physical function ${info.pf}${netdev ? ` (${netdev})` : ""}`
            : "Physical function unknown";
        const numa = info.numa >= 0 ? `NUMA node ${info.numa}` : "NUMA node unknown";
        return `${pf} · ${numa}`;
    }

    function ensureGroup(info) {
        let tbody = groups.get(info.key);
        if (tbody)
            return tbody;
        const header = el("th", { scope: "rowgroup", colspan: "7", class: "vdpa-group-title" });
        const count = el("span", { class: "vdpa-group-count" });
        header.append(el("span", { "data-field": "group-title" }), " ", count);
        tbody = el("tbody", { "data-group": info.key, "data-pf": info.pf, "data-numa": info.numa === null ? "" : info.numa },
                   el("tr", { class: "vdpa-group-header" }, header));
        tbody._info = info;
        /* keep groups sorted: PFs by address then NUMA node, unknown PF, virtual last */
        const table = $("vdpa-devices");
        let before = null;
        for (const other of table.tBodies) {
            if (compareGroups(info, other._info) < 0) {
                before = other;
                break;
            }
        }
        table.insertBefore(tbody, before);
        groups.set(info.key, tbody);
        return tbody;
    }

    function updateGroupHeader(tbody) {
        const members = [...tbody.querySelectorAll("tr[data-device]")].map(r => devices.get(r.dataset.device)).filter(Boolean);
        if (members.length === 0) {
            groups.delete(tbody.dataset.group);
            tbody.remove();
            return;
        }
        setText(tbody.querySelector('[data-field="group-title"]'), groupTitle(tbody._info, members));
        const available = members.filter(d => d.State === "available").length;
        setText(tbody.querySelector(".vdpa-group-count"),
                `${members.length} ${members.length === 1 ? "device" : "devices"}, ${available} available`);
    }

    function actionButton(action, label, name, hint) {
        const b = el("button", {
            type: "button",
            class: "vdpa-btn vdpa-btn-small",
            "data-action": action,
            "aria-label": `${hint} ${name}`,
            text: label,
        });
        if (pending.has(`${action}:${name}`))
            setBusy(b, true);
        return b;
    }

    function createRow(name) {
        const cell = (field, label) => el("td", { "data-field": field, "data-label": label });
        const actions = el("div", { class: "vdpa-actions" },
                           actionButton("claim", "Claim", name, "Claim"),
                           actionButton("release", "Release", name, "Release"),
                           actionButton("xml", "Interface XML", name, "Interface XML of"),
                           actionButton("details", "Details", name, "Details of"));
        const row = el("tr", { "data-device": name, tabindex: "0", class: "vdpa-device-row" },
                       el("th", { scope: "row", "data-field": "name", "data-label": "Name" }),
                       el("td", { "data-field": "state", "data-label": "State" }, el("span", { class: "vdpa-label" })),
                       cell("type", "Type"),
                       cell("domain", "Domain"),
                       cell("chardev", "Chardev"),
                       cell("representor", "Representor"),
                       el("td", { class: "vdpa-actions-cell", "data-label": "Actions" },
                          actions,
                          el("div", { "data-field": "error", class: "vdpa-error vdpa-row-error", role: "alert", hidden: true })));
        syncDeleteButton(row);
        return row;
    }

    function syncDeleteButton(row) {
        const name = row.dataset.device;
        const existing = row.querySelector('[data-action="delete"]');
        if (mgmtAvailable && !existing) {
            const details = row.querySelector('[data-action="details"]');
            details.before(actionButton("delete", "Delete", name, "Delete"));
        } else if (!mgmtAvailable && existing) {
            existing.remove();
        }
    }

    function fillRow(row, dev) {
        const f = field => row.querySelector(`[data-field="${field}"]`);
        setText(f("name"), dev.Name);
        const state = String(dev.State || "");
        const stateCell = f("state");
        const cls = `vdpa-state-${state}`;
        if (stateCell.className !== cls)
            stateCell.className = cls;
        setText(stateCell.firstChild, state);
        setText(f("type"), dev.Type);
        setText(f("domain"), dev.Domain);
        setText(f("chardev"), dev.Chardev);
        setText(f("representor"), dev.Representor);
        row.classList.toggle("vdpa-row-selected", detailsName === dev.Name);
        if (detailsName === dev.Name)
            row.setAttribute("aria-current", "true");
        else
            row.removeAttribute("aria-current");
    }

    function placeRow(row, dev) {
        const info = groupOf(dev);
        const tbody = ensureGroup(info);
        const oldBody = row.parentNode;
        let before = null;
        for (const other of tbody.querySelectorAll("tr[data-device]")) {
            if (other !== row && collator.compare(dev.Name, other.dataset.device) < 0) {
                before = other;
                break;
            }
        }
        const alreadyThere = oldBody === tbody &&
            (before ? row.nextElementSibling === before : row === tbody.lastElementChild);
        if (!alreadyThere) {
            const focused = row.contains(document.activeElement) ? document.activeElement : null;
            tbody.insertBefore(row, before);
            if (focused && document.activeElement !== focused)
                focused.focus();
        }
        if (oldBody && oldBody !== tbody)
            updateGroupHeader(oldBody);
        updateGroupHeader(tbody);
    }

    function upsertDevice(dev) {
        const name = dev.Name;
        devices.set(name, dev);
        let row = rows.get(name);
        if (!row) {
            row = createRow(name);
            rows.set(name, row);
        }
        fillRow(row, dev);
        placeRow(row, dev);
        if (detailsName === name)
            renderDetails();
    }

    function removeDevice(name) {
        devices.delete(name);
        const row = rows.get(name);
        if (row) {
            const tbody = row.parentNode;
            const hadFocus = row.contains(document.activeElement);
            const next = row.nextElementSibling || row.previousElementSibling;
            row.remove();
            rows.delete(name);
            if (tbody)
                updateGroupHeader(tbody);
            if (hadFocus) {
                const target = next && next.dataset.device ? next : document.querySelector("tr[data-device]");
                (target || $("vdpa-devices-title")).focus();
            }
        }
        for (const key of [...pending])
            if (key.endsWith(":" + name))
                pending.delete(key);
        if (detailsName === name)
            renderDetails();
    }

    function updateEmpty() {
        $("vdpa-devices-empty").hidden = !loaded || devices.size > 0;
        updatePfList();
    }

    function updatePfList() {
        const list = $("vdpa-claim-pf-list");
        const pfs = [...new Set([...devices.values()].map(d => d.PhysicalFunction).filter(Boolean))].sort(collator.compare);
        if (list.options.length === pfs.length && [...list.options].every((o, i) => o.value === pfs[i]))
            return;
        list.replaceChildren(...pfs.map(pf => el("option", { value: pf })));
    }

    function loadDevices(generation) {
        return call("Devices", "", []).then(([list]) => {
            if (generation !== loadGeneration)
                return;
            const fresh = new Map();
            for (const raw of list) {
                const dev = decodeDict(raw);
                fresh.set(dev.Name, dev);
            }
            for (const name of [...devices.keys()])
                if (!fresh.has(name))
                    removeDevice(name);
            for (const dev of fresh.values())
                upsertDevice(dev);
            $("vdpa-devices-loading").hidden = true;
            loaded = true;
            updateEmpty();
        });
    }

    /* ---- signals ------------------------------------------------------ */

    function onManagerSignal(path, iface, signal, args) {
        if (!loaded)
            return; /* the Devices() answer still on its way reflects this change */
        if (signal === "DeviceAdded" || signal === "DeviceChanged") {
            const name = args[0];
            const dev = decodeDict(args[1]);
            if (!dev.Name)
                dev.Name = name;
            const before = devices.get(name);
            upsertDevice(dev);
            if (signal === "DeviceAdded" || !before) {
                announce(`${name} added, ${dev.State}`);
                mgmtdevAddDevice(dev);
            } else if (before.State !== dev.State) {
                announce(`${name} is now ${dev.State}${dev.Domain ? ` (${dev.Domain})` : ""}`);
            }
        } else if (signal === "DeviceRemoved") {
            const name = args[0];
            if (devices.has(name))
                announce(`${name} removed`);
            removeDevice(name);
            mgmtdevRemoveDevice(name);
        } else {
            return;
        }
        updateEmpty();
    }

    /* ---- details pane -------------------------------------------------- */

    function formatValue(v) {
        if (Array.isArray(v))
            return v.map(formatValue).join(", ");
        if (typeof v === "boolean")
            return v ? "true" : "false";
        if (v !== null && typeof v === "object")
            return JSON.stringify(v);
        return v === undefined || v === null ? "" : String(v);
    }

    function renderDetails() {
        const list = $("vdpa-details-list");
        const gone = $("vdpa-details-gone");
        const title = $("vdpa-details-title");
        if (!detailsName) {
            list.replaceChildren();
            setText(title, "Details");
            $("vdpa-details-hint").hidden = false;
            $("vdpa-details-close").hidden = true;
            gone.hidden = true;
            $("vdpa-details").removeAttribute("data-device");
            return;
        }
        $("vdpa-details-hint").hidden = true;
        $("vdpa-details-close").hidden = false;
        $("vdpa-details").setAttribute("data-device", detailsName);
        setText(title, `Details of ${detailsName}`);
        const dev = devices.get(detailsName);
        if (!dev) {
            setText(gone, `${detailsName} is no longer on this host; the values below are its last known ones.`);
            gone.hidden = false;
            return;
        }
        gone.hidden = true;
        const keys = Object.keys(dev).sort((a, b) => {
            const ia = KEY_ORDER.indexOf(a);
            const ib = KEY_ORDER.indexOf(b);
            if (ia !== -1 || ib !== -1)
                return (ia === -1 ? 1e6 : ia) - (ib === -1 ? 1e6 : ib);
            return collator.compare(a, b);
        });
        /* one <div><dt>KEY</dt><dd data-key="KEY">value</dd></div> per key,
         * updated in place; the list is rebuilt only when keys come or go */
        const existing = new Map([...list.children].map(item => [item.dataset.item, item]));
        const wanted = keys.map(key => {
            let item = existing.get(key);
            if (!item)
                item = el("div", { class: "vdpa-details-item", "data-item": key },
                          el("dt", { text: key }), el("dd", { "data-key": key }));
            const dd = item.lastElementChild;
            const text = formatValue(dev[key]);
            setText(dd, text);
            dd.classList.toggle("vdpa-empty", text === "");
            return item;
        });
        const current = [...list.children];
        if (current.length !== wanted.length || current.some((n, i) => n !== wanted[i]))
            list.replaceChildren(...wanted);
    }

    function openDetails(name, focus) {
        const previous = detailsName;
        detailsName = name;
        for (const n of [previous, name]) {
            if (n && rows.has(n) && devices.has(n))
                fillRow(rows.get(n), devices.get(n));
        }
        renderDetails();
        if (focus) {
            const title = $("vdpa-details-title");
            title.focus();
            if (title.scrollIntoView)
                title.scrollIntoView({ block: "nearest" });
        }
    }

    /* ---- busy buttons, row errors -------------------------------------- */

    function setBusy(button, busy) {
        if (!button)
            return;
        button.disabled = busy;
        button.classList.toggle("vdpa-busy", busy);
        if (busy)
            button.setAttribute("aria-busy", "true");
        else
            button.removeAttribute("aria-busy");
    }

    function rowButton(name, action) {
        const row = rows.get(name);
        return row ? row.querySelector(`[data-action="${action}"]`) : null;
    }

    function rowError(name, text) {
        const row = rows.get(name);
        if (row)
            showError(row.querySelector('[data-field="error"]'), text);
    }

    /* Run one call for a device row: its button is disabled until the
     * answer, the row's error area cleared before and filled on failure. */
    function rowAction(name, action, promiseFactory) {
        const key = `${action}:${name}`;
        if (pending.has(key))
            return Promise.resolve(null);
        pending.add(key);
        setBusy(rowButton(name, action), true);
        rowError(name, "");
        let promise;
        try {
            promise = Promise.resolve(promiseFactory());
        } catch (ex) {
            promise = Promise.reject(ex);
        }
        return promise.finally(() => {
            pending.delete(key);
            setBusy(rowButton(name, action), false);
        });
    }

    function failRow(name, what, ex) {
        const text = errorText(ex);
        rowError(name, text);
        announce(`${what} ${name} failed: ${text}`);
    }

    /* ---- row actions -------------------------------------------------- */

    function doRelease(name) {
        rowAction(name, "release", () => call("Release", "sa{sv}", [name, {}]))
                .then(result => {
                    if (result !== null)
                        announce(`Released ${name}`);
                })
                .catch(ex => failRow(name, "Release of", ex));
    }

    function doDelete(name) {
        rowAction(name, "delete", () => call("DeleteDevice", "sa{sv}", [name, {}]))
                .then(result => {
                    if (result !== null)
                        announce(`Deleted ${name}`);
                })
                .catch(ex => failRow(name, "Delete of", ex));
    }

    let xmlOpener = null;

    function doXml(name) {
        rowAction(name, "xml", () => call("BuildInterfaceXml", "sa{sv}", [name, {}]))
                .then(result => {
                    if (result === null)
                        return;
                    const [xml] = result;
                    xmlOpener = rowButton(name, "xml");
                    setText($("vdpa-xml-title"), `Interface XML of ${name}`);
                    setText($("vdpa-xml-text"), xml);
                    setText($("vdpa-xml-status"), "");
                    const dialog = $("vdpa-xml-dialog");
                    if (!dialog.open)
                        dialog.showModal();
                    $("vdpa-xml-copy").focus();
                })
                .catch(ex => failRow(name, "Interface XML of", ex));
    }

    function copyXml() {
        const text = $("vdpa-xml-text").textContent;
        const status = $("vdpa-xml-status");
        const fallback = () => {
            const range = document.createRange();
            range.selectNodeContents($("vdpa-xml-text"));
            const sel = window.getSelection();
            sel.removeAllRanges();
            sel.addRange(range);
            let ok = false;
            try {
                ok = document.execCommand("copy");
            } catch (ex) {
                ok = false;
            }
            setText(status, ok ? "Copied to the clipboard."
                : "The browser refused the clipboard; the text is selected: press Ctrl+C.");
        };
        if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text)
                    .then(() => setText(status, "Copied to the clipboard."))
                    .catch(() => fallback());
        } else {
            fallback();
        }
    }

    /* ---- claim dialog -------------------------------------------------- */

    let claimDevice = "";           /* device the dialog was opened for, "" from the toolbar */
    let claimOpener = null;
    let claimPending = false;

    function syncClaimAuto() {
        const auto = $("vdpa-claim-auto").checked || !claimDevice;
        const fields = $("vdpa-claim-auto-fields");
        fields.disabled = !auto;
        fields.hidden = !auto;
    }

    function openClaim(name, opener) {
        claimDevice = name || "";
        claimOpener = opener || null;
        const auto = $("vdpa-claim-auto");
        auto.checked = !claimDevice;
        auto.disabled = !claimDevice;
        setText($("vdpa-claim-title"), claimDevice ? `Claim ${claimDevice}` : "Claim a device for a domain");
        setText($("vdpa-claim-device-text"), claimDevice
            ? `Attach ${claimDevice} to a libvirt domain, or let the service pick a device.`
            : "The service picks an available device that meets the constraints below.");
        setText($("vdpa-claim-auto-label"), claimDevice
            ? `Pick an available device automatically instead of ${claimDevice}`
            : "Pick an available device automatically");
        showError($("vdpa-claim-error"), "");
        if (!claimPending)
            setBusy($("vdpa-claim-submit"), false);
        syncClaimAuto();
        const dialog = $("vdpa-claim-dialog");
        if (!dialog.open)
            dialog.showModal();
        $("vdpa-claim-domain").focus();
    }

    function claimOptions(auto) {
        const options = {};
        const mac = $("vdpa-claim-mac").value.trim();
        if (mac)
            options.mac = cockpit.variant("s", mac);
        if (auto) {
            options.numa_policy = cockpit.variant("s", $("vdpa-claim-numa-policy").value);
            const node = $("vdpa-claim-numa-node").value.trim();
            if (node !== "") {
                const n = Number(node);
                if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647)
                    throw new Error(`numa_node: "${node}" is not a whole number`);
                options.numa_node = cockpit.variant("i", n);
            }
            const pf = $("vdpa-claim-pf").value.trim();
            if (pf)
                options.physical_function = cockpit.variant("s", pf);
        }
        return options;
    }

    function submitClaim(event) {
        event.preventDefault();
        if (claimPending)
            return;
        const errorNode = $("vdpa-claim-error");
        const domain = $("vdpa-claim-domain").value.trim();
        const auto = $("vdpa-claim-auto").checked || !claimDevice;
        const device = auto ? "" : claimDevice;
        let options;
        try {
            options = claimOptions(auto);
        } catch (ex) {
            showError(errorNode, errorText(ex));
            return;
        }
        showError(errorNode, "");
        claimPending = true;
        const submit = $("vdpa-claim-submit");
        setBusy(submit, true);
        setText(submit, "Claiming…");
        const rowName = device;
        if (rowName) {
            pending.add(`claim:${rowName}`);
            setBusy(rowButton(rowName, "claim"), true);
            rowError(rowName, "");
        }
        const dialog = $("vdpa-claim-dialog");
        call("Claim", "ssa{sv}", [device, domain, options])
                .then(([claimed]) => {
                    announce(`Claimed ${claimed} for ${domain}`);
                    if (dialog.open)
                        dialog.close("claimed");
                })
                .catch(ex => {
                    const text = errorText(ex);
                    if (dialog.open) {
                        showError(errorNode, text);
                        announce(`Claim failed: ${text}`);
                    } else if (rowName) {
                        failRow(rowName, "Claim of", ex);
                    } else {
                        showError($("vdpa-toolbar-error"), text);
                        announce(`Claim failed: ${text}`);
                    }
                })
                .finally(() => {
                    claimPending = false;
                    setBusy(submit, false);
                    setText(submit, "Claim");
                    if (rowName) {
                        pending.delete(`claim:${rowName}`);
                        setBusy(rowButton(rowName, "claim"), false);
                    }
                });
    }

    /* ---- management devices ------------------------------------------- */

    function showMgmtError(ex) {
        showError($("vdpa-mgmtdevs-error"), ex ? `ManagementDevices failed: ${errorText(ex)}` : "");
    }

    function setMgmtAvailable(available) {
        if (mgmtAvailable === available)
            return;
        mgmtAvailable = available;
        for (const row of rows.values())
            syncDeleteButton(row);
    }

    function loadMgmtdevs() {
        const generation = loadGeneration;
        const refresh = $("vdpa-mgmt-refresh");
        setBusy(refresh, true);
        return call("ManagementDevices", "", [])
                .then(([list]) => {
                    if (generation !== loadGeneration)
                        return;
                    mgmtdevs = list.map(decodeDict);
                    showMgmtError(null);
                    $("vdpa-mgmtdevs-note").hidden = mgmtdevs.length > 0;
                    setText($("vdpa-mgmtdevs-note"), "The kernel reports no vDPA management devices.");
                    $("vdpa-mgmtdevs").hidden = false;
                    setMgmtAvailable(true);
                    renderMgmtdevs();
                }, ex => {
                    if (generation !== loadGeneration)
                        return;
                    mgmtdevs = [];
                    renderMgmtdevs();
                    $("vdpa-mgmtdevs").hidden = true;
                    setMgmtAvailable(false);
                    if (isError(ex, "NotSupported")) {
                        showMgmtError(null);
                        setText($("vdpa-mgmtdevs-note"),
                                "Creating and deleting devices is not available on this host: the kernel's vdpa " +
                                `management plane (netlink family "vdpa") is missing. (${errorText(ex)})`);
                        $("vdpa-mgmtdevs-note").hidden = false;
                    } else {
                        $("vdpa-mgmtdevs-note").hidden = true;
                        throw ex;
                    }
                })
                .finally(() => setBusy(refresh, false));
    }

    function mgmtRow(handle) {
        return [...$("vdpa-mgmtdevs-body").rows].find(r => r.dataset.mgmtdev === handle) || null;
    }

    function fillMgmtRow(row, m) {
        const f = field => row.querySelector(`[data-field="${field}"]`);
        setText(f("handle"), m.Handle);
        setText(f("kind"), m.ParentKind);
        setText(f("pf"), m.PhysicalFunction);
        setText(f("numa"), typeof m.NumaNode === "number" && m.NumaNode >= 0 ? m.NumaNode : "unknown");
        setText(f("classes"), (m.SupportedClasses || []).join(", "));
        setText(f("max-queues"), m.MaxQueues ? m.MaxQueues : "unknown");
        setText(f("devices"), (m.Devices || []).join(", "));
        const prov = [];
        if (m.ProvisionRule)
            prov.push(`rule ${m.ProvisionRule}`);
        setText(f("provision-rule"), prov.join(""));
        showError(f("provision-error"), m.ProvisionError || "");
    }

    function renderMgmtdevs() {
        const body = $("vdpa-mgmtdevs-body");
        const seen = new Set();
        let index = 0;
        for (const m of mgmtdevs) {
            seen.add(m.Handle);
            let row = mgmtRow(m.Handle);
            if (!row) {
                const cell = (field, label) => el("td", { "data-field": field, "data-label": label });
                const create = el("button", {
                    type: "button",
                    class: "vdpa-btn vdpa-btn-small",
                    "data-action": "create",
                    "aria-label": `Create a device on ${m.Handle}`,
                    text: "Create",
                });
                if (pending.has(`create:${m.Handle}`))
                    setBusy(create, true);
                row = el("tr", { "data-mgmtdev": m.Handle },
                         el("th", { scope: "row", "data-field": "handle" }),
                         cell("kind", "Kind"), cell("pf", "Physical function"), cell("numa", "NUMA node"),
                         cell("classes", "Classes"), cell("max-queues", "Max queues"), cell("devices", "Devices"),
                         el("td", { "data-label": "Provisioning" },
                            el("span", { "data-field": "provision-rule" }),
                            el("div", { "data-field": "provision-error", class: "vdpa-error", hidden: true })),
                         el("td", { class: "vdpa-actions-cell" },
                            el("div", { class: "vdpa-actions" }, create),
                            el("div", { "data-field": "error", class: "vdpa-error vdpa-row-error", role: "alert", hidden: true })));
            }
            fillMgmtRow(row, m);
            if (body.rows[index] !== row)
                body.insertBefore(row, body.rows[index] || null);
            index++;
        }
        for (const row of [...body.rows])
            if (!seen.has(row.dataset.mgmtdev))
                row.remove();
        renderProvisionRules();
    }

    function mgmtdevAddDevice(dev) {
        const m = mgmtdevs.find(x => x.Handle === dev.ManagementDevice);
        if (!m)
            return;
        m.Devices = m.Devices || [];
        if (!m.Devices.includes(dev.Name)) {
            m.Devices.push(dev.Name);
            m.Devices.sort(collator.compare);
            const row = mgmtRow(m.Handle);
            if (row)
                fillMgmtRow(row, m);
        }
    }

    function mgmtdevRemoveDevice(name) {
        for (const m of mgmtdevs) {
            const i = (m.Devices || []).indexOf(name);
            if (i !== -1) {
                m.Devices.splice(i, 1);
                const row = mgmtRow(m.Handle);
                if (row)
                    fillMgmtRow(row, m);
            }
        }
    }

    function renderProvisionRules() {
        const rules = props.ProvisionRules || [];
        const box = $("vdpa-provision-rules");
        box.hidden = rules.length === 0;
        const items = rules.map(r => {
            const parts = [`ManagementDevice=${r.ManagementDevice}`];
            if (r.MaxQueuePairs)
                parts.push(`MaxQueuePairs=${r.MaxQueuePairs}`);
            if (r.Mtu)
                parts.push(`Mtu=${r.Mtu}`);
            if (r.Mac)
                parts.push(`Mac=${r.Mac}`);
            if (r.NamePattern)
                parts.push(`Name=${r.NamePattern}`);
            return el("li", { "data-rule": r.Name }, el("strong", { text: r.Name }), " ", parts.join(" · "));
        });
        const list = $("vdpa-provision-rules-list");
        const sig = JSON.stringify(rules);
        if (list.dataset.sig !== sig) {
            list.replaceChildren(...items);
            list.dataset.sig = sig;
        }
    }

    /* create dialog */
    let createHandle = "";
    let createOpener = null;
    let createPending = false;

    function openCreate(handle, opener) {
        createHandle = handle;
        createOpener = opener;
        setText($("vdpa-create-mgmtdev"), handle);
        setText($("vdpa-create-title"), `Create a vDPA device on ${handle}`);
        showError($("vdpa-create-error"), "");
        const dialog = $("vdpa-create-dialog");
        if (!dialog.open)
            dialog.showModal();
        $("vdpa-create-name").focus();
    }

    function uint16Option(id, key) {
        const raw = $(id).value.trim();
        if (raw === "")
            return null;
        const n = Number(raw);
        if (!Number.isInteger(n) || n < 0 || n > 65535)
            throw new Error(`${key}: "${raw}" is not a whole number from 0 to 65535`);
        return cockpit.variant("q", n);
    }

    function submitCreate(event) {
        event.preventDefault();
        if (createPending)
            return;
        const errorNode = $("vdpa-create-error");
        const handle = createHandle;
        const name = $("vdpa-create-name").value.trim();
        const options = {};
        try {
            const mac = $("vdpa-create-mac").value.trim();
            if (mac)
                options.mac = cockpit.variant("s", mac);
            const mtu = uint16Option("vdpa-create-mtu", "mtu");
            if (mtu)
                options.mtu = mtu;
            const qp = uint16Option("vdpa-create-max-qp", "max_queue_pairs");
            if (qp)
                options.max_queue_pairs = qp;
        } catch (ex) {
            showError(errorNode, errorText(ex));
            return;
        }
        showError(errorNode, "");
        createPending = true;
        const submit = $("vdpa-create-submit");
        setBusy(submit, true);
        setText(submit, "Creating…");
        pending.add(`create:${handle}`);
        const row = mgmtRow(handle);
        const rowButtonNode = row ? row.querySelector('[data-action="create"]') : null;
        setBusy(rowButtonNode, true);
        if (row)
            showError(row.querySelector('[data-field="error"]'), "");
        const dialog = $("vdpa-create-dialog");
        call("CreateDevice", "ssa{sv}", [handle, name, options])
                .then(([created]) => {
                    announce(`Created ${created} on ${handle}`);
                    if (dialog.open)
                        dialog.close("created");
                })
                .catch(ex => {
                    const text = errorText(ex);
                    if (dialog.open && createHandle === handle) {
                        showError(errorNode, text);
                    } else {
                        const r = mgmtRow(handle);
                        if (r)
                            showError(r.querySelector('[data-field="error"]'), text);
                    }
                    announce(`Create on ${handle} failed: ${text}`);
                })
                .finally(() => {
                    createPending = false;
                    setBusy(submit, false);
                    setText(submit, "Create");
                    pending.delete(`create:${handle}`);
                    const r = mgmtRow(handle);
                    setBusy(r ? r.querySelector('[data-action="create"]') : null, false);
                });
    }

    /* ---- full load ---------------------------------------------------- */

    function fullLoad() {
        const generation = ++loadGeneration;
        loaded = false;
        showServiceError("");
        const devicesDone = loadDevices(generation)
                .catch(ex => {
                    if (generation !== loadGeneration)
                        return;
                    $("vdpa-devices-loading").hidden = true;
                    showServiceError(`Cannot list the vDPA devices: ${errorText(ex)}`);
                })
                .finally(() => {
                    if (generation === loadGeneration)
                        document.body.setAttribute("data-ready", "true");
                });
        loadProperties(generation)
                .catch(ex => {
                    if (generation === loadGeneration)
                        showError($("vdpa-toolbar-error"), `Reading the service's properties failed: ${errorText(ex)}`);
                });
        loadMgmtdevs().catch(ex => showMgmtError(ex));
        return devicesDone;
    }

    /* ---- wiring ------------------------------------------------------- */

    function setupDarkMode() {
        /* follow the Cockpit shell's style setting (light, dark, auto) */
        const media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
        const apply = style => {
            let s = style;
            try {
                s = s || window.localStorage.getItem("shell:style") || "auto";
            } catch (ex) {
                s = s || "auto";
            }
            const dark = s === "dark" || (s === "auto" && media && media.matches);
            document.documentElement.classList.toggle("vdpa-dark", !!dark);
        };
        window.addEventListener("storage", ev => {
            if (ev.key === "shell:style")
                apply();
        });
        window.addEventListener("cockpit-style", ev => apply(ev.detail && ev.detail.style));
        if (media && media.addEventListener)
            media.addEventListener("change", () => apply());
        apply();
    }

    function wireDialogFocus(dialog, openerGetter) {
        dialog.addEventListener("close", () => {
            const opener = openerGetter();
            if (opener && document.contains(opener))
                opener.focus();
        });
    }

    function init() {
        setupDarkMode();

        const table = $("vdpa-devices");
        table.addEventListener("click", ev => {
            const button = ev.target.closest("button[data-action]");
            const row = ev.target.closest("tr[data-device]");
            if (!row)
                return;
            const name = row.dataset.device;
            if (!button) {
                if (!ev.target.closest("a, input, select, textarea"))
                    openDetails(name, false);
                return;
            }
            switch (button.dataset.action) {
            case "claim":
                openClaim(name, button);
                break;
            case "release":
                doRelease(name);
                break;
            case "xml":
                doXml(name);
                break;
            case "delete":
                doDelete(name);
                break;
            case "details":
                openDetails(name, true);
                break;
            }
        });
        table.addEventListener("keydown", ev => {
            const row = ev.target.closest("tr[data-device]");
            if (!row || ev.target !== row)
                return;
            if (ev.key === "Enter" || ev.key === " ") {
                ev.preventDefault();
                openDetails(row.dataset.device, true);
            } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
                const all = [...table.querySelectorAll("tr[data-device]")];
                const i = all.indexOf(row) + (ev.key === "ArrowDown" ? 1 : -1);
                if (all[i]) {
                    ev.preventDefault();
                    all[i].focus();
                }
            } else if (ev.key === "Home" || ev.key === "End") {
                const all = [...table.querySelectorAll("tr[data-device]")];
                const target = ev.key === "Home" ? all[0] : all[all.length - 1];
                if (target) {
                    ev.preventDefault();
                    target.focus();
                }
            }
        });

        $("vdpa-details-close").addEventListener("click", () => {
            const name = detailsName;
            openDetails(null, false);
            const row = name ? rows.get(name) : null;
            (row || $("vdpa-devices-title")).focus();
        });

        $("vdpa-claim-auto-open").addEventListener("click", ev => {
            showError($("vdpa-toolbar-error"), "");
            openClaim("", ev.currentTarget);
        });
        $("vdpa-claim-auto").addEventListener("change", syncClaimAuto);
        $("vdpa-claim-form").addEventListener("submit", submitClaim);
        $("vdpa-claim-cancel").addEventListener("click", () => $("vdpa-claim-dialog").close("cancel"));
        wireDialogFocus($("vdpa-claim-dialog"), () => claimOpener);

        $("vdpa-xml-copy").addEventListener("click", copyXml);
        $("vdpa-xml-close").addEventListener("click", () => $("vdpa-xml-dialog").close());
        wireDialogFocus($("vdpa-xml-dialog"), () => xmlOpener);

        $("vdpa-mgmtdevs-body").addEventListener("click", ev => {
            const button = ev.target.closest('button[data-action="create"]');
            const row = ev.target.closest("tr[data-mgmtdev]");
            if (button && row)
                openCreate(row.dataset.mgmtdev, button);
        });
        $("vdpa-create-form").addEventListener("submit", submitCreate);
        $("vdpa-create-cancel").addEventListener("click", () => $("vdpa-create-dialog").close("cancel"));
        wireDialogFocus($("vdpa-create-dialog"), () => createOpener);

        $("vdpa-mgmt-refresh").addEventListener("click", () => {
            loadMgmtdevs().catch(ex => showMgmtError(ex));
        });

        /* signals first, then the first load: a change that happens
         * meanwhile is in the Devices() answer or in a later signal */
        client.subscribe({ interface: IFACE, path: PATH }, onManagerSignal);
        client.subscribe({ interface: PROPS_IFACE, path: PATH, member: "PropertiesChanged" }, onPropertiesChanged);

        client.addEventListener("owner", (event, newOwner) => {
            if (!newOwner) {
                if (seenOwner) {
                    announce("The vdpa-manager service stopped");
                    showServiceError("vdpa-managerd is not running: what is shown is as it was. " +
                                     "It is read again when the service is back (it starts on demand).");
                }
                return;
            }
            const previous = seenOwner;
            seenOwner = newOwner;
            /* the service (re)started: its devices and properties are
             * read afresh, once */
            if (previous && previous !== newOwner) {
                announce("The vdpa-manager service restarted");
                fullLoad();
            }
        });
        client.addEventListener("close", (event, options) => {
            const problem = options && options.problem;
            showServiceError(`The connection to org.vdpa.Manager closed${problem ? `: ${errorText({ problem })}` : ""}. Reload the page to reconnect.`);
            document.body.setAttribute("data-ready", "true");
        });

        fullLoad();
    }

    if (document.readyState === "loading")
        document.addEventListener("DOMContentLoaded", init);
    else
        init();
}());
