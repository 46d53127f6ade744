// Runs this suite against the built Caddy: starts the Express backend (backend.js) on a free port and
// two Caddys in front of it, CADDY_BIN (default ../../caddy), one pulling the backend's SSE
// (upstream_sse) and one teeing it as reverse_proxy passes it on (tee_sse); runs `node --test`; stops
// them all. Two processes rather than two sites of one: sites of one Caddy share the relay's sessions.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createBackend } from "./backend.js";

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

const backend = createBackend().listen(0, "127.0.0.1");
await once(backend, "listening");
const backendAddr = `127.0.0.1:${backend.address().port}`;

const sites = {
  pull: `progress_relay {
		upstream_sse http://${backendAddr}/api/import/progress/{session} {
			idle 5s
		}
	}`,
  tee: `progress_relay {
		tee_sse /api/import/progress/{session}
		subscribe /relay/progress/{session}
	}`,
};

const dir = mkdtempSync(path.join(os.tmpdir(), "relay-sse-"));
const servers = {};
for (const [mode, relay] of Object.entries(sites)) {
  const port = await freePort();
  const file = path.join(dir, `Caddyfile.${mode}`);
  writeFileSync(file, `{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:${port} {
	${relay}
	reverse_proxy /api/* ${backendAddr}
}
`);
  const proc = spawn(caddy, ["run", "--config", file, "--adapter", "caddyfile"], { stdio: ["ignore", "ignore", "pipe"] });
  const server = { proc, base: `http://127.0.0.1:${port}`, log: "" };
  proc.stderr.on("data", (b) => { server.log = (server.log + b).slice(-20000); });
  servers[mode] = server;
}

async function stopAll() {
  await Promise.all(Object.values(servers).map(async ({ proc }) => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      await once(proc, "exit");
    }
  }));
  backend.closeAllConnections();
  backend.close();
  rmSync(dir, { recursive: true, force: true });
}

for (const [mode, server] of Object.entries(servers)) {
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${server.base}/relay/health`);
      if (res.ok) break;
    } catch {}
    if (i > 200 || server.proc.exitCode !== null) {
      console.error(`caddy (${mode}) did not start:\n${server.log}`);
      await stopAll();
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const env = {
  ...process.env,
  RELAY_PULL_URL: servers.pull.base,
  RELAY_TEE_URL: servers.tee.base,
  BACKEND_URL: `http://${backendAddr}`,
};
const tests = spawn(process.execPath, ["--test", "--test-reporter=spec", "--test-timeout=120000", "--test-concurrency=1", "test/"],
  { cwd: here, env, stdio: "inherit" });
const [code] = await once(tests, "exit");
await stopAll();
if (code !== 0) {
  for (const [mode, { log }] of Object.entries(servers)) {
    console.error(`--- caddy (${mode}): last log lines ---\n${log.slice(-6000)}`);
  }
}
process.exit(code ?? 1);
