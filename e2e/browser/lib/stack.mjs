// A relay stack for one test: the example import backend, a Caddy built with the module in front
// of it (the demo's layout: the relay serves its endpoints, /api/* goes to the backend), and
// optionally a TCP proxy between the browser and Caddy that can cut every connection at once.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../lib/caddy.mjs';
import { caddyBin, canStartRelays, relayURL, repoRoot } from './env.mjs';

const SECRET = 'e2e-webhook-secret';
let backendBin = '';

// buildBackend compiles examples/importbackend once per test process.
function buildBackend() {
  if (!backendBin) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-e2e-bin-'));
    backendBin = path.join(dir, 'importbackend');
    execFileSync('go', ['build', '-o', backendBin, './examples/importbackend'], { cwd: repoRoot, stdio: 'inherit' });
  }
  return backendBin;
}

export { freePort };

// relayBlock is the progress_relay configuration for the options. The transport switches follow
// the Caddyfile syntax of the module (socketio off, websocket off, sse off, poll off).
export function relayBlock({ off = [], broker = '' } = {}) {
  const lines = [
    'webhook /relay/webhook {',
    `\tsecret ${SECRET}`,
    '\tid_field eventId',
    '}'
  ];
  for (const t of off) {
    lines.push(`${t} off`);
  }
  if (broker) {
    lines.push(`broker ${broker}`);
  }
  return lines.map((l) => '\t\t' + l).join('\n');
}

function caddyfile({ port, backendPort, block }) {
  return `{
\tadmin off
\tauto_https off
\tpersist_config off
}

http://:${port} {
\tbind 127.0.0.1
\tprogress_relay {
${block}
\t}
\treverse_proxy /api/* 127.0.0.1:${backendPort}
}
`;
}

// waitFor polls check until it returns a truthy value or the deadline passes.
export async function waitFor(what, check, { timeout = 15000, interval = 50 } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v) {
        return v;
      }
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`${what}: not within ${timeout} ms${last ? ` (last error: ${last.message})` : ''}`);
}

function startProcess(name, bin, args, env) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  const keep = (chunk) => {
    output.push(chunk.toString());
    if (output.length > 400) {
      output.shift();
    }
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.tail = () => `--- last output of ${name} ---\n${output.join('').slice(-4000)}`;
  return child;
}

async function stopProcess(child) {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await once(child, 'exit');
    clearTimeout(timer);
  }
}

// cutProxy forwards 127.0.0.1:<port> to target and can drop every connection on demand.
async function cutProxy(target) {
  const sockets = new Set();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: server.address().port,
    // cut drops every open connection and refuses new ones for holdMs, like a network outage.
    async cut(holdMs) {
      refusing = true;
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise((r) => setTimeout(r, holdMs));
      refusing = false;
    },
    close() {
      for (const s of sockets) {
        s.destroy();
      }
      server.close();
    }
  };
}

// startStack starts a backend and a relay. Options: off (transports to switch off), broker (e.g.
// "redis redis://127.0.0.1:6379"), proxy (put a cut proxy in front), pace (backend default).
export async function startStack(opts = {}) {
  if (relayURL) {
    return { url: relayURL.replace(/\/$/, ''), external: true, async stop() {} };
  }
  const can = canStartRelays();
  if (!can.ok) {
    throw new Error(can.why);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-e2e-'));
  const relayPort = await freePort();
  const backendPort = await freePort();
  const backend = startProcess('importbackend', buildBackend(), [
    '-listen', `127.0.0.1:${backendPort}`,
    '-report', 'webhook',
    '-relay-url', `http://127.0.0.1:${relayPort}/relay/webhook`,
    '-pace', opts.pace || '20ms'
  ], { PROGRESS_RELAY_SECRET: SECRET });

  const config = path.join(dir, 'Caddyfile');
  writeFileSync(config, caddyfile({ port: relayPort, backendPort, block: relayBlock(opts) }));
  const stack = {
    dir,
    relayPort,
    relayURL: `http://127.0.0.1:${relayPort}`,
    url: `http://127.0.0.1:${relayPort}`,
    backend,
    caddy: null,
    proxy: null,
    logs() {
      return [backend.tail(), stack.caddy ? stack.caddy.tail() : ''].join('\n');
    },
    // startRelay starts Caddy and waits until its health endpoint answers.
    async startRelay() {
      stack.caddy = startProcess('caddy', caddyBin, ['run', '--config', config, '--adapter', 'caddyfile'], {
        HOME: dir,
        XDG_DATA_HOME: dir,
        XDG_CONFIG_HOME: dir
      });
      const caddy = stack.caddy;
      await waitFor('the relay answers /relay/health', async () => {
        if (caddy.exitCode !== null) {
          throw new Error(`caddy exited with ${caddy.exitCode}\n${caddy.tail()}`);
        }
        const r = await fetch(stack.relayURL + '/relay/health');
        return r.ok;
      });
    },
    async stopRelay() {
      await stopProcess(stack.caddy);
    },
    async stop() {
      if (stack.proxy) {
        stack.proxy.close();
      }
      await stopProcess(stack.caddy);
      await stopProcess(backend);
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await stack.startRelay();
    if (opts.proxy) {
      stack.proxy = await cutProxy(relayPort);
      stack.url = `http://127.0.0.1:${stack.proxy.port}`;
    }
  } catch (err) {
    const logs = stack.logs();
    await stack.stop();
    err.message += '\n' + logs;
    throw err;
  }
  return stack;
}
