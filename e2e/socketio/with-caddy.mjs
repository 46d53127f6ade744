// Runs this suite against the built Caddy: starts CADDY_BIN (default ../../caddy) with a site that
// serves Socket.IO with Engine.IO 3 allowed and one with it off, runs `node --test`, stops Caddy.
// The reload test reads RELAY_CADDYFILE and RELAY_ADMIN to reload that Caddy with a changed config.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { caddyfile, secret } from "./caddyfile.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const caddy = process.env.CADDY_BIN ?? path.join(here, "..", "..", "caddy");

async function freePort() {
  const srv = net.createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

const ports = { admin: await freePort(), port: await freePort(), noEio3Port: await freePort() };
const dir = mkdtempSync(path.join(os.tmpdir(), "relay-sio-"));
const file = path.join(dir, "Caddyfile");
writeFileSync(file, caddyfile(ports));

const server = spawn(caddy, ["run", "--config", file, "--adapter", "caddyfile"], { stdio: ["ignore", "ignore", "pipe"] });
let log = "";
server.stderr.on("data", (b) => { log = (log + b).slice(-20000); });
const base = `http://127.0.0.1:${ports.port}`;
for (let i = 0; ; i++) {
  try {
    const res = await fetch(`${base}/relay/health`);
    if (res.ok) break;
  } catch {}
  if (i > 200 || server.exitCode !== null) {
    console.error(`caddy did not start:\n${log}`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 50));
}

const env = {
  ...process.env,
  RELAY_URL: base,
  RELAY_SECRET: secret,
  RELAY_URL_NO_EIO3: `http://127.0.0.1:${ports.noEio3Port}`,
  RELAY_CADDYFILE: file,
  RELAY_ADMIN: String(ports.admin),
  RELAY_NO_EIO3_PORT: String(ports.noEio3Port),
  RELAY_PORT: String(ports.port),
  CADDY_BIN: caddy,
};
const tests = spawn(process.execPath, ["--test", "--test-reporter=spec", "--test-timeout=120000", "test/"], { cwd: here, env, stdio: "inherit" });
const [code] = await once(tests, "exit");
server.kill("SIGTERM");
const [, signal] = await once(server, "exit");
rmSync(dir, { recursive: true, force: true });
if (code !== 0) console.error(`--- caddy's last log lines ---\n${log.slice(-6000)}`);
process.exit(code ?? 1);
