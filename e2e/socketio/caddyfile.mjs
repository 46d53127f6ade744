// The Caddy configuration with-caddy.mjs runs, shared with the reload test that changes it.

export const secret = "e2e-socketio-secret";

// caddyfile is the configuration; extra lands in both relay blocks (the reload test changes it).
export function caddyfile({ admin, port, noEio3Port, extra = "" }) {
  const relay = (eio3) => `
	progress_relay {
		webhook /hooks/progress {
			secret ${secret}
		}
		socketio /socket.io/ {
			allow_eio3 ${eio3}
		}
		${extra}
	}`;
  return `{
	admin 127.0.0.1:${admin}
	auto_https off
	persist_config off
}
http://127.0.0.1:${port} {${relay("on")}
}
http://127.0.0.1:${noEio3Port} {${relay("off")}
}
`;
}

// clusterCaddyfile is one node of the two-node fleet the cluster test uses: its own Caddy process,
// the Redis broker under a prefix shared with the other node.
export function clusterCaddyfile({ port, redis, prefix }) {
  return `{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:${port} {
	progress_relay {
		broker redis ${redis} {
			prefix ${prefix}
		}
		webhook /hooks/progress {
			secret ${secret}
			id_field eventId
		}
	}
}
`;
}
