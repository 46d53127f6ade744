// Runs this suite against the built Caddy: starts the Express backend (backend.js) on a free port and
// two Caddys in front of it, CADDY_BIN (default ../../caddy), one pulling the backend's SSE
// (upstream_sse) and one teeing it as reverse_proxy passes it on (tee_sse); runs `node --test`; stops
// them all. Two processes rather than two sites of one: sites of one Caddy share the relay's sessions.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Caddys, freePort } from "../lib/caddy.mjs";
import { createBackend } from "./backend.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const caddy = process.env.CADDY_BIN ?? path.join(here, "..", "..", "caddy");

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
const caddys = new Caddys(caddy);

async function stopAll() {
  await caddys.stopAll();
  backend.closeAllConnections();
  backend.close();
  rmSync(dir, { recursive: true, force: true });
}

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
  servers[mode] = await caddys.start(mode, file, `http://127.0.0.1:${port}`);
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
if (code !== 0) caddys.printLogs();
await stopAll();
process.exit(code ?? 1);
