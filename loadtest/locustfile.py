"""Locust shoppers through the gateway, and a stock check at the end.

Each shopper browses the vitrine and a category, opens products, adds one to three of them
to a new cart, checks out with an `Idempotency-Key`, and reads its order, with 1-3 s of
think time between steps: the issue's shopper, on the gateway's one address.

Before the first shopper starts, every product's available stock is set high (an absolute
`PUT .../estoque {"estoque": n}`, admin) so a two-minute run never sells out, and the
catalog's counters are read. When the run stops, every order the shoppers made is read
until none is `pendente`, and for every product the units the catalog holds since the start
(reserved + sold) must equal the units in confirmed orders (`confirmado`, `pago`,
`enviado`, `entregue`). A mismatch makes locust exit 1.

Configuration (environment):
- `ADMIN_TOKEN` (required): `confeitaria --config cluster.toml token --role admin`;
- `CONFEITARIA_CONFIG` (default `cluster.toml`): its `[gateway] addr` is the default host
  (`--host` wins); 127.0.0.1:8000 without one;
- `LOADTEST_STOCK` (default 1000000): the available stock set on every product.

See loadtest/README.md for the commands.
"""

import json
import os
import random
import threading
import time
import tomllib
import urllib.error
import urllib.request
import uuid

from locust import FastHttpUser, between, events, task

CONFIRMED = {"confirmado", "pago", "enviado", "entregue"}
SETTLED = CONFIRMED | {"rejeitado", "cancelado"}


def gateway_host():
    path = os.environ.get("CONFEITARIA_CONFIG", "cluster.toml")
    try:
        with open(path, "rb") as f:
            addr = tomllib.load(f).get("gateway", {}).get("addr")
    except OSError:
        addr = None
    return "http://" + (addr or "127.0.0.1:8000")


class Shop:
    """State shared by every shopper of this process: product ids and the orders made."""

    def __init__(self):
        self.lock = threading.Lock()
        self.products = []
        self.categories = []
        self.baseline = {}
        # order id -> session id
        self.orders = {}
        self.unknown_checkouts = 0


SHOP = Shop()


def admin_headers():
    token = os.environ.get("ADMIN_TOKEN", "")
    return {"authorization": "Bearer " + token, "content-type": "application/json"}


def call(host, method, path, body=None, tries=10):
    """An admin call outside the shoppers' statistics; repeated on 503 (no leader yet)."""
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(tries):
        req = urllib.request.Request(host + path, data=data, method=method, headers=admin_headers())
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                text = r.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            if e.code != 503 or attempt == tries - 1:
                raise RuntimeError("%s %s answered %s: %s" % (method, path, e.code, e.read()[:200]))
        time.sleep(0.5)


def counters(host, doce_id):
    e = call(host, "GET", "/api/produtos/%d/estoque" % doce_id)
    return e["reservado"] + e["vendido"]


@events.test_start.add_listener
def prepare(environment, **_):
    """Stock on every product, and the counters the check starts from."""
    if not os.environ.get("ADMIN_TOKEN"):
        raise RuntimeError("ADMIN_TOKEN is not set: confeitaria token --role admin")
    host = environment.host or Shopper.host
    stock = int(os.environ.get("LOADTEST_STOCK", "1000000"))
    produtos = call(host, "GET", "/api/produtos?limit=100")
    produtos = produtos["produtos"]
    SHOP.products = [p["id"] for p in produtos if p.get("ativo", True)]
    SHOP.categories = sorted({p["categoria"] for p in produtos})
    for doce_id in SHOP.products:
        call(host, "PUT", "/api/produtos/%d/estoque" % doce_id, {"estoque": stock})
        SHOP.baseline[doce_id] = counters(host, doce_id)
    print("loadtest: %d products, stock set to %d each" % (len(SHOP.products), stock), flush=True)


