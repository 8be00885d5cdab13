#!/usr/bin/env python3
"""chromium.py - load a local HTML file in a real headless Chromium and
report what happened, through the DevTools protocol over a pipe
(--remote-debugging-pipe: no port, no external module).

usage: chromium.py CHROMIUM FILE.html OUT.json SHOT.png [WIDTH [HEIGHT]]

Starts CHROMIUM headless with a fresh profile in a temporary directory,
every background service off, opens FILE.html, waits for its load event
(30 s at most), then writes OUT.json:
  requests  every request the page made other than FILE.html itself
            (Network.requestWillBeSent, any scheme)
  console   every console message, log entry (CSP violations are
            errors there) and uncaught exception, as "level: text"
  errors    those of level error (or exceptions)
  charts    every SVG shape with data-value: [chart, x, series, value]
  tables    every table cell with data-value: [table, x, series, value]
  ports     the rows of table#ports-data: {column: text}
and a PNG screenshot of the whole page (WIDTH CSS pixels wide, default
900; only the top HEIGHT pixels if given) to SHOT.png. Exit status: 0 if the page loaded with no request and
no console error, 1 if it did not, 2 on a usage or browser failure.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

EXTRACT = r"""
(() => {
  const attr = (e, n) => e.getAttribute(n);
  const charts = [...document.querySelectorAll('svg[data-chart] [data-value]')]
    .map(e => [attr(e.closest('svg'), 'data-chart'), attr(e, 'data-x'),
               attr(e, 'data-series') || '', attr(e, 'data-value')]);
  const tables = [...document.querySelectorAll('table[data-table] td[data-value]')]
    .map(e => [attr(e.closest('table'), 'data-table'), attr(e, 'data-x'),
               attr(e, 'data-series') || '', attr(e, 'data-value')]);
  const ports = [...document.querySelectorAll('#ports-data tbody tr')]
    .filter(r => r.querySelector('[data-col]'))
    .map(r => Object.fromEntries([...r.querySelectorAll('[data-col]')]
      .map(c => [attr(c, 'data-col'), c.textContent])));
  return JSON.stringify({charts, tables, ports});
})()
"""


class Browser:
    def __init__(self, exe, profile, log):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def fds():
            # Via fresh copies: a pipe end may already be 3 or 4, and
            # dup2 onto itself would leave it close-on-exec.
            r, w = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [exe, '--headless', '--no-sandbox', '--disable-gpu',
                '--disable-background-networking',
                '--disable-component-update', '--disable-sync',
                '--no-first-run', '--no-default-browser-check',
                '--disable-extensions', '--disable-default-apps',
                '--mute-audio', '--hide-scrollbars',
                '--user-data-dir=' + profile, '--remote-debugging-pipe',
                'about:blank']
        # close_fds would close 3 and 4 after preexec_fn made them.
        self.proc = subprocess.Popen(args, close_fds=False, preexec_fn=fds, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(log, 'w'))
        os.close(to_child_r)
        os.close(from_child_w)
        self.buf = b''
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {'id': self.next_id, 'method': method, 'params': params or {}}
        if session:
            msg['sessionId'] = session
        os.write(self.to_child, json.dumps(msg).encode() + b'\0')
        return self.wait(lambda m: m.get('id') == self.next_id)

    def read(self, deadline):
        while b'\0' not in self.buf:
            if time.time() > deadline:
                raise TimeoutError('no answer from Chromium')
            chunk = os.read(self.from_child, 65536)
            if not chunk:
                raise EOFError('Chromium closed the pipe')
            self.buf += chunk
        msg, self.buf = self.buf.split(b'\0', 1)
        return json.loads(msg)

    def wait(self, pred, timeout=30):
        deadline = time.time() + timeout
        for i, m in enumerate(self.events):
            if pred(m):
                return self.events.pop(i)
        while True:
            m = self.read(deadline)
            if pred(m):
                if 'error' in m:
                    raise RuntimeError(json.dumps(m['error']))
                return m
            self.events.append(m)

    def close(self):
        try:
            os.write(self.to_child, json.dumps(
                {'id': 0, 'method': 'Browser.close'}).encode() + b'\0')
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def main():
    if len(sys.argv) not in (5, 6, 7):
        sys.exit(__doc__)
    exe, page, out, shot = sys.argv[1:5]
    width = int(sys.argv[5]) if len(sys.argv) >= 6 else 900
    height = int(sys.argv[6]) if len(sys.argv) == 7 else None
    url = 'file://' + os.path.abspath(page)
    tmp = tempfile.mkdtemp(prefix='chromium-test.')
    log = os.path.join(tmp, 'chromium.log')
    b = Browser(exe, os.path.join(tmp, 'profile'), log)
    try:
        t = b.send('Target.createTarget', {'url': 'about:blank'})
        tid = t['result']['targetId']
        s = b.send('Target.attachToTarget', {'targetId': tid, 'flatten': True})
        sid = s['result']['sessionId']
        for m in ('Runtime.enable', 'Log.enable', 'Network.enable', 'Page.enable'):
            b.send(m, session=sid)
        b.send('Emulation.setDeviceMetricsOverride',
               {'width': width, 'height': 800, 'deviceScaleFactor': 1,
                'mobile': False}, session=sid)
        b.send('Page.navigate', {'url': url}, session=sid)
        b.wait(lambda m: m.get('method') == 'Page.loadEventFired' and
               m.get('sessionId') == sid)
        ev = b.send('Runtime.evaluate', {'expression': EXTRACT,
                                         'returnByValue': True}, session=sid)
        data = json.loads(ev['result']['result']['value'])
        lm = b.send('Page.getLayoutMetrics', session=sid)['result']
        size = lm.get('cssContentSize') or lm['contentSize']
        png = b.send('Page.captureScreenshot', {
            'format': 'png', 'captureBeyondViewport': True,
            'clip': {'x': 0, 'y': 0, 'width': width,
                     'height': min(size['height'], height or size['height']),
                     'scale': 1}}, session=sid)
        with open(shot, 'wb') as f:
            f.write(base64.b64decode(png['result']['data']))
        # Anything still queued (a late request, a console message).
        time.sleep(0.5)
        b.send('Runtime.evaluate', {'expression': '1'}, session=sid)
    except Exception as e:  # the browser failed: not the page's fault
        print('chromium.py: %s: %s' % (type(e).__name__, e), file=sys.stderr)
        with open(log) as f:
            sys.stderr.write(f.read()[-3000:])
        b.close()
        shutil.rmtree(tmp, ignore_errors=True)
        return 2
    b.close()
    shutil.rmtree(tmp, ignore_errors=True)

    requests, console, errors = [], [], []
    for m in b.events:
        p, meth = m.get('params', {}), m.get('method', '')
        if meth == 'Network.requestWillBeSent':
            if p['request']['url'] != url:
                requests.append(p['request']['url'])
        elif meth == 'Runtime.consoleAPICalled':
            text = ' '.join(str(a.get('value', a.get('description', '')))
                            for a in p.get('args', []))
            console.append('%s: %s' % (p.get('type'), text))
            if p.get('type') in ('error', 'assert'):
                errors.append(console[-1])
        elif meth == 'Log.entryAdded':
            e = p['entry']
            console.append('%s: %s %s' % (e['level'], e.get('text', ''),
                                          e.get('url', '')))
            if e['level'] == 'error':
                errors.append(console[-1])
        elif meth == 'Runtime.exceptionThrown':
            d = p['exceptionDetails']
            console.append('exception: %s' % d.get('text'))
            errors.append(console[-1])
    data.update(requests=requests, console=console, errors=errors)
    with open(out, 'w') as f:
        json.dump(data, f, indent=1)
    return 1 if requests or errors else 0


if __name__ == '__main__':
    sys.exit(main())
