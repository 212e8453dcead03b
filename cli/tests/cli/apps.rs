//! The apps the tests run: a Python subscriber and publisher, and the interpreter to run them.

use std::process::Command;

/// The Python interpreter itself (a pyenv shim would need the real $HOME).
pub fn python() -> String {
    let out = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().expect("python3 on PATH");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A subscriber app: prints its environment, serves `/dapr/subscribe` and prints every event.
pub const SUBSCRIBER: &str = r#"
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer
e = os.environ
print(f"env APP_ID={e['APP_ID']} APP_PORT={e.get('APP_PORT')} PROTOCOL={e['APP_PROTOCOL']} HTTP={e['DAPR_HTTP_PORT']} GRPC={e['DAPR_GRPC_PORT']} SHARED={e.get('SHARED')} OWN={e.get('OWN')} CWD={os.getcwd()}", flush=True)
class App(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def reply(self, status, body):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/dapr/subscribe":
            self.reply(200, json.dumps([{"pubsubname": "pubsub", "topic": "orders", "route": "/orders"}]).encode())
        else:
            self.reply(404, b"")
    def do_POST(self):
        ce = json.loads(self.rfile.read(int(self.headers["content-length"])))
        print(f"received {json.dumps(ce['data'], sort_keys=True)} from {ce['source']} type {ce['type']} id {ce['id']}", flush=True)
        self.reply(200, b'{"status":"SUCCESS"}')
HTTPServer(("127.0.0.1", int(e["APP_PORT"])), App).serve_forever()
"#;

/// A publisher app: prints its environment, publishes three orders through its sidecar, exits.
pub const PUBLISHER: &str = r#"
import json, os, urllib.request
e = os.environ
print(f"env APP_ID={e['APP_ID']} APP_PORT={e.get('APP_PORT')} SHARED={e.get('SHARED')} OWN={e.get('OWN')} CWD={os.getcwd()}", flush=True)
for n in (1, 2, 3):
    req = urllib.request.Request(f"http://127.0.0.1:{e['DAPR_HTTP_PORT']}/v1.0/publish/pubsub/orders",
        data=json.dumps({"orderId": n}).encode(), headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
    print(f"published {n}", flush=True)
"#;
