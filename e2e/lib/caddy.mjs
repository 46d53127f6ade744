// What the e2e suites' launchers share: free loopback ports and Caddy processes that are started,
// waited for and stopped together. Node built-ins only, so that every suite can import it.
import { spawn } from "node:child_process";
import { once } from "node:events";
import net from "node:net";

// freePort finds a loopback port that is free now; the caller binds it soon after.
export async function freePort() {
  const srv = net.createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

// Caddys runs Caddy processes from one binary, keeping the tail of each one's log.
export class Caddys {
  constructor(bin) {
    this.bin = bin;
    this.servers = [];
  }

  // start runs Caddy with the Caddyfile at file and resolves once base answers health checks; on
  // failure it stops them all, prints the log and exits.
  async start(name, file, base) {
    const proc = spawn(this.bin, ["run", "--config", file, "--adapter", "caddyfile"], { stdio: ["ignore", "ignore", "pipe"] });
    const server = { name, proc, base, log: "" };
    proc.stderr.on("data", (b) => { server.log = (server.log + b).slice(-20000); });
    this.servers.push(server);
    for (let i = 0; ; i++) {
      try {
        const res = await fetch(`${base}/relay/health`);
        if (res.ok) return server;
      } catch {}
      if (i > 200 || proc.exitCode !== null) {
        console.error(`caddy (${name}) did not start:\n${server.log}`);
        await this.stopAll();
        process.exit(1);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // stopAll ends every Caddy that still runs and waits for it.
  async stopAll() {
    await Promise.all(this.servers.map(async ({ proc }) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      await once(proc, "exit");
    }));
  }

  // printLogs shows the end of each one's log, for a failed run.
  printLogs() {
    for (const { name, log } of this.servers) console.error(`--- ${name}'s last log lines ---\n${log.slice(-6000)}`);
  }
}
