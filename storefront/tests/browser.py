#!/usr/bin/env python3
"""Drives headless Chromium through the storefront like a shopper and an admin would.

Standard library only: Chromium is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: fd 3 in, fd 4 out, messages ended by NUL), so no websocket
client and no PyPI package are needed. Run by storefront/tests/it/browser.rs, which
starts the shop; by hand:

    browser.py --base http://127.0.0.1:PORT --api http://127.0.0.1:PORT2 --out DIR
    (ADMIN_TOKEN in the environment)

    browser.py --base URL --out DIR --shot /carrinho carrinho-indisponivel

    browser.py --base URL --out DIR --painel "confeitaria --config cluster.toml"
    (the dashboard before, during and after a failover: the admin logs in with
    ADMIN_TOKEN, the leader is killed and started again with `node kill/start` of
    the given command, which must reach the `confeitaria up` behind URL)

Exits non-zero, saying which step failed, when the shop does not behave.
"""

import argparse
import base64
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

DESKTOP = {"width": 1280, "height": 820, "deviceScaleFactor": 1, "mobile": False}
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}


class Failed(Exception):
    pass


class Chrome:
    """One headless Chromium with one page, driven over the DevTools pipe."""

    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="sf-chrome-")
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # Keep the child's ends away from 3 and 4 so bash (dash takes no fd above 9) can
        # place them there.
        to_r2 = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10)
        from_w2 = fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
        os.close(to_r)
        os.close(from_w)
        args = [
            binary, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
            "--user-data-dir=" + self.profile, "about:blank",
        ]
        cmd = 'exec "$@" 3<&%d 4>&%d %d<&- %d>&-' % (to_r2, from_w2, to_r2, from_w2)
        self.proc = subprocess.Popen(
            ["bash", "-c", cmd, "bash"] + args,
            pass_fds=(to_r2, from_w2),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_r2)
        os.close(from_w2)
        self.w = to_w
        self.r = from_r
        self.buf = b""
        self.next_id = 0
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed("Chromium did not answer in time")
            import select

            ready, _, _ = select.select([self.r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise Failed("Chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, timeout=20):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise Failed("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})

    def eval(self, expr):
        """The value of a JavaScript expression in the page (None while it navigates)."""
        try:
            r = self.call(
                "Runtime.evaluate", {"expression": expr, "returnByValue": True}
            )
        except Failed:
            return None
        if "exceptionDetails" in r:
            return None
        return r.get("result", {}).get("value")

    def wait(self, expr, what, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.eval("document.readyState === 'complete' && !!(%s)" % expr):
                return
            time.sleep(0.05)
        raise Failed(
            "timed out waiting for %s (at %s)" % (what, self.eval("location.href"))
        )

    def viewport(self, v):
        self.call("Emulation.setDeviceMetricsOverride", v)

    def goto(self, url, ready, what):
        self.call("Page.navigate", {"url": url})
        self.wait(ready, what)

    def click(self, css):
        ok = self.eval(
            "(function(){var e=document.querySelector(%s); if(!e) return false; e.click(); return true;})()"
            % json.dumps(css)
        )
        if not ok:
            raise Failed("nothing to click at %s (on %s)" % (css, self.eval("location.href")))

    def shot(self, path):
        """A full-page PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        width = int(size["width"])
        height = min(int(size["height"]), 4000)
        r = self.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        print("screenshot", path, "%dx%d" % (width, height))

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)
        shutil.rmtree(self.profile, ignore_errors=True)


def set_status(api, order, status, token):
    req = urllib.request.Request(
        "%s/api/pedidos/%s/status" % (api, order),
        data=json.dumps({"status": status}).encode(),
        method="PUT",
        headers={"authorization": "Bearer " + token, "content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 200:
            raise Failed("status change answered %d" % r.status)


def shopper_and_admin(c, base, api, out, token):
    png = lambda name: os.path.join(out, name + ".png")
    step = lambda text: print("--", text, flush=True)

    c.viewport(DESKTOP)
    step("vitrine")
    c.goto(base + "/", "document.querySelectorAll('.grade .cartao').length >= 12", "the vitrine")
    c.shot(png("vitrine"))
    c.goto(base + "/categoria/tortas", "document.querySelector('.chip-ativa')", "a category")
    c.shot(png("categoria"))

    step("product page, add to cart")
    c.goto(base + "/produto/1", "document.querySelector('.form-comprar')", "the product page")
    c.shot(png("produto"))
    c.eval("document.querySelector('.form-comprar input[name=quantidade]').value = '2'")
    c.click(".form-comprar button")
    c.wait("location.pathname === '/carrinho' && document.querySelector(\"tr[data-id='1']\")", "the cart")
    c.goto(base + "/produto/6", "document.querySelector('.form-comprar')", "another product")
    c.click(".form-comprar button")
    c.wait("document.querySelector(\"tr[data-id='6']\")", "the cart with two lines")
    c.shot(png("carrinho"))

    step("checkout")
    c.click("a[href='/finalizar']")
    c.wait("document.querySelector('.form-finalizar')", "the checkout page")
    c.shot(png("finalizar"))
    c.click(".form-finalizar button")
    c.wait(
        "location.pathname.indexOf('/pedidos/') === 0 && "
        "document.querySelector('#status').getAttribute('data-status') === 'confirmado'",
        "the order page saying confirmado",
    )
    order = c.eval("document.getElementById('pedido').getAttribute('data-id')")
    print("order", order, "confirmado")
    c.wait("!document.getElementById('ao-vivo').hidden", "the live stream to open")
    c.shot(png("pedido"))

    step("live status without reload")
    c.eval("window.__sem_recarregar = true")
    set_status(api, order, "pago", token)
    c.wait(
        "window.__sem_recarregar === true && "
        "document.querySelector('#status').getAttribute('data-status') === 'pago' && "
        "document.querySelector(\"#linha-do-tempo li[data-tipo='pago']\")",
        "the order page to show pago by itself",
        timeout=10,
    )
    c.shot(png("pedido-ao-vivo"))

    step("meus pedidos, 404")
    c.goto(base + "/meus-pedidos", "document.querySelector('.pedido-linha')", "my orders")
    c.shot(png("meus-pedidos"))
    c.goto(base + "/nao-existe", "document.querySelector('.erro')", "the 404 page")
    c.shot(png("404"))

    step("phone")
    c.viewport(PHONE)
    c.goto(base + "/", "document.querySelector('.grade .cartao')", "the vitrine on a phone")
    c.shot(png("vitrine-celular"))
    c.goto(base + "/produto/2", "document.querySelector('.form-comprar')", "a product on a phone")
    c.shot(png("produto-celular"))
    c.click(".form-comprar button")
    c.wait("document.querySelector(\"tr[data-id='2']\")", "the cart on a phone")
    c.shot(png("carrinho-celular"))
    c.goto(base + "/pedidos/" + order, "document.querySelector('#status')", "the order on a phone")
    c.shot(png("pedido-celular"))

    step("admin")
    c.viewport(DESKTOP)
    c.goto(base + "/admin/entrar", "document.querySelector('.form-login')", "the admin login")
    c.shot(png("admin-entrar"))
    c.eval("document.querySelector('.form-login textarea').value = %s" % json.dumps(token))
    c.click(".form-login button")
    c.wait("document.querySelector('.admin-produtos')", "the admin product list")
    c.shot(png("admin-produtos"))
    c.goto(base + "/admin/produtos/1", "document.querySelector('.form-produto')", "the product editor")
    c.shot(png("admin-produto"))
    c.goto(base + "/admin/pedidos", "document.querySelector('.form-busca')", "the admin orders")
    c.shot(png("admin-pedidos"))
    c.goto(base + "/admin/pedidos/" + order, "document.querySelector('.transicoes')", "the admin order")
    c.shot(png("admin-pedido"))
    c.click(".transicoes button[data-status='enviado']")
    c.wait(
        "document.querySelector('.pedido').getAttribute('data-status') === 'enviado'",
        "the order moved to enviado",
    )


def painel_failover(c, base, out, token, confeitaria):
    """/painel before a kill, while a node is dead and another leads, and after the restart.

    A background shopper keeps reading through the gateway so the traffic table has rates.
    """
    png = lambda name: os.path.join(out, name + ".png")
    step = lambda text: print("--", text, flush=True)
    stop = threading.Event()

    def shopper():
        i = 0
        while not stop.is_set():
            i += 1
            for path in ("/api/produtos?limit=12", "/api/produtos/%d" % (1 + i % 12)):
                try:
                    urllib.request.urlopen(base + path, timeout=5).read()
                except Exception:
                    pass
            stop.wait(0.05)

    def cli(*args):
        cmd = shlex.split(confeitaria) + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise Failed("%s: %s%s" % (" ".join(cmd), r.stdout, r.stderr))

    leader_js = (
        "(function(){var e=document.querySelector('.no.leader');"
        "return e ? e.getAttribute('data-no') : null;})()"
    )
    readers = [threading.Thread(target=shopper, daemon=True) for _ in range(4)]
    for r in readers:
        r.start()
    try:
        c.viewport(DESKTOP)
        step("admin login on the dashboard")
        c.goto(base + "/painel", "document.getElementById('token')", "the dashboard login")
        c.eval("document.getElementById('token').value = %s" % json.dumps(token))
        c.click("form.login button")
        c.wait(
            "document.querySelectorAll('.no button.matar').length === 3 && "
            "document.querySelector('.no.leader') && "
            "document.querySelectorAll('.no.caido').length === 0 && "
            "document.querySelectorAll('#trafego tr').length >= 5",
            "the dashboard with three live nodes, a leader and the node buttons",
            timeout=30,
        )
        # Let the 5 s traffic window fill.
        c.wait(
            "Array.from(document.querySelectorAll('#trafego tr td.n:nth-child(2)'))"
            ".filter(function(td){return parseFloat(td.textContent) > 0;}).length >= 3",
            "traffic on the catalog nodes",
            timeout=30,
        )
        old = c.eval(leader_js)
        print("leader before", old)
        c.shot(png("painel-antes"))

        step("kill the leader (node %s)" % old)
        cli("node", "kill", old)
        c.wait(
            "document.querySelector(\".no[data-no='%s']\").classList.contains('caido') && "
            "document.querySelector('.no.leader') && "
            "document.querySelector('.no.leader').getAttribute('data-no') !== '%s' && "
            "document.querySelectorAll('#tempo li').length >= 2" % (old, old),
            "the dashboard to show node %s down and a new leader" % old,
            timeout=30,
        )
        new = c.eval(leader_js)
        print("leader during the failover", new)
        # The dead node's breaker opens after three failed probes: wait to show it.
        c.wait(
            "Array.from(document.querySelectorAll(\".no[data-no='%s'] dd.ruim\"))"
            ".map(function(d){return d.textContent;}).join(' ') === 'fora aberto'" % old,
            "the dead node out of service with its breaker open",
            timeout=15,
        )
        c.shot(png("painel-failover"))

        step("start node %s again" % old)
        cli("node", "start", old)
        c.wait(
            "!document.querySelector(\".no[data-no='%s']\").classList.contains('caido') && "
            "document.querySelector(\".no[data-no='%s']\").classList.contains('follower') && "
            "document.querySelectorAll('.no dd.ruim').length === 0" % (old, old),
            "node %s back as a healthy follower" % old,
            timeout=60,
        )
        c.shot(png("painel-depois"))
        print("painel: failover from node", old, "to node", new)
    finally:
        stop.set()
        for r in readers:
            r.join(timeout=10)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--api")
    p.add_argument("--out", required=True)
    p.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"))
    p.add_argument("--shot", nargs=2, metavar=("PATH", "NAME"))
    p.add_argument("--painel", metavar="CONFEITARIA", help="command that reaches `up`")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    binary = shutil.which(a.chromium)
    if not binary:
        print("chromium not found: install the Debian package chromium", file=sys.stderr)
        return 2
    try:
        c = Chrome(binary)
    except Failed as e:
        print("browser: FAILED to start Chromium:", e, file=sys.stderr)
        return 1
    try:
        if a.shot:
            c.viewport(DESKTOP)
            c.goto(a.base + a.shot[0], "document.body", a.shot[0])
            c.shot(os.path.join(a.out, a.shot[1] + ".png"))
        elif a.painel:
            painel_failover(c, a.base, a.out, os.environ.get("ADMIN_TOKEN", ""), a.painel)
        else:
            token = os.environ.get("ADMIN_TOKEN", "")
            shopper_and_admin(c, a.base, a.api, a.out, token)
        print("browser: ok")
        return 0
    except Failed as e:
        print("browser: FAILED:", e, file=sys.stderr)
        try:
            c.shot(os.path.join(a.out, "falha.png"))
        except Exception:
            pass
        return 1
    finally:
        c.close()


if __name__ == "__main__":
    sys.exit(main())
