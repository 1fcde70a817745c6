"""Each browser test gets its own platform: a fresh `baedal up` (embedded broker, SQLite, demo
data) on free ports, and Debian's Chromium driven by Playwright. Screenshots go to
$BROWSER_SHOTS (default target/browser-screenshots)."""
import json, os, random, shutil, socket, subprocess, tempfile, time, urllib.request

import pytest
from playwright.sync_api import sync_playwright

BAEDAL = os.environ["PLATFORM_BINARY"]
SHOTS = os.environ.get("BROWSER_SHOTS", "target/browser-screenshots")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVICES = ["order", "payment", "store", "delivery", "notification", "customer", "review"]


_handed_out = set()


def free_port():
    """A port nobody listens on, below Linux's ephemeral range (32768 and up): there the kernel
    never gives it to an outgoing connection (Chromium's, the broker's) before `up` binds it, as
    it did to a port-0 pick. Each port is handed out once per run."""
    while True:
        port = random.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


class Platform:
    def __init__(self, url):
        self.url = url

    def call(self, method, path, body=None, token=None):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                text = response.read()
                return response.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def token(self, user):
        status, body = self.call("POST", "/auth/login", {"username": user, "password": "demo1234"})
        assert status == 200, body
        return body["token"], body["subjectId"]

    def store_of(self, owner):
        token, subject = self.token(owner)
        _, stores = self.call("GET", "/stores", token=token)
        store = next(s for s in stores if s["ownerId"] == subject)
        _, detail = self.call("GET", f"/stores/{store['storeId']}", token=token)
        return detail

    def cook(self, order_id, store_id, owner="owner1", minutes=10):
        """The owner accepts (once the store has the order: it arrives through the event log),
        starts and finishes cooking."""
        token, _ = self.token(owner)
        path = f"/stores/{store_id}/orders/{order_id}"
        deadline = time.time() + 30
        while True:
            status, answer = self.call("POST", f"{path}/accept", {"cookMinutes": minutes}, token)
            if status != 404 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert status == 200, answer
        for step in ["cook-start", "cook-finish"]:
            status, answer = self.call("POST", f"{path}/{step}", None, token)
            assert status == 200, answer

    def waiting_delivery(self, order_id, rider_token):
        """The id of the delivery opened for `order_id`, once riders near the store see it."""
        deadline = time.time() + 20
        while time.time() < deadline:
            _, found = self.call("GET", "/deliveries/available?lat=37.4979&lng=127.0276&radiusKm=5", token=rider_token)
            for delivery in found:
                if delivery["orderId"] == order_id:
                    return delivery["deliveryId"]
            time.sleep(0.2)
        raise AssertionError(f"no delivery opened for {order_id}")

    def place_order(self, customer="customer1", owner="owner1", card="tok_visa"):
        token, _ = self.token(customer)
        store = self.store_of(owner)
        food = next(f for f in store["foods"] if not f["soldOut"])
        body = {"storeId": store["storeId"], "items": [{"foodId": food["foodId"], "quantity": 1}],
                "deliveryAddress": {"text": "서울 강남구 테헤란로 1", "lat": 37.501, "lng": 127.036},
                "payment": {"method": "card", "cardToken": card}}
        deadline = time.time() + 30
        while True:  # the order service's menu replica learns the store shortly after start
            status, placed = self.call("POST", "/orders", body, token)
            if status == 201 or time.time() > deadline:
                break
            time.sleep(0.3)
        assert status == 201, placed
        return placed["orderId"], store


@pytest.fixture
def platform():
    data = tempfile.mkdtemp(prefix="baedal-browser-")
    gateway = free_port()
    env = dict(os.environ, RUST_LOG="warn",
               BAEDAL_GATEWAY__BIND=f"127.0.0.1:{gateway}",
               BAEDAL_METRICS__BIND=f"127.0.0.1:{free_port()}",
               BAEDAL_KAFKA__BROKERS=f"127.0.0.1:{free_port()}",
               BAEDAL_GATEWAY__RATE_LIMIT__PER_SECOND="0",
               BAEDAL_GATEWAY__RATE_LIMIT__LOGINS_PER_MINUTE="0")
    for service in SERVICES:
        port = free_port()
        env[f"BAEDAL_SERVICES__{service.upper()}__BIND"] = f"127.0.0.1:{port}"
        env[f"BAEDAL_SERVICES__{service.upper()}__URL"] = f"http://127.0.0.1:{port}"
    log = open(os.path.join(data, "up.log"), "w")
    up = subprocess.Popen([BAEDAL, "up", "--data-dir", os.path.join(data, "data")], env=env,
                          stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{gateway}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if up.poll() is not None or time.time() > deadline:
            log.close()
            raise RuntimeError("baedal up did not start:\n" + open(os.path.join(data, "up.log")).read()[-3000:])
        time.sleep(0.5)
    try:
        yield Platform(url)
    finally:
        up.terminate()
        try:
            up.wait(timeout=20)
        except subprocess.TimeoutExpired:
            up.kill()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class App:
    """One signed-in browser tab on the app."""

    def __init__(self, browser, platform, user, width=1100):
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(platform.url + "/app")
        self.page.get_by_label("아이디 Username").fill(user)
        self.page.get_by_label("비밀번호 Password").fill("demo1234")
        self.page.get_by_role("button", name="로그인 Log in").click()
        self.page.get_by_role("button", name="로그아웃 Log out").wait_for()

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        self.page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)

    def close(self):
        assert not self.errors, self.errors
        self.context.close()


@pytest.fixture
def app(browser, platform):
    opened = []

    def open_app(user, width=1100):
        tab = App(browser, platform, user, width)
        opened.append(tab)
        return tab

    yield open_app
    for tab in opened:
        tab.close()
