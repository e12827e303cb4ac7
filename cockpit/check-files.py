#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks of the Cockpit package (cockpit/) before it is installed.

  check-files.py DIR

manifest.json is valid JSON with the keys Cockpit reads for a page
("menu" or "tools" with an "index" entry that has a "label"; "requires"
names a cockpit version when present).  index.html references only
relative resources: no http://, https:// or protocol-relative URL in a
src= or href= (and none in the HTML at all, outside comments), every local
reference exists in DIR or is ../base1/cockpit.js, and the scripts and the
stylesheet fetch nothing either (no absolute URL, no @import, no url()
outside data:).  The DOM hooks the browser tests rely on are present.
"""

import html.parser
import json
import os
import re
import sys

failures = []


def fail(msg):
    failures.append(msg)


class Refs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs = []
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ('src', 'href', 'action', 'formaction', 'poster', 'data') and value is not None:
                self.refs.append((tag, name, value))
            if name == 'id':
                self.ids.add(value)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]

    # manifest.json
    try:
        with open(os.path.join(root, 'manifest.json'), encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        fail('manifest.json: not valid JSON: %s' % e)
        manifest = None
    if manifest is not None:
        if not isinstance(manifest, dict):
            fail('manifest.json: not a JSON object')
        else:
            sections = [k for k in ('menu', 'tools') if k in manifest]
            if not sections:
                fail('manifest.json: neither "menu" nor "tools"')
            for k in sections:
                entry = manifest[k].get('index') if isinstance(manifest[k], dict) else None
                if not isinstance(entry, dict):
                    fail('manifest.json: %s has no "index" entry' % k)
                elif not isinstance(entry.get('label'), str) or not entry['label']:
                    fail('manifest.json: %s.index has no "label"' % k)
            req = manifest.get('requires')
            if req is not None and not (isinstance(req, dict) and isinstance(req.get('cockpit'), str)):
                fail('manifest.json: "requires" must name a cockpit version as a string')
            if manifest.get('name', 'vdpa') != 'vdpa':
                fail('manifest.json: "name" is %r, the package is vdpa' % manifest['name'])

    # index.html
    path = os.path.join(root, 'index.html')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    parser = Refs()
    parser.feed(text)
    absolute = re.compile(r'^\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)')
    for tag, attr, value in parser.refs:
        if absolute.match(value):
            fail('index.html: <%s %s="%s"> is not a relative reference' % (tag, attr, value))
            continue
        local = value.split('#')[0].split('?')[0]
        if not local:
            continue
        if local == '../base1/cockpit.js':
            continue
        if local.startswith('../') or local.startswith('/'):
            fail('index.html: <%s %s="%s"> points outside the package' % (tag, attr, value))
        elif not os.path.exists(os.path.join(root, local)):
            fail('index.html: <%s %s="%s">: no such file in the package' % (tag, attr, value))
    if '../base1/cockpit.js' not in [v for _, _, v in parser.refs]:
        fail('index.html: does not load ../base1/cockpit.js')
    body = re.sub(r'<!--.*?-->', '', text, flags=re.S)
    for m in re.finditer(r'(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}', body):
        fail('index.html: absolute URL %s' % m.group(0))
    if re.search(r'<script(?![^>]*\bsrc=)[^>]*>', body):
        fail('index.html: inline <script> (Cockpit\'s Content-Security-Policy forbids it)')
    if re.search(r'\sstyle=', body) or re.search(r'\son[a-z]+=', body):
        fail('index.html: inline style= or on*= handler (Content-Security-Policy)')

    for hook in ('vdpa-status', 'vdpa-devices', 'vdpa-details', 'vdpa-mgmtdevs',
                 'vdpa-claim-dialog', 'vdpa-claim-domain', 'vdpa-claim-auto',
                 'vdpa-claim-numa-policy', 'vdpa-claim-submit', 'vdpa-claim-cancel',
                 'vdpa-claim-error', 'vdpa-xml-dialog', 'vdpa-xml-text', 'vdpa-xml-copy',
                 'vdpa-xml-close', 'vdpa-create-dialog', 'vdpa-create-name', 'vdpa-create-mac',
                 'vdpa-create-mtu', 'vdpa-create-max-qp', 'vdpa-create-submit',
                 'vdpa-create-cancel', 'vdpa-create-error'):
        if hook not in parser.ids:
            fail('index.html: no element with id %s' % hook)

    # scripts and stylesheet fetch nothing by themselves
    for name in ('vdpa.js', 'vdpa.css'):
        with open(os.path.join(root, name), encoding='utf-8') as f:
            src = f.read()
        for m in re.finditer(r'(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}', src):
            fail('%s: absolute URL %s' % (name, m.group(0)))
        if name.endswith('.css'):
            if '@import' in src:
                fail('vdpa.css: @import')
            for m in re.finditer(r'url\(\s*([^)]*)\)', src):
                if not m.group(1).strip('\'" ').startswith('data:'):
                    fail('vdpa.css: url(%s) fetches a resource' % m.group(1))
        if name.endswith('.js') and re.search(r'\b(?:fetch|XMLHttpRequest|importScripts)\s*\(', src):
            fail('vdpa.js: fetches something itself')

    for msg in failures:
        print('FAIL: ' + msg)
    if not failures:
        print('ok: manifest.json, index.html, vdpa.js, vdpa.css')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