@events.test_stop.add_listener
def stock_check(environment, **_):
    """Units the catalog holds since the start == units in confirmed orders."""
    host = environment.host or Shopper.host
    with SHOP.lock:
        orders = dict(SHOP.orders)
    status = {}
    items = {}
    deadline = time.monotonic() + 60
    pending = list(orders)
    while pending and time.monotonic() < deadline:
        left = []
        for oid in pending:
            p = call(host, "GET", "/api/pedidos/%s" % oid)
            status[oid] = p["status"]
            items[oid] = p["itens"]
            if p["status"] not in SETTLED:
                left.append(oid)
        pending = left
        if pending:
            time.sleep(1)
    confirmed = {d: 0 for d in SHOP.products}
    by_status = {}
    for oid, st in status.items():
        by_status[st] = by_status.get(st, 0) + 1
        if st in CONFIRMED:
            for it in items[oid]:
                confirmed[it["doce_id"]] = confirmed.get(it["doce_id"], 0) + it["quantidade"]
    held = {d: counters(host, d) - SHOP.baseline.get(d, 0) for d in SHOP.products}
    wrong = {d: (held[d], confirmed.get(d, 0)) for d in held if held[d] != confirmed.get(d, 0)}
    print(
        "stock check: %d orders %s, %d checkouts without an answer; "
        "units held by the catalog %d, units in confirmed orders %d"
        % (
            len(orders),
            json.dumps(by_status, sort_keys=True),
            SHOP.unknown_checkouts,
            sum(held.values()),
            sum(confirmed.values()),
        ),
        flush=True,
    )
    if pending:
        print("stock check: FAILED, %d orders still pending" % len(pending), flush=True)
        environment.process_exit_code = 1
    elif wrong:
        print("stock check: FAILED (product: held, confirmed) %s" % wrong, flush=True)
        environment.process_exit_code = 1
    else:
        print("stock check: OK", flush=True)


class Shopper(FastHttpUser):
    """One shopper: browse, pick, buy, look at the order; then again, as a new visitor."""

    host = gateway_host()
    wait_time = between(1, 3)

    def on_start(self):
        self.session = None
        self.order = None

    def get(self, path, name, headers=None):
        with self.client.get(path, name=name, headers=headers, catch_response=True) as r:
            if r.status_code != 200:
                r.failure("%s %s" % (r.status_code, r.text[:200]))
                return None
            return r.json()

    @task(4)
    def browse(self):
        offset = random.choice([0, 0, 8, 16])
        self.get("/api/produtos?limit=8&offset=%d" % offset, "/api/produtos")
        if SHOP.categories and random.random() < 0.5:
            cat = random.choice(SHOP.categories)
            self.get("/api/produtos/categoria/%s" % cat, "/api/produtos/categoria/{c}")

    @task(4)
    def look_and_add(self):
        if not SHOP.products:
            return
        doce_id = random.choice(SHOP.products)
        if self.get("/api/produtos/%d" % doce_id, "/api/produtos/{id}") is None:
            return
        headers = {"content-type": "application/json"}
        if self.session:
            headers["x-session-id"] = self.session
        body = json.dumps({"doce_id": doce_id, "quantidade": random.randint(1, 2)})
        with self.client.post(
            "/api/carrinho/adicionar",
            data=body,
            headers=headers,
            name="/api/carrinho/adicionar",
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure("%s %s" % (r.status_code, r.text[:200]))
                return
            self.session = r.json()["session_id"]

    @task(2)
    def checkout(self):
        if not self.session:
            return
        self.get("/api/carrinho/%s" % self.session, "/api/carrinho/{sessao}")
        key = uuid.uuid4().hex
        headers = {"content-type": "application/json", "idempotency-key": key}
        body = json.dumps({"session_id": self.session})
        pedido = None
        # A checkout whose answer is lost is sent again with the same key, as the
        # storefront's form does: one order either way.
        for _ in range(3):
            with self.client.post(
                "/api/pedidos", data=body, headers=headers, name="/api/pedidos", catch_response=True
            ) as r:
                if r.status_code in (200, 201):
                    pedido = r.json()
                    break
                r.failure("%s %s" % (r.status_code, r.text[:200]))
                if r.status_code not in (0, 502, 503, 504):
                    break
        if pedido is None:
            with SHOP.lock:
                SHOP.unknown_checkouts += 1
            self.session = None
            return
        with SHOP.lock:
            SHOP.orders[pedido["id"]] = self.session
        self.order = pedido["id"]
        self.session = None

    @task(2)
    def read_order(self):
        if self.order:
            self.get(
                "/api/pedidos/%s" % self.order,
                "/api/pedidos/{id}",
                headers={"x-session-id": SHOP.orders.get(self.order, "")},
            )
