# Screenshot of the dashboard's report as street1 (钢山街道) of a running demo, through the
# Debian chromedriver's WebDriver HTTP API (Python standard library only). Took
# docs/screenshots/demo-report.png:
#   cargo run --release -p gridbook-sync-server -- demo      # on a fresh clone, then:
#   python3 scripts/demo-screenshot.py http://127.0.0.1:8787 docs/screenshots/demo-report.png
import base64, json, subprocess, sys, time, urllib.request

BASE = sys.argv[1]; OUT = sys.argv[2]; PATH = sys.argv[3] if len(sys.argv) > 3 else "/review/reports?period=quarter"
drv = subprocess.Popen(["chromedriver", "--port=9517"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1.5)
W = "http://127.0.0.1:9517"
def call(method, path, body=None):
    req = urllib.request.Request(W + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())["value"]
try:
    s = call("POST", "/session", {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1366,1500", "--lang=zh-CN",
                 "--no-first-run", "--disable-background-networking", "--disable-sync"]}}}})
    sid = s["sessionId"]
    P = f"/session/{sid}"
    call("POST", P + "/url", {"url": BASE + "/"})
    print("root led to", call("GET", P + "/url"))
    find = lambda css: list(call("POST", P + "/element", {"using": "css selector", "value": css}).values())[0]
    call("POST", P + f"/element/{find('#username')}/value", {"text": "street1"})
    call("POST", P + f"/element/{find('#password')}/value", {"text": "demo-street1"})
    call("POST", P + f"/element/{find('#login-submit')}/click", {})
    time.sleep(2)
    call("POST", P + "/url", {"url": BASE + PATH})
    for _ in range(60):
        n = call("POST", P + "/execute/sync", {"script": "return document.body.getAttribute('data-charts')", "args": []})
        if n == "3":
            break
        time.sleep(1)
    print("charts", n)
    kpis = call("POST", P + "/execute/sync", {"script": "return document.getElementById('report-kpis').innerText", "args": []})
    print(kpis)
    png = call("GET", P + "/screenshot")
    open(OUT, "wb").write(base64.b64decode(png))
    call("DELETE", P)
finally:
    drv.terminate()
