// Runs this suite against the built Caddy: starts CADDY_BIN (default ../../caddy) with a site that
// serves Socket.IO with Engine.IO 3 allowed and one with it off, runs `node --test`, stops Caddy.
// The reload test reads RELAY_CADDYFILE and RELAY_ADMIN to reload that Caddy with a changed config.
//
// When Redis answers at 127.0.0.1:6379 (redis-cli ping), it also starts a two-node fleet for the
// cluster test: two more Caddy processes on the Redis broker under a prefix of this run's own,
// passed as RELAY_CLUSTER_A and RELAY_CLUSTER_B; the prefix's keys are deleted at the end.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Caddys, freePort } from "../lib/caddy.mjs";
import { caddyfile, clusterCaddyfile, secret } from "./caddyfile.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const caddy = process.env.CADDY_BIN ?? path.join(here, "..", "..", "caddy");
const redisHost = ["-h", "127.0.0.1", "-p", "6379"];

const dir = mkdtempSync(path.join(os.tmpdir(), "relay-sio-"));
const caddys = new Caddys(caddy);

// startCaddy writes config to file and starts Caddy with it, serving base.
async function startCaddy(name, file, config, base) {
  writeFileSync(file, config);
  return caddys.start(name, file, base);
}

function redisAnswers() {
  try {
    return execFileSync("redis-cli", [...redisHost, "ping"], { encoding: "utf8", timeout: 5000 }).trim() === "PONG";
  } catch {
    return false;
  }
}

// deleteKeys removes every key under prefix, once the nodes that wrote them have stopped.
function deleteKeys(prefix) {
  const keys = execFileSync("redis-cli", [...redisHost, "--scan", "--pattern", `${prefix}*`], { encoding: "utf8" })
    .split("\n").filter(Boolean);
  for (let i = 0; i < keys.length; i += 500) {
    execFileSync("redis-cli", [...redisHost, "unlink", ...keys.slice(i, i + 500)]);
  }
}

const ports = { admin: await freePort(), port: await freePort(), noEio3Port: await freePort() };
const file = path.join(dir, "Caddyfile");
const base = `http://127.0.0.1:${ports.port}`;
await startCaddy("relay", file, caddyfile(ports), base);

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

let clusterPrefix = "";
if (redisAnswers()) {
  clusterPrefix = `relaytest:e2e:${randomBytes(6).toString("hex")}:`;
  for (const name of ["A", "B"]) {
    const port = await freePort();
    const nodeBase = `http://127.0.0.1:${port}`;
    const config = clusterCaddyfile({ port, redis: "redis://127.0.0.1:6379/0", prefix: clusterPrefix });
    await startCaddy(`cluster node ${name}`, path.join(dir, `Caddyfile.${name}`), config, nodeBase);
    env[`RELAY_CLUSTER_${name}`] = nodeBase;
  }
} else {
  console.error("note: no Redis at 127.0.0.1:6379, so the cluster test is skipped");
}

const tests = spawn(process.execPath, ["--test", "--test-reporter=spec", "--test-timeout=120000", "test/"], { cwd: here, env, stdio: "inherit" });
const [code] = await once(tests, "exit");
await caddys.stopAll();
if (clusterPrefix) deleteKeys(clusterPrefix);
rmSync(dir, { recursive: true, force: true });
if (code !== 0) caddys.printLogs();
process.exit(code ?? 1);
