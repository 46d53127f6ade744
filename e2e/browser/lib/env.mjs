// Where things are. Every value can be overridden from the environment, which is how CI and a
// developer point the tests at their own builds.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// A Caddy built with the module (./xcaddy.sh writes ./caddy at the repository root).
export const caddyBin = process.env.CADDY_BIN || path.join(repoRoot, 'caddy');

// An already running relay (with the example backend behind /api/*); tests that must start,
// stop or reconfigure the relay are skipped in that mode.
export const relayURL = process.env.RELAY_URL || '';

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Screenshots go to the repository's ignored output folder, which CI keeps as artifacts.
export const artifactsDir = process.env.ARTIFACTS_DIR || path.join(repoRoot, 'out', 'e2e-browser');

export const redisURL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

// canStartRelays says whether this run may start its own relays, and if not, why.
export function canStartRelays() {
  if (relayURL) {
    return { ok: false, why: 'RELAY_URL is set: this test needs relays it starts itself (unset RELAY_URL, set CADDY_BIN)' };
  }
  if (!existsSync(caddyBin)) {
    return { ok: false, why: `no Caddy with the module at ${caddyBin}: build it with ./xcaddy.sh or set CADDY_BIN` };
  }
  return { ok: true, why: '' };
}
